//! Downloads: the `.crate` blob and a per-crate, per-day counter (one atomic update).

use crate::domain::{CrateName, CrateVersion, DomainError, DomainResult};
use crate::model::{VersionRecord, keys};
use crate::store::{Blob, BlobLocation, Update};

use super::publish::crate_blob_key;
use super::{Principal, Registry, clock};

/// How a download is answered.
#[derive(Debug)]
pub enum Download {
    /// Stream these bytes with status 200.
    Bytes(Blob),
    /// Redirect the client (presigned URL).
    Redirect(String),
}

impl Registry {
    /// Resolves a download. With `cksum` (from the `dl` template) no version lookup is needed.
    pub async fn download(
        &self,
        principal: Option<&Principal>,
        name: &CrateName,
        version: &CrateVersion,
        cksum: Option<&str>,
    ) -> DomainResult<Download> {
        self.check_read(principal)?;
        let norm = name.normalized();
        let not_found = || DomainError::not_found(format!("crate `{name}` has no version `{version}`"));
        let key = match cksum {
            Some(c) if c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) => {
                crate_blob_key(&norm, version.as_str(), c)
            }
            Some(_) => return Err(not_found()),
            None => {
                let item = self.items.get(&keys::version(&norm, &version.identity())).await?.ok_or_else(not_found)?;
                let record: VersionRecord = item.to_entity()?;
                if record.vers != version.as_str() {
                    return Err(not_found());
                }
                record.blob
            }
        };
        let answer = match self.blobs.location(&key).await? {
            BlobLocation::Local => match self.blobs.get(&key).await? {
                Some(blob) => Download::Bytes(blob),
                None => return Err(not_found()),
            },
            BlobLocation::Redirect(url) => Download::Redirect(url),
        };
        let counter = Update::new()
            .add("total", 1)
            .add(keys::downloads_version_attr(version.as_str()), 1)
            .set_if_absent("type", keys::types::DOWNLOADS);
        if let Err(e) = self.items.update(&keys::downloads(&norm, &clock::date(clock::now())), counter, None).await {
            tracing::warn!(error = %e, krate = %name, "could not count a download");
        }
        Ok(answer)
    }
}

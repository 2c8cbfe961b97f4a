//! Downloads: the `.crate` blob and a per-crate, per-day counter (one atomic update).
//!
//! Blob stores that redirect (S3: a presigned URL) cannot tell whether the object exists, so a
//! checksum from the `dl` URL is then confirmed against the version item (one read) before the
//! redirect; stores that stream the bytes answer a missing blob themselves.

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
    /// Resolves a download. With `cksum` (from the `dl` template) a streaming blob store needs no
    /// version lookup; a redirecting one confirms the checksum on the version item.
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
            None => self.committed_version(&norm, version).await?.ok_or_else(not_found)?.blob,
        };
        let answer = match self.blobs.location(&key).await? {
            BlobLocation::Local => match self.blobs.get(&key).await? {
                Some(blob) => Download::Bytes(blob),
                None => return Err(not_found()),
            },
            BlobLocation::Redirect(url) => {
                // A presigned URL is made without looking at the object: a checksum taken from the
                // request is confirmed against the committed version first, so a wrong one gets
                // this 404 (not the blob store's after the redirect) and counts no download.
                if let Some(c) = cksum
                    && self.committed_version(&norm, version).await?.is_none_or(|record| record.cksum != c)
                {
                    return Err(not_found());
                }
                Download::Redirect(url)
            }
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

    /// The committed version record with exactly this version string (`None` when absent).
    async fn committed_version(
        &self,
        norm: &crate::domain::NormalizedName,
        version: &CrateVersion,
    ) -> DomainResult<Option<VersionRecord>> {
        let Some(item) = self.items.get(&keys::version(norm, &version.identity())).await? else {
            return Ok(None);
        };
        let record: VersionRecord = item.to_entity()?;
        Ok((record.vers == version.as_str()).then_some(record))
    }
}

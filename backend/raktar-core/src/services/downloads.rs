//! Downloads: the `.crate` blob and a per-crate, per-day counter (one atomic update).
//!
//! Only committed versions are downloadable: every download reads the version item (one
//! eventually consistent read; a miss is confirmed by a strong one) and
//! serves the blob it names. A checksum from the `dl` URL must equal the version's. A `.crate`
//! left behind by an interrupted publish (a blob no version refers to) is never served or
//! counted, even by its checksum URL; the orphan sweep removes it later.

use crate::domain::{CrateName, CrateVersion, DomainError, DomainResult};
use crate::model::{VersionRecord, keys};
use crate::store::{Blob, BlobLocation, Update};

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
    /// Resolves a download of a committed version. With `cksum` (from the `dl` template) the
    /// checksum must be the version's.
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
        let record = self.committed_version(&norm, version).await?.ok_or_else(not_found)?;
        if cksum.is_some_and(|c| c != record.cksum) {
            return Err(not_found());
        }
        let key = record.blob;
        let answer = match self.blobs.location(&key).await? {
            BlobLocation::Local => match self.blobs.get(&key).await? {
                Some(blob) => Download::Bytes(blob),
                None => {
                    tracing::warn!(krate = %name, vers = %version, key = %key, "a committed version has no .crate blob");
                    return Err(not_found());
                }
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

    /// The committed version record with exactly this version string (`None` when absent).
    async fn committed_version(
        &self,
        norm: &crate::domain::NormalizedName,
        version: &CrateVersion,
    ) -> DomainResult<Option<VersionRecord>> {
        // A version item never changes once written except for its `yanked` flag (which a download
        // ignores), so an eventually consistent read is enough; only a miss (a version published
        // within the last second, or none) is confirmed with a strongly consistent read.
        let key = keys::version(norm, &version.identity());
        let item = match self.items.get_relaxed(&key).await? {
            Some(item) => item,
            None => match self.items.get(&key).await? {
                Some(item) => item,
                None => return Ok(None),
            },
        };
        let record: VersionRecord = item.to_entity()?;
        Ok((record.vers == version.as_str()).then_some(record))
    }
}

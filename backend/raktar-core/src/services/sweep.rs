//! The orphan sweep: removes blobs no committed version refers to, and leftovers of interrupted
//! writes, once they are older than a grace period.
//!
//! A publish writes its blobs (the `.crate`, a spilled README) before the commit and removes them
//! again when the commit fails; a process killed in between (or a store error during the clean-up)
//! leaves them behind. They are never served (downloads answer only for committed versions), and
//! this sweep reclaims them: every key under `crates/` and `readmes/` older than the grace period
//! that no version item of its crate names (`blob`, `readme_blob`) is deleted. The grace period
//! covers publishes in flight (whose blobs are written moments before their commit). Blob stores
//! that leave temporary files after a crash (the filesystem store) remove those too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::domain::{DomainResult, NormalizedName};

use super::Registry;

/// Default grace period: blobs younger than this are never swept.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// Blob prefixes the sweep looks at.
const SWEPT_PREFIXES: [&str; 2] = ["crates/", "readmes/"];

/// What one sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Blobs listed under the swept prefixes.
    pub examined: u64,
    /// Blobs a committed version refers to.
    pub referenced: u64,
    /// Unreferenced blobs younger than the grace period (a publish may be about to commit them).
    pub recent: u64,
    /// Keys that do not have the layout the registry writes (left alone).
    pub unknown: u64,
    /// Orphans removed (or, in a dry run, that would be removed).
    pub removed: Vec<String>,
    /// Orphans whose deletion failed (logged; retried by the next sweep).
    pub failed: u64,
    /// Stale temporary files removed by the blob store.
    pub temporaries_removed: u64,
}

/// The normalized crate name a swept key belongs to (`crates/{norm}/...`, `readmes/{norm}/...`).
fn crate_of(key: &str) -> Option<&str> {
    let mut segments = key.split('/');
    let top = segments.next()?;
    let norm = segments.next()?;
    segments.next()?;
    (SWEPT_PREFIXES.iter().any(|p| p.trim_end_matches('/') == top) && !norm.is_empty()).then_some(norm)
}

impl Registry {
    /// Every blob key the committed versions of a crate refer to.
    async fn referenced_blobs(&self, norm: &NormalizedName) -> DomainResult<BTreeSet<String>> {
        let mut keys = BTreeSet::new();
        for version in self.load_versions(norm).await? {
            keys.insert(version.blob);
            if let Some(readme) = version.readme_blob {
                keys.insert(readme);
            }
        }
        Ok(keys)
    }

    /// Removes orphan blobs and stale temporary files older than `grace` (see the module docs).
    /// With `dry_run` nothing is deleted and the report lists what would be. `progress` is called
    /// after each crate with (blobs examined so far, blobs listed).
    pub async fn sweep_orphans(
        &self,
        grace: Duration,
        dry_run: bool,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> DomainResult<SweepReport> {
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = SweepReport::default();
        if !dry_run {
            report.temporaries_removed = self.blobs.remove_stale_temporaries(cutoff).await?;
        }
        // Old blobs per crate: only crates with old blobs need their versions read.
        let mut old_by_crate: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for prefix in SWEPT_PREFIXES {
            for (key, modified) in self.blobs.list_modified(prefix).await? {
                report.examined += 1;
                match crate_of(&key) {
                    None => report.unknown += 1,
                    Some(_) if modified >= cutoff => report.recent += 1,
                    Some(norm) => old_by_crate.entry(norm.to_owned()).or_default().push(key),
                }
            }
        }
        let total = report.examined;
        let mut done = report.recent + report.unknown;
        for (norm, old) in old_by_crate {
            let norm = NormalizedName::from_stored(&norm);
            done += old.len() as u64;
            let referenced = self.referenced_blobs(&norm).await?;
            let listed = old.len() as u64;
            let orphans: Vec<String> = old.into_iter().filter(|k| !referenced.contains(k)).collect();
            report.referenced += listed - orphans.len() as u64;
            if orphans.is_empty() {
                progress(done, total);
                continue;
            }
            // Read again right before deleting: a version committed since the first read keeps
            // its blobs.
            let referenced = self.referenced_blobs(&norm).await?;
            for key in orphans {
                if referenced.contains(&key) {
                    report.referenced += 1;
                    continue;
                }
                if dry_run {
                    report.removed.push(key);
                    continue;
                }
                match self.blobs.delete(&key).await {
                    Ok(()) => {
                        tracing::info!(key = %key, "removed an orphan blob");
                        report.removed.push(key);
                    }
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, "could not remove an orphan blob");
                        report.failed += 1;
                    }
                }
            }
            progress(done, total);
        }
        tracing::info!(
            examined = report.examined,
            referenced = report.referenced,
            recent = report.recent,
            removed = report.removed.len(),
            failed = report.failed,
            temporaries = report.temporaries_removed,
            dry_run,
            "orphan sweep finished"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_crate() {
        assert_eq!(crate_of("crates/foo/foo-1.0.0-abc.crate"), Some("foo"));
        assert_eq!(crate_of("readmes/foo/1.0.0-abc.md"), Some("foo"));
        assert_eq!(crate_of("crates/foo"), None);
        assert_eq!(crate_of("other/foo/x"), None);
    }
}

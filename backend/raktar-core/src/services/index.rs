//! The sparse index: one file per crate, built from the crate's partition, cached by ETag.

use std::collections::HashMap;
use std::sync::RwLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::domain::{CrateName, DomainError, DomainResult, NormalizedName};
use crate::model::Entity as _;
use crate::model::{CrateRecord, IndexFileRecord, OwnerRecord, VersionRecord, keys};
use crate::store::{Condition, Item, Query, SortKey, TxOp, query_all};

use super::{Principal, Registry};

/// Everything about one crate that writes need: summary, owners, versions (in publish order).
#[derive(Debug, Clone)]
pub struct CrateState {
    pub summary: CrateRecord,
    pub owners: Vec<String>,
    pub versions: Vec<VersionRecord>,
}

/// The bytes of an index file: every version's line in publish order, each `\n`-terminated.
pub fn build_file(versions: &[VersionRecord]) -> Bytes {
    let mut out = String::with_capacity(versions.iter().map(|v| v.line.len() + 1).sum());
    for v in versions {
        out.push_str(&v.line);
        out.push('\n');
    }
    Bytes::from(out)
}

/// Largest index file kept in its ready item (`CRATE#{norm}` / `INDEX`): well below the store's
/// item size limit even with the JSON escaping of its quotes. Larger files are built from the
/// version items on a miss (and cached in process).
pub const READY_FILE_MAX_BYTES: usize = 200 * 1024;

/// The ready index file item of a crate as of `file` (ETag `etag`), for the transaction that
/// changes the crate's versions. Unconditional: the transaction's condition on the summary's
/// `revision` already orders the writers.
pub(crate) fn ready_file_op(norm: &NormalizedName, canonical: &str, file: &[u8], etag: &str) -> DomainResult<TxOp> {
    Ok(TxOp::Put { item: ready_file_item(norm, canonical, file, etag)?, condition: None })
}

fn ready_file_item(norm: &NormalizedName, canonical: &str, file: &[u8], etag: &str) -> DomainResult<Item> {
    let body = (file.len() <= READY_FILE_MAX_BYTES).then(|| String::from_utf8_lossy(file).into_owned());
    let record = IndexFileRecord { name: canonical.to_owned(), etag: etag.to_owned(), body };
    Ok(record.item(norm)?)
}

/// A strong ETag (quoted) of an index file.
pub fn etag_of(file: &[u8]) -> String {
    let digest = Sha256::digest(file);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Highest non-yanked version, preferring stable releases; the highest version when all are yanked.
pub fn compute_max_version(versions: &[VersionRecord]) -> String {
    let parsed: Vec<(semver::Version, bool, &str)> = versions
        .iter()
        .filter_map(|v| semver::Version::parse(&v.vers).ok().map(|p| (p, v.yanked, v.vers.as_str())))
        .collect();
    let pick = |f: &dyn Fn(&(semver::Version, bool, &str)) -> bool| {
        parsed
            .iter()
            .filter(|x| f(x))
            .max_by(|a, b| a.0.cmp_precedence(&b.0).then_with(|| a.0.cmp(&b.0)))
            .map(|x| x.2.to_owned())
    };
    pick(&|x| !x.1 && x.0.pre.is_empty()).or_else(|| pick(&|x| !x.1)).or_else(|| pick(&|_| true)).unwrap_or_default()
}

/// In-process cache of built index files. An entry is trusted without any store read while the
/// store's change marker is the one read before the entry was built (see
/// [`ItemStore::change_marker`](crate::store::ItemStore::change_marker)); otherwise the summary is
/// read and the entry reused only if its ETag is still the summary's.
#[derive(Default)]
pub struct IndexCache {
    files: RwLock<HashMap<NormalizedName, CachedFile>>,
}

#[derive(Clone)]
struct CachedFile {
    /// The store's change marker read before the summary this entry was built from.
    marker: Option<u64>,
    /// The crate's canonical name (only its lowercase spelling has a file).
    name: String,
    etag: String,
    body: Bytes,
}

/// Entries kept before the cache is cleared (a bound on memory, not a tuning knob).
const CACHE_MAX_ENTRIES: usize = 20_000;

impl IndexCache {
    /// The entry, if it was built while the store was at `marker`.
    fn fresh(&self, name: &NormalizedName, marker: u64) -> Option<CachedFile> {
        let files = self.files.read().ok()?;
        files.get(name).filter(|f| f.marker == Some(marker)).cloned()
    }

    /// The file body, if the cached one has this ETag.
    fn body(&self, name: &NormalizedName, etag: &str) -> Option<Bytes> {
        let files = self.files.read().ok()?;
        files.get(name).filter(|f| f.etag == etag).map(|f| f.body.clone())
    }

    fn put(&self, norm: NormalizedName, file: CachedFile) {
        if let Ok(mut files) = self.files.write() {
            if files.len() >= CACHE_MAX_ENTRIES && !files.contains_key(&norm) {
                files.clear();
            }
            files.insert(norm, file);
        }
    }

    fn forget(&self, name: &NormalizedName) {
        if let Ok(mut files) = self.files.write() {
            files.remove(name);
        }
    }
}

/// The answer to an index-file request.
#[derive(Debug, Clone)]
pub enum IndexFile {
    /// The client's cached copy (its `If-None-Match`) is current.
    NotModified {
        etag: String,
    },
    Full {
        etag: String,
        body: Bytes,
    },
}

/// Whether an `If-None-Match` header value matches an ETag (weak comparison, lists and `*`).
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = bare(etag);
    header.split(',').any(|t| {
        let t = t.trim();
        t == "*" || bare(t) == want
    })
}

impl Registry {
    /// Serves the index file for a lowercased crate name as requested by cargo.
    pub async fn index_file(
        &self,
        principal: Option<&Principal>,
        lowercase_name: &str,
        if_none_match: Option<&str>,
    ) -> DomainResult<IndexFile> {
        self.check_read(principal)?;
        let not_found = || DomainError::not_found(format!("crate `{lowercase_name}` does not exist"));
        let name = CrateName::parse(lowercase_name).map_err(|_| not_found())?;
        let norm = name.normalized();
        // Read before anything else (at authentication, or now): the entry built below is valid
        // for this marker at most.
        let marker = principal.and_then(|p| p.marker).or_else(|| self.items.change_marker());
        let cached = marker.and_then(|m| self.index_cache.fresh(&norm, m));
        let is_fresh = cached.is_some();
        // A crate without a ready file item (absent, or last changed before ready files existed).
        let mut without_ready_item = false;
        let (canonical, etag, body) = match cached {
            Some(f) => (f.name, f.etag, Some(f.body)),
            // The ready file, eventually consistent: at most about a second behind a publish or
            // yank, which cargo already tolerates (it polls after a publish until the new version
            // shows; a yank is advisory). Half the read units of a strong read.
            None => match self.items.get_relaxed(&keys::index_file(&norm)).await? {
                Some(item) => {
                    let ready: IndexFileRecord = item.to_entity()?;
                    let body = ready.body.map(Bytes::from).or_else(|| self.index_cache.body(&norm, &ready.etag));
                    (ready.name, ready.etag, body)
                }
                None => {
                    let Some(item) = self.items.get(&keys::crate_summary(&norm)).await? else {
                        return Err(not_found());
                    };
                    let summary: CrateRecord = item.to_entity()?;
                    without_ready_item = true;
                    let body = self.index_cache.body(&norm, &summary.index_etag);
                    (summary.name, summary.index_etag, body)
                }
            },
        };
        // Only the exact (lowercased) spelling has a file; cargo's `-`/`_` probes get 404.
        if canonical.to_ascii_lowercase() != lowercase_name {
            return Err(not_found());
        }
        if let Some(inm) = if_none_match
            && if_none_match_matches(inm, &etag)
        {
            return Ok(IndexFile::NotModified { etag });
        }
        if let Some(body) = body {
            if marker.is_some() && !is_fresh {
                // Re-tag the entry with the current marker: the next request reads nothing.
                self.index_cache
                    .put(norm, CachedFile { marker, name: canonical, etag: etag.clone(), body: body.clone() });
            }
            return Ok(IndexFile::Full { etag, body });
        }
        let versions = self.load_versions(&norm).await?;
        let body = build_file(&versions);
        // The ETag always describes the bytes we send, even if a write raced with this read.
        let built_etag = etag_of(&body);
        if built_etag == etag {
            if without_ready_item {
                self.backfill_ready_file(&norm, &canonical, &body, &etag);
            }
            self.index_cache.put(norm, CachedFile { marker, name: canonical, etag: etag.clone(), body: body.clone() });
        }
        Ok(IndexFile::Full { etag: built_etag, body })
    }

    /// Writes the ready file item of a crate last changed before ready files existed, so later
    /// fetches read one item. Best effort. Conditioned on the item not existing: a publish or yank
    /// meanwhile writes a newer one, which this must not replace.
    fn backfill_ready_file(&self, norm: &NormalizedName, canonical: &str, file: &[u8], etag: &str) {
        let item = match ready_file_item(norm, canonical, file, etag) {
            Ok(item) => item,
            Err(e) => {
                tracing::warn!(error = %e, krate = %canonical, "could not build a ready index file item");
                return;
            }
        };
        let items = self.items.clone();
        let krate = canonical.to_owned();
        tokio::spawn(async move {
            if let Err(e) = items.put(item, Some(Condition::NotExists)).await
                && !e.is_condition_failure()
            {
                tracing::warn!(error = %e, krate = %krate, "could not write a ready index file item");
            }
        });
    }

    /// Every version of a crate in publish order (one partition query).
    pub async fn load_versions(&self, norm: &NormalizedName) -> DomainResult<Vec<VersionRecord>> {
        let q = Query::partition(keys::crate_pk(norm)).prefix(keys::VERSION_PREFIX);
        let mut versions = query_all(self.items.as_ref(), &q)
            .await?
            .iter()
            .map(|i| i.to_entity::<VersionRecord>())
            .collect::<Result<Vec<_>, _>>()?;
        versions.sort_by_key(|v| v.seq);
        Ok(versions)
    }

    /// Summary, owners and versions of a crate, or `None` when it does not exist.
    pub async fn load_crate_state(&self, norm: &NormalizedName) -> DomainResult<Option<CrateState>> {
        let Some(item) = self.items.get(&keys::crate_summary(norm)).await? else {
            return Ok(None);
        };
        let summary: CrateRecord = item.to_entity()?;
        // Owners and versions sort after `DL#...`: one query from `OWNER#` covers both.
        let q = Query::partition(keys::crate_pk(norm)).sort_key(SortKey::From(keys::OWNER_PREFIX.to_owned()));
        let mut owners = Vec::new();
        let mut versions = Vec::new();
        for item in query_all(self.items.as_ref(), &q).await? {
            let sk = item.get_str(crate::store::item::SK).unwrap_or_default();
            if sk.starts_with(keys::OWNER_PREFIX) {
                owners.push(item.to_entity::<OwnerRecord>()?.login);
            } else if sk.starts_with(keys::VERSION_PREFIX) {
                versions.push(item.to_entity::<VersionRecord>()?);
            }
        }
        versions.sort_by_key(|v| v.seq);
        owners.sort();
        Ok(Some(CrateState { summary, owners, versions }))
    }

    /// Refreshes in-process caches after this process changed a crate.
    pub(crate) fn after_crate_change(&self, norm: &NormalizedName, summary: &CrateRecord) {
        self.index_cache.forget(norm);
        self.catalog.upsert(norm, summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inm() {
        assert!(if_none_match_matches("\"abc\"", "\"abc\""));
        assert!(if_none_match_matches("W/\"abc\"", "\"abc\""));
        assert!(if_none_match_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(if_none_match_matches("*", "\"abc\""));
        assert!(!if_none_match_matches("\"abd\"", "\"abc\""));
    }
}

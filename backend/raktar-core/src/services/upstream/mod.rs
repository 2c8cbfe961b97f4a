//! The pull-through cache of an upstream registry (crates-io, configured by its sparse index URL):
//! a second sparse index that cargo uses in place of crates-io (`[source.crates-io] replace-with`).
//!
//! - Index files are fetched on first request, kept in the item store (the blob store when large)
//!   and revalidated with the upstream's `ETag` / `Last-Modified` once older than the freshness
//!   period ([`UpstreamSettings::freshness`]).
//! - `.crate` files are fetched on first download, **verified against the checksum of the upstream
//!   index line**, stored in the blob store and served from it afterwards (a presigned redirect on
//!   S3). A file whose bytes do not match is refused and never stored.
//! - Concurrent first requests for one file in a process fetch it once ([`flight::SingleFlight`]);
//!   across processes the conditional writes make the second fetch harmless.
//! - When the upstream cannot be reached, cached files are served stale ([`CacheStatus::Stale`]);
//!   uncached ones fail with [`DomainError::Upstream`].
//! - Private names win: a name published or reserved here is never served from the upstream
//!   (see [`super::names`]).
//!
//! The HTTP client itself is a port ([`UpstreamSource`]), implemented by the HTTP edge.

mod flight;
mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::domain::{CrateName, CrateVersion, DomainError, DomainResult};
use crate::model::Entity as _;
use crate::model::{UpstreamCrateRecord, UpstreamIndexRecord, keys};
use crate::store::{Blob, BlobLocation, Condition, Index, Query, TxOp, Update, query_all};

use super::downloads::Download;
use super::index::{IndexFile, etag_of, if_none_match_matches};
use super::names::PrivateClaim;
use super::{Principal, Registry, audit, clock};

pub use stats::{CacheStatus, CachedCrateView, UpstreamCacheView, UpstreamCounters};

/// Largest upstream index file kept inline in its cache item (larger ones go to the blob store).
const INLINE_INDEX_MAX_BYTES: usize = 200 * 1024;

/// What the upstream answered for an index file.
#[derive(Debug, Clone)]
pub enum UpstreamFetch {
    /// The file (status 200) with the upstream's validators.
    Body { body: Bytes, etag: Option<String>, last_modified: Option<String> },
    /// The cached copy is current (status 304, after validators were sent).
    NotModified { etag: Option<String>, last_modified: Option<String> },
    /// No such crate upstream (404, 410 or 451).
    NotFound,
}

/// Why the upstream could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// Connection refused, timeout, TLS failure, 5xx.
    #[error("the upstream registry is unreachable: {0}")]
    Unreachable(String),
    /// An answer Raktar cannot use (unexpected status, a file over the size limit, a bad
    /// `config.json`).
    #[error("the upstream registry answered unexpectedly: {0}")]
    Invalid(String),
}

/// The validators of a cached copy, sent when revalidating.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

/// The upstream registry as the cache needs it (implemented over HTTP by the edge).
#[async_trait]
pub trait UpstreamSource: Send + Sync + 'static {
    /// The index file of a lowercase crate name, conditional when validators are given.
    async fn index_file(&self, lowercase: &str, validators: Validators<'_>) -> Result<UpstreamFetch, UpstreamError>;

    /// The `.crate` of `name` (as in the index line) `vers`, `None` when the upstream has none.
    async fn crate_file(&self, name: &str, vers: &str, cksum: &str) -> Result<Option<Bytes>, UpstreamError>;

    /// The upstream's sparse index URL (for logs and the admin view).
    fn url(&self) -> &str;
}

/// What a new crate name that exists upstream gets when the upstream cannot be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UncheckedNames {
    /// Refuse the publish (the default: a name is only accepted when known not to collide).
    #[default]
    Refuse,
    /// Accept it and write an audit event (`name-check-skipped`).
    Allow,
}

impl UncheckedNames {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "refuse" => Some(Self::Refuse),
            "allow" => Some(Self::Allow),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::Allow => "allow",
        }
    }
}

/// Settings of the pull-through cache and the name guard.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// How long a cached index file is served without asking the upstream again.
    pub freshness: Duration,
    /// What the name guard does when the upstream cannot be checked.
    pub unchecked_names: UncheckedNames,
}

/// Default freshness of cached index files.
pub const DEFAULT_FRESHNESS: Duration = Duration::from_secs(300);

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self { freshness: DEFAULT_FRESHNESS, unchecked_names: UncheckedNames::Refuse }
    }
}

/// The configured upstream: its client, settings and this process's in-flight fetches and counters.
pub struct Upstream {
    pub(crate) source: Arc<dyn UpstreamSource>,
    pub(crate) settings: UpstreamSettings,
    pub(crate) counters: UpstreamCounters,
    flights: flight::SingleFlight,
}

impl Upstream {
    pub fn new(source: Arc<dyn UpstreamSource>, settings: UpstreamSettings) -> Self {
        Self { source, settings, counters: UpstreamCounters::default(), flights: flight::SingleFlight::default() }
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    pub fn url(&self) -> &str {
        self.source.url()
    }
}

/// An index file of the pull-through index and where it came from.
#[derive(Debug, Clone)]
pub struct UpstreamIndexAnswer {
    pub file: IndexFile,
    pub status: CacheStatus,
}

/// A download from the pull-through index and where it came from.
#[derive(Debug)]
pub struct UpstreamDownload {
    pub download: Download,
    pub status: CacheStatus,
}

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub index_files: u64,
    pub crate_files: u64,
    pub bytes: u64,
}

/// A cached index file with its bytes.
struct CachedIndex {
    record: UpstreamIndexRecord,
    body: Bytes,
    status: CacheStatus,
}

/// The line of one version in an upstream index file.
#[derive(serde::Deserialize)]
struct LineRef {
    name: String,
    vers: String,
    cksum: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The blob key of a large cached index file (content-addressed: a replaced file never changes a
/// blob a reader may be streaming).
fn index_blob_key(lowercase: &str, body: &[u8]) -> String {
    format!("upstream/index/{lowercase}/{}", sha256_hex(body))
}

/// The blob key of a cached `.crate` (named by its verified checksum).
pub fn crate_blob_key(lowercase: &str, cksum: &str) -> String {
    format!("upstream/crates/{lowercase}/{cksum}.crate")
}

impl Registry {
    /// Adds the pull-through cache of an upstream registry (and the name guard over it).
    pub fn with_upstream(mut self, upstream: Upstream) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// The configured upstream, if any.
    pub fn upstream(&self) -> Option<&Upstream> {
        self.upstream.as_ref()
    }

    fn require_upstream(&self) -> DomainResult<&Upstream> {
        self.upstream.as_ref().ok_or_else(|| {
            DomainError::not_found("this registry has no upstream registry configured (`--upstream-sparse`)")
        })
    }

    /// The caller may read the pull-through index (`config.json`).
    pub fn upstream_index_config(&self, principal: Option<&Principal>) -> DomainResult<()> {
        self.check_read(principal)?;
        self.require_upstream().map(|_| ())
    }

    /// Serves one file of the pull-through index: the private file for a private name, else the
    /// cached (or freshly fetched) upstream file.
    pub async fn upstream_index_file(
        &self,
        principal: Option<&Principal>,
        lowercase: &str,
        if_none_match: Option<&str>,
    ) -> DomainResult<UpstreamIndexAnswer> {
        self.check_read(principal)?;
        let upstream = self.require_upstream()?;
        let not_found = || DomainError::not_found(format!("crate `{lowercase}` does not exist"));
        let name = CrateName::parse(lowercase).map_err(|_| not_found())?;
        match self.private_claim(&name.normalized()).await? {
            PrivateClaim::Published => {
                tracing::debug!(krate = %lowercase, "pull-through index: the private crate wins over the upstream");
                let file = self.index_file(principal, lowercase, if_none_match).await?;
                return Ok(UpstreamIndexAnswer { file, status: CacheStatus::Private });
            }
            PrivateClaim::Reserved(_) => {
                tracing::info!(krate = %lowercase, "pull-through index: a reserved private name is never served from the upstream");
                return Err(DomainError::not_found(format!(
                    "`{lowercase}` is reserved for private crates of this registry and is not served from the upstream"
                )));
            }
            PrivateClaim::None => {}
        }
        let Some(cached) = self.cached_upstream_index(upstream, lowercase).await? else {
            return Err(not_found());
        };
        upstream.counters.note(cached.status, self.items.clone());
        let etag = cached.record.etag;
        let file = match if_none_match {
            Some(inm) if if_none_match_matches(inm, &etag) => IndexFile::NotModified { etag },
            _ => IndexFile::Full { etag, body: cached.body },
        };
        Ok(UpstreamIndexAnswer { file, status: cached.status })
    }

    /// Serves a `.crate` of the pull-through index: the private crate's for a private name, else
    /// the cached one, else fetched from the upstream, verified and stored first.
    pub async fn upstream_download(
        &self,
        principal: Option<&Principal>,
        name: &CrateName,
        version: &CrateVersion,
    ) -> DomainResult<UpstreamDownload> {
        self.check_read(principal)?;
        let upstream = self.require_upstream()?;
        let not_found = || DomainError::not_found(format!("crate `{name}` has no version `{version}`"));
        match self.private_claim(&name.normalized()).await? {
            PrivateClaim::Published => {
                let download = self.download(principal, name, version, None).await?;
                return Ok(UpstreamDownload { download, status: CacheStatus::Private });
            }
            PrivateClaim::Reserved(_) => return Err(not_found()),
            PrivateClaim::None => {}
        }
        let lowercase = name.as_str().to_ascii_lowercase();
        let key = keys::upstream_crate(&lowercase, version.as_str());
        if let Some(item) = self.items.get_relaxed(&key).await?
            && let Some(download) = self.serve_cached_crate(&key, &item.to_entity()?).await?
        {
            upstream.counters.note(CacheStatus::Hit, self.items.clone());
            return Ok(UpstreamDownload { download, status: CacheStatus::Hit });
        }
        let _turn = upstream.flights.turn(format!("crate:{lowercase}:{version}")).await;
        // Another request of this process may have stored it while this one waited.
        if let Some(item) = self.items.get(&key).await?
            && let Some(download) = self.serve_cached_crate(&key, &item.to_entity()?).await?
        {
            upstream.counters.note(CacheStatus::Hit, self.items.clone());
            return Ok(UpstreamDownload { download, status: CacheStatus::Hit });
        }
        // The checksum comes from the upstream's index line (cached, or fetched now).
        let Some(index) = self.cached_upstream_index(upstream, &lowercase).await? else {
            return Err(not_found());
        };
        let Some(line) = String::from_utf8_lossy(&index.body)
            .lines()
            .filter_map(|l| serde_json::from_str::<LineRef>(l).ok())
            // A line of another crate in this file is the upstream's mistake (or an attack): ignored.
            .find(|l| l.vers == version.as_str() && l.name.eq_ignore_ascii_case(&lowercase))
        else {
            return Err(not_found());
        };
        let bytes = match upstream.source.crate_file(&line.name, &line.vers, &line.cksum).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(not_found()),
            Err(e) => {
                upstream.counters.note_error(self.items.clone());
                return Err(DomainError::upstream(format!(
                    "`{} {}` is not cached and the upstream registry could not serve it: {e}",
                    line.name, line.vers
                )));
            }
        };
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&line.cksum) {
            upstream.counters.note_rejected(self.items.clone());
            tracing::warn!(krate = %line.name, vers = %line.vers, expected = %line.cksum, actual = %actual, "refused an upstream .crate whose checksum does not match its index line");
            return Err(DomainError::upstream(format!(
                "the upstream's `{} {}` does not match the checksum of its index line (expected {}, got {actual}); it was not stored",
                line.name, line.vers, line.cksum
            )));
        }
        let blob_key = crate_blob_key(&lowercase, &line.cksum.to_ascii_lowercase());
        self.blobs.put_if_absent(&blob_key, bytes.clone(), "application/gzip").await?;
        let size = bytes.len() as u64;
        let record = UpstreamCrateRecord {
            name: line.name.clone(),
            vers: line.vers.clone(),
            cksum: line.cksum.to_ascii_lowercase(),
            size,
            blob: blob_key,
            fetched_at: clock::now_string(),
            downloads: 1,
        };
        let item = record.item((&lowercase, version.as_str()))?;
        let mut detail = BTreeMap::new();
        detail.insert("cksum".to_owned(), record.cksum.clone());
        detail.insert("size".to_owned(), size.to_string());
        detail.insert("upstream".to_owned(), upstream.url().to_owned());
        let actor = principal.map_or("anonymous", Principal::login);
        let ops = vec![
            TxOp::Put { item, condition: Some(Condition::NotExists) },
            audit::event(actor, "upstream-fetch", Some(&line.name), Some(&line.vers), detail)?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {
                stats::add(self.items.as_ref(), &[("crate_files", 1), ("crate_bytes", size as i64)]).await;
                tracing::info!(krate = %line.name, vers = %line.vers, size, "pull-through cache: fetched and stored an upstream .crate");
            }
            // Another process stored it first: the same verified bytes.
            Err(e) if e.is_condition_failure() => {}
            Err(e) => return Err(e.into()),
        }
        upstream.counters.note(CacheStatus::Miss, self.items.clone());
        let blob = Blob::from_bytes(bytes);
        Ok(UpstreamDownload { download: Download::Bytes(blob), status: CacheStatus::Miss })
    }

    /// The stored `.crate` of a cache item (counted), `None` when its blob is gone.
    async fn serve_cached_crate(
        &self,
        key: &crate::store::Key,
        record: &UpstreamCrateRecord,
    ) -> DomainResult<Option<Download>> {
        let download = match self.blobs.location(&record.blob).await? {
            BlobLocation::Local => match self.blobs.get(&record.blob).await? {
                Some(blob) => Download::Bytes(blob),
                None => return Ok(None),
            },
            BlobLocation::Redirect(url) => Download::Redirect(url),
        };
        if let Err(e) = self.items.update(key, Update::new().add("downloads", 1), Some(Condition::Exists)).await {
            tracing::debug!(error = %e, "could not count a pull-through download");
        }
        Ok(Some(download))
    }

    /// The cached upstream index file of a name: fresh from the cache, revalidated or fetched, or
    /// stale when the upstream is unreachable. `None`: the upstream has no such crate.
    async fn cached_upstream_index(&self, upstream: &Upstream, lowercase: &str) -> DomainResult<Option<CachedIndex>> {
        let key = keys::upstream_index(lowercase);
        let fresh = |r: &UpstreamIndexRecord| {
            clock::unix_now().saturating_sub(r.checked_unix) < upstream.settings.freshness.as_secs() as i64
        };
        if let Some(item) = self.items.get_relaxed(&key).await? {
            let record: UpstreamIndexRecord = item.to_entity()?;
            if fresh(&record)
                && let Some(body) = self.upstream_index_body(&record).await?
            {
                return Ok(Some(CachedIndex { record, body, status: CacheStatus::Hit }));
            }
        }
        let _turn = upstream.flights.turn(format!("index:{lowercase}")).await;
        // Read again (strongly): a request this one waited for may have refreshed it.
        let cached = match self.items.get(&key).await? {
            Some(item) => {
                let record: UpstreamIndexRecord = item.to_entity()?;
                self.upstream_index_body(&record).await?.map(|body| (record, body))
            }
            None => None,
        };
        if let Some((record, body)) = &cached
            && fresh(record)
        {
            return Ok(Some(CachedIndex { record: record.clone(), body: body.clone(), status: CacheStatus::Hit }));
        }
        let validators = cached.as_ref().map_or(Validators::default(), |(r, _)| Validators {
            etag: r.upstream_etag.as_deref(),
            last_modified: r.upstream_last_modified.as_deref(),
        });
        match upstream.source.index_file(lowercase, validators).await {
            Ok(UpstreamFetch::Body { body, etag, last_modified }) => {
                let previous = cached.as_ref().map(|(r, _)| r);
                let record = self.store_upstream_index(lowercase, &body, etag, last_modified, previous).await?;
                Ok(Some(CachedIndex { record, body, status: CacheStatus::Miss }))
            }
            Ok(UpstreamFetch::NotModified { etag, last_modified }) => {
                let Some((mut record, body)) = cached else {
                    return Err(DomainError::upstream(format!(
                        "the upstream registry answered 304 for `{lowercase}` without being asked conditionally"
                    )));
                };
                record.checked_unix = clock::unix_now();
                let mut update = Update::new().set("checked_unix", record.checked_unix);
                if let Some(etag) = etag {
                    update = update.set("upstream_etag", etag.clone());
                    record.upstream_etag = Some(etag);
                }
                if let Some(lm) = last_modified {
                    update = update.set("upstream_last_modified", lm.clone());
                    record.upstream_last_modified = Some(lm);
                }
                if let Err(e) = self.items.update(&key, update, Some(Condition::Exists)).await {
                    tracing::debug!(error = %e, krate = %lowercase, "could not record a revalidation");
                }
                Ok(Some(CachedIndex { record, body, status: CacheStatus::Revalidated }))
            }
            Ok(UpstreamFetch::NotFound) => {
                if let Some((record, _)) = cached {
                    tracing::info!(krate = %lowercase, "the upstream no longer has a cached crate; dropping its index file");
                    self.drop_upstream_index(&record).await?;
                }
                Ok(None)
            }
            Err(e) => {
                upstream.counters.note_error(self.items.clone());
                match cached {
                    Some((record, body)) => {
                        tracing::warn!(error = %e, krate = %lowercase, "upstream unreachable; serving the cached index file stale");
                        Ok(Some(CachedIndex { record, body, status: CacheStatus::Stale }))
                    }
                    None => Err(DomainError::upstream(format!(
                        "`{lowercase}` is not cached and the upstream registry could not serve it: {e}"
                    ))),
                }
            }
        }
    }

    /// The bytes of a cached index file (`None` when its blob is gone: treated as not cached).
    async fn upstream_index_body(&self, record: &UpstreamIndexRecord) -> DomainResult<Option<Bytes>> {
        if let Some(body) = &record.body {
            return Ok(Some(Bytes::from(body.clone())));
        }
        let Some(key) = &record.blob else { return Ok(None) };
        match self.blobs.get(key).await? {
            Some(blob) => Ok(Some(blob.into_bytes().await?)),
            None => Ok(None),
        }
    }

    /// Stores a fetched index file (inline or as a blob) and updates the cache's size counters.
    async fn store_upstream_index(
        &self,
        lowercase: &str,
        body: &Bytes,
        upstream_etag: Option<String>,
        upstream_last_modified: Option<String>,
        previous: Option<&UpstreamIndexRecord>,
    ) -> DomainResult<UpstreamIndexRecord> {
        let inline = (body.len() <= INLINE_INDEX_MAX_BYTES).then(|| std::str::from_utf8(body).ok()).flatten();
        let blob = match inline {
            Some(_) => None,
            None => {
                let key = index_blob_key(lowercase, body);
                self.blobs.put_if_absent(&key, body.clone(), "text/plain").await?;
                Some(key)
            }
        };
        let record = UpstreamIndexRecord {
            name: lowercase.to_owned(),
            etag: etag_of(body),
            size: body.len() as u64,
            body: inline.map(str::to_owned),
            blob,
            upstream_etag,
            upstream_last_modified,
            fetched_at: clock::now_string(),
            checked_unix: clock::unix_now(),
        };
        let item = record.item(lowercase)?;
        let size = record.size as i64;
        match previous {
            None => match self.items.put(item.clone(), Some(Condition::NotExists)).await {
                Ok(()) => stats::add(self.items.as_ref(), &[("index_files", 1), ("index_bytes", size)]).await,
                // Another process cached it meanwhile: replace it, count nothing.
                Err(e) if e.is_condition_failure() => self.items.put(item, None).await?,
                Err(e) => return Err(e.into()),
            },
            Some(old) => {
                self.items.put(item, None).await?;
                stats::add(self.items.as_ref(), &[("index_bytes", size - old.size as i64)]).await;
                if let Some(old_blob) = &old.blob
                    && record.blob.as_ref() != Some(old_blob)
                    && let Err(e) = self.blobs.delete(old_blob).await
                {
                    tracing::warn!(error = %e, key = %old_blob, "could not delete a replaced upstream index blob");
                }
            }
        }
        Ok(record)
    }

    /// Removes a cached index file (item and blob) and updates the counters.
    async fn drop_upstream_index(&self, record: &UpstreamIndexRecord) -> DomainResult<()> {
        match self.items.delete(&keys::upstream_index(&record.name), Some(Condition::Exists)).await {
            Ok(()) => {
                stats::add(self.items.as_ref(), &[("index_files", -1), ("index_bytes", -(record.size as i64))]).await
            }
            Err(e) if e.is_condition_failure() => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if let Some(blob) = &record.blob {
            self.blobs.delete(blob).await?;
        }
        Ok(())
    }

    /// Whether the upstream has an index file for this lowercase spelling: the cache first, then
    /// the upstream itself (nothing is stored).
    pub(crate) async fn upstream_has(&self, upstream: &Upstream, lowercase: &str) -> Result<bool, UpstreamError> {
        if let Ok(Some(_)) = self.items.get_relaxed(&keys::upstream_index(lowercase)).await {
            return Ok(true);
        }
        match upstream.source.index_file(lowercase, Validators::default()).await? {
            UpstreamFetch::Body { .. } | UpstreamFetch::NotModified { .. } => Ok(true),
            UpstreamFetch::NotFound => Ok(false),
        }
    }

    /// Removes cached upstream files: of one name (its index file and every `.crate`), or of every
    /// name when `name` is `None`. Administrators only.
    pub async fn purge_upstream_cache(
        &self,
        principal: Option<&Principal>,
        name: Option<&str>,
    ) -> DomainResult<PurgeReport> {
        let principal = super::admin::check_admin(principal)?;
        self.purge_upstream(principal.login(), name).await
    }

    /// [`Self::purge_upstream_cache`] for an already authorized actor (the CLI).
    pub async fn purge_upstream(&self, actor: &str, name: Option<&str>) -> DomainResult<PurgeReport> {
        let names: Vec<String> = match name {
            Some(name) => {
                let parsed = CrateName::parse(name)?;
                vec![parsed.as_str().to_ascii_lowercase()]
            }
            None => self.cached_upstream_names().await?,
        };
        let mut report = PurgeReport::default();
        for lowercase in &names {
            let part = self.purge_upstream_name(lowercase).await?;
            report.index_files += part.index_files;
            report.crate_files += part.crate_files;
            report.bytes += part.bytes;
        }
        let mut detail = BTreeMap::new();
        detail.insert("index_files".to_owned(), report.index_files.to_string());
        detail.insert("crate_files".to_owned(), report.crate_files.to_string());
        detail.insert("bytes".to_owned(), report.bytes.to_string());
        if name.is_none() {
            detail.insert("scope".to_owned(), "all".to_owned());
        }
        self.items.transact(vec![audit::event(actor, "upstream-purge", name, None, detail)?]).await?;
        tracing::info!(
            actor,
            name = name.unwrap_or("*"),
            index_files = report.index_files,
            crate_files = report.crate_files,
            bytes = report.bytes,
            "purged the pull-through cache"
        );
        Ok(report)
    }

    /// Every name with something cached (index file or `.crate`), from the GSI2 listings.
    async fn cached_upstream_names(&self) -> DomainResult<Vec<String>> {
        let mut names = std::collections::BTreeSet::new();
        for shard in 0..keys::UPSTREAM_SHARDS {
            for item in
                query_all(self.items.as_ref(), &Query::on_index(Index::Listing, keys::upstream_index_shard_pk(shard)))
                    .await?
            {
                names.insert(item.to_entity::<UpstreamIndexRecord>()?.name);
            }
            for item in
                query_all(self.items.as_ref(), &Query::on_index(Index::Listing, keys::upstream_crate_shard_pk(shard)))
                    .await?
            {
                let record: UpstreamCrateRecord = item.to_entity()?;
                names.insert(record.name.to_ascii_lowercase());
            }
        }
        Ok(names.into_iter().collect())
    }

    async fn purge_upstream_name(&self, lowercase: &str) -> DomainResult<PurgeReport> {
        let mut report = PurgeReport::default();
        for item in query_all(self.items.as_ref(), &Query::partition(keys::upstream_pk(lowercase))).await? {
            match item.item_type() {
                Some(keys::types::UPSTREAM_INDEX) => {
                    let record: UpstreamIndexRecord = item.to_entity()?;
                    self.drop_upstream_index(&record).await?;
                    report.index_files += 1;
                    report.bytes += record.size;
                }
                Some(keys::types::UPSTREAM_CRATE) => {
                    let record: UpstreamCrateRecord = item.to_entity()?;
                    let key = keys::upstream_crate(lowercase, &record.vers);
                    match self.items.delete(&key, Some(Condition::Exists)).await {
                        Ok(()) => {
                            stats::add(
                                self.items.as_ref(),
                                &[("crate_files", -1), ("crate_bytes", -(record.size as i64))],
                            )
                            .await;
                            self.blobs.delete(&record.blob).await?;
                            report.crate_files += 1;
                            report.bytes += record.size;
                        }
                        Err(e) if e.is_condition_failure() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => {}
            }
        }
        Ok(report)
    }

    /// The cache's figures for administrators: sizes, hit ratio and the most downloaded `.crate`s.
    pub async fn upstream_cache_view(
        &self,
        principal: Option<&Principal>,
        most_fetched: usize,
    ) -> DomainResult<Option<UpstreamCacheView>> {
        super::admin::check_admin(principal)?;
        if self.upstream.is_none() {
            return Ok(None);
        }
        self.upstream_cache_figures(most_fetched).await.map(Some)
    }

    /// [`Self::upstream_cache_view`] for an already authorized caller (the CLI, which reads the
    /// stored figures even without an upstream configured).
    pub async fn upstream_cache_figures(&self, most_fetched: usize) -> DomainResult<UpstreamCacheView> {
        let mut crates = Vec::new();
        for shard in 0..keys::UPSTREAM_SHARDS {
            for item in
                query_all(self.items.as_ref(), &Query::on_index(Index::Listing, keys::upstream_crate_shard_pk(shard)))
                    .await?
            {
                crates.push(item.to_entity::<UpstreamCrateRecord>()?);
            }
        }
        crates.sort_by(|a, b| b.downloads.cmp(&a.downloads).then_with(|| a.name.cmp(&b.name)));
        crates.truncate(most_fetched);
        let stored = self.items.get(&keys::upstream_stats()).await?;
        let view = stats::view(
            stored.as_ref(),
            self.upstream.as_ref().map(|u| &u.counters),
            self.upstream.as_ref().map(|u| (u.url().to_owned(), u.settings.freshness.as_secs())),
            crates,
        );
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blob_keys() {
        assert_eq!(super::crate_blob_key("serde", "ab"), "upstream/crates/serde/ab.crate");
        assert!(super::index_blob_key("serde", b"x").starts_with("upstream/index/serde/"));
    }
}

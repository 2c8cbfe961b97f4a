//! Domain services: every rule of the registry lives here, once, as methods of [`Registry`]. Edges
//! (the cargo protocol, GraphQL, the web pages, the CLI) call these; authorization is decided here
//! with the one check builder of [`auth`].

pub mod account;
pub mod admin;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod crates;
pub mod directory;
pub mod downloads;
pub mod import;
pub mod index;
pub mod listings;
pub mod names;
pub mod owners;
pub mod package;
pub mod passwords;
pub mod publish;
pub mod ratelimit;
mod retry;
pub mod search;
pub mod self_service;
pub mod sessions;
pub mod sso;
mod store_errors;
pub mod sweep;
pub mod tokens;
pub mod trustpub;
pub mod upstream;
pub mod users;
pub mod views;
pub mod yank;

use std::sync::Arc;

use crate::store::{BlobStore, ItemStore};

pub use auth::{AuthCheck, Principal};
pub use publish::Limits;
pub use sessions::SessionSettings;

/// Number of lock stripes for per-crate write serialization.
const CRATE_LOCK_STRIPES: usize = 64;

/// Waits before retry `attempt` (1-based) of an optimistic write: jittered, growing, capped.
pub(crate) async fn backoff(attempt: u32) {
    let base = 2u64.saturating_pow(attempt.min(6)).min(50);
    let jitter = rand::random::<u64>() % (base + 1);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

/// Registry-wide settings the services need (no transport details).
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Private mode: every read needs a valid token.
    pub auth_required: bool,
    pub limits: Limits,
    /// Web sessions and local sign-in limits.
    pub sessions: SessionSettings,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self { auth_required: true, limits: Limits::default(), sessions: SessionSettings::default() }
    }
}

/// The registry: domain services over the two storage ports.
pub struct Registry {
    pub(crate) items: Arc<dyn ItemStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) config: RegistryConfig,
    pub(crate) index_cache: index::IndexCache,
    pub(crate) catalog: search::Catalog,
    pub(crate) download_totals: listings::DownloadTotals,
    pub(crate) principals: auth::PrincipalCache,
    /// Token hash -> unix time of the last `last_used` write this process made (write throttle).
    pub(crate) last_used_writes: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Striped per-crate locks: writes to one crate from this process take turns instead of
    /// racing on the optimistic-locking revision.
    pub(crate) crate_locks: Vec<tokio::sync::Mutex<()>>,
    /// The pull-through cache of an upstream registry and the name guard (`None`: not configured).
    pub(crate) upstream: Option<upstream::Upstream>,
}

impl Registry {
    pub fn new(items: Arc<dyn ItemStore>, blobs: Arc<dyn BlobStore>, config: RegistryConfig) -> Self {
        Self {
            items,
            blobs,
            config,
            index_cache: index::IndexCache::default(),
            catalog: search::Catalog::default(),
            download_totals: listings::DownloadTotals::default(),
            principals: auth::PrincipalCache::default(),
            last_used_writes: std::sync::Mutex::default(),
            crate_locks: (0..CRATE_LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            upstream: None,
        }
    }

    /// Takes this process's turn to change one crate.
    pub(crate) async fn lock_crate(&self, norm: &crate::domain::NormalizedName) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        norm.hash(&mut h);
        let stripe = (h.finish() % CRATE_LOCK_STRIPES as u64) as usize;
        self.crate_locks[stripe].lock().await
    }

    /// Deletes expired short-lived items (sessions, sign-in states, rate-limit windows) in batches
    /// and returns how many. A no-op on stores that expire items themselves (DynamoDB).
    pub async fn purge_expired(&self) -> crate::domain::DomainResult<u64> {
        const BATCH: u32 = 500;
        let now = clock::unix_now();
        let mut total = 0;
        loop {
            let n = self.items.purge_expired(now, BATCH).await?;
            total += n;
            if n < u64::from(BATCH) {
                break;
            }
            tokio::task::yield_now().await;
        }
        if total > 0 {
            tracing::info!(purged = total, "purged expired items");
        }
        Ok(total)
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    pub fn items(&self) -> &Arc<dyn ItemStore> {
        &self.items
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }
}

/// Time helpers: every stored time is UTC, RFC 3339 with whole seconds (`YYYY-MM-DDTHH:MM:SSZ`).
pub mod clock {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    pub fn unix_now() -> i64 {
        now().unix_timestamp()
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (no fractional seconds: cargo rejects them in `pubtime`).
    pub fn format(t: OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    pub fn now_string() -> String {
        format(now())
    }

    /// `YYYY-MM-DD`
    pub fn date(t: OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC);
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    }

    pub fn parse(s: &str) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(s, &Rfc3339).ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn whole_seconds() {
            let s = super::now_string();
            assert_eq!(s.len(), 20, "{s}");
            assert!(s.ends_with('Z'));
        }
    }
}

//! The pull-through cache's figures: sizes kept exact with atomic `ADD`s on the stats item when
//! files are stored or removed; hits and misses counted in process and added to the same item
//! [`FLUSH_EVERY`] after the first uncounted answer (no write per cache hit).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::model::{UpstreamCrateRecord, keys};
use crate::store::{Item, ItemStore, Update};

/// Where a pull-through answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// From the cache, within the freshness period.
    Hit,
    /// Fetched from the upstream now (first request, or changed upstream).
    Miss,
    /// From the cache after the upstream confirmed it (`304`).
    Revalidated,
    /// From the cache although it is due for revalidation: the upstream is unreachable.
    Stale,
    /// A private crate of this registry (the upstream is never asked).
    Private,
}

impl CacheStatus {
    /// The value of the `X-Raktar-Upstream` response header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Revalidated => "revalidated",
            Self::Stale => "stale",
            Self::Private => "private",
        }
    }
}

/// How long a process collects answer counts before adding them to the stats item (at most one
/// write per period, and every count is written within one period).
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Counters of this process not yet added to the stats item.
#[derive(Debug, Default)]
pub struct UpstreamCounters {
    inner: Arc<Cells>,
}

#[derive(Debug, Default)]
struct Cells {
    counts: [AtomicU64; 6],
    /// A flush is scheduled (one at a time).
    scheduled: AtomicBool,
}

const ATTRS: [&str; 6] = ["hits", "misses", "revalidated", "stale", "errors", "rejected"];

impl UpstreamCounters {
    /// Counts one answer; schedules a flush.
    pub(crate) fn note(&self, status: CacheStatus, items: Arc<dyn ItemStore>) {
        let cell = match status {
            CacheStatus::Hit => 0,
            CacheStatus::Miss => 1,
            CacheStatus::Revalidated => 2,
            CacheStatus::Stale => 3,
            CacheStatus::Private => return,
        };
        self.count(cell, items);
    }

    /// Counts a failed upstream request.
    pub(crate) fn note_error(&self, items: Arc<dyn ItemStore>) {
        self.count(4, items);
    }

    /// Counts a refused upstream `.crate` (checksum mismatch).
    pub(crate) fn note_rejected(&self, items: Arc<dyn ItemStore>) {
        self.count(5, items);
    }

    fn count(&self, cell: usize, items: Arc<dyn ItemStore>) {
        self.inner.counts[cell].fetch_add(1, Ordering::Relaxed);
        if self.inner.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let cells = self.inner.clone();
        tokio::spawn(async move {
            tokio::time::sleep(FLUSH_EVERY).await;
            cells.scheduled.store(false, Ordering::Release);
            let deltas: Vec<(&'static str, i64)> = ATTRS
                .iter()
                .zip(&cells.counts)
                .map(|(attr, c)| (*attr, c.swap(0, Ordering::Relaxed) as i64))
                .filter(|(_, d)| *d != 0)
                .collect();
            if !deltas.is_empty() {
                add(items.as_ref(), &deltas).await;
            }
        });
    }

    /// Counts not yet flushed (added to the stored ones in views).
    fn pending(&self) -> [u64; 6] {
        std::array::from_fn(|i| self.inner.counts[i].load(Ordering::Relaxed))
    }
}

/// Adds deltas to the stats item (best effort: a lost update skews a figure, never a file).
pub(crate) async fn add(items: &dyn ItemStore, deltas: &[(&str, i64)]) {
    let mut update = Update::new().set_if_absent("type", keys::types::UPSTREAM_STATS);
    for (attr, delta) in deltas {
        update = update.add(*attr, *delta);
    }
    if let Err(e) = items.update(&keys::upstream_stats(), update, None).await {
        tracing::warn!(error = %e, "could not update the pull-through cache's figures");
    }
}

/// A cached `.crate` in the admin view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedCrateView {
    pub name: String,
    pub version: String,
    pub size: u64,
    pub downloads: u64,
    pub fetched_at: String,
}

/// What administrators see of the pull-through cache.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamCacheView {
    /// The upstream's sparse index URL (`None`: no upstream configured in this process).
    pub upstream_url: Option<String>,
    pub freshness_secs: Option<u64>,
    pub index_files: u64,
    pub index_bytes: u64,
    pub crate_files: u64,
    pub crate_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub revalidated: u64,
    pub stale: u64,
    pub errors: u64,
    pub rejected: u64,
    /// Answers served from the cache (hits, revalidated, stale) over all cache answers.
    pub hit_ratio: Option<f64>,
    pub most_fetched: Vec<CachedCrateView>,
}

pub(crate) fn view(
    stored: Option<&Item>,
    pending: Option<&UpstreamCounters>,
    upstream: Option<(String, u64)>,
    crates: Vec<UpstreamCrateRecord>,
) -> UpstreamCacheView {
    let get = |attr: &str| stored.and_then(|i| i.get_i64(attr)).unwrap_or(0).max(0) as u64;
    let pending = pending.map(UpstreamCounters::pending).unwrap_or_default();
    let counter = |i: usize| get(ATTRS[i]) + pending[i];
    let (hits, misses, revalidated, stale) = (counter(0), counter(1), counter(2), counter(3));
    let from_cache = hits + revalidated + stale;
    let total = from_cache + misses;
    UpstreamCacheView {
        upstream_url: upstream.as_ref().map(|u| u.0.clone()),
        freshness_secs: upstream.map(|u| u.1),
        index_files: get("index_files"),
        index_bytes: get("index_bytes"),
        crate_files: get("crate_files"),
        crate_bytes: get("crate_bytes"),
        hits,
        misses,
        revalidated,
        stale,
        errors: counter(4),
        rejected: counter(5),
        hit_ratio: (total > 0).then(|| from_cache as f64 / total as f64),
        most_fetched: crates
            .into_iter()
            .map(|c| CachedCrateView {
                name: c.name,
                version: c.vers,
                size: c.size,
                downloads: c.downloads.max(0) as u64,
                fetched_at: c.fetched_at,
            })
            .collect(),
    }
}

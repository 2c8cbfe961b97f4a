//! Listings for the web UI over the in-memory catalog: crates sorted and filtered (keyword,
//! category), keyword and category counts, registry statistics, and whether the caller may manage
//! a crate.
//!
//! Sorting by downloads needs every crate's download total: those come from a per-process cache
//! ([`DownloadTotals`]) filled from each crate's daily counter partition and trusted for
//! [`DOWNLOAD_TOTALS_TTL`]; a listing sorted by downloads may lag the counters by that much.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::domain::{CrateName, DomainResult, NormalizedName, Scope};
use crate::model::{CrateRecord, keys};

use super::auth::AuthCheck;
use super::search::{MAX_PER_PAGE, SearchHit, SearchResults};
use super::{Principal, Registry, clock};

/// How long download totals computed for sorting are trusted.
pub const DOWNLOAD_TOTALS_TTL: Duration = Duration::from_secs(300);
/// The window of "recent downloads" in days.
pub const RECENT_DAYS: i64 = 90;
/// Crate partitions read at once when download totals are recomputed.
const TOTALS_CONCURRENCY: usize = 8;

/// The order of a crate listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrateSort {
    /// Search rank (like `cargo search`); for the empty query, shorter names first.
    #[default]
    Relevance,
    /// By normalized name.
    Name,
    /// All-time downloads, most first.
    Downloads,
    /// Downloads of the last [`RECENT_DAYS`] days, most first.
    RecentDownloads,
    /// Last change, newest first.
    RecentlyUpdated,
    /// First publish, newest first.
    NewlyAdded,
}

/// Filters of a crate listing (exact, case-insensitive; keywords compare `-` and `_` as equal).
#[derive(Debug, Clone, Default)]
pub struct CrateFilter {
    pub keyword: Option<String>,
    pub category: Option<String>,
}

/// Counts over the whole registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryStats {
    pub crates: u64,
    /// Versions ever published (yanked ones included).
    pub versions: u64,
    pub users: u64,
    pub downloads: u64,
}

/// A keyword or category and the number of crates listing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCount {
    pub name: String,
    pub crates: u64,
}

/// Normalized name -> (all-time, recent) downloads.
type Totals = Arc<HashMap<String, (u64, u64)>>;

/// All-time and recent download totals of every crate, by normalized name.
#[derive(Default)]
pub(crate) struct DownloadTotals {
    state: RwLock<Option<(Instant, Totals)>>,
    reload: tokio::sync::Mutex<()>,
}

impl DownloadTotals {
    fn fresh(&self) -> Option<Totals> {
        let s = self.state.read().ok()?;
        s.as_ref().filter(|(at, _)| at.elapsed() < DOWNLOAD_TOTALS_TTL).map(|(_, m)| m.clone())
    }
}

fn keyword_key(k: &str) -> String {
    k.to_lowercase().replace('-', "_")
}

fn hit(r: &Arc<CrateRecord>) -> SearchHit {
    SearchHit {
        name: r.name.clone(),
        max_version: r.max_version.clone(),
        description: r.description.clone(),
        summary: Some(r.clone()),
    }
}

/// Counts of `names(record)` over `records` (spellings with the same `key` counted together, a
/// crate once), most crates first, then by name.
fn count_names<'r>(
    records: &'r [Arc<CrateRecord>],
    names: impl Fn(&'r CrateRecord) -> &'r [String],
    key: impl Fn(&str) -> String,
) -> Vec<NameCount> {
    // Key -> (first spelling seen, crates).
    let mut counts: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for r in records {
        let mut seen = std::collections::BTreeSet::new();
        for n in names(r) {
            let k = key(n);
            if seen.insert(k.clone()) {
                // Shown in lowercase; of several spellings, the smallest (`web-dev` before `web_dev`).
                let shown = n.to_lowercase();
                let entry = counts.entry(k).or_insert_with(|| (shown.clone(), 0));
                if shown < entry.0 {
                    entry.0 = shown;
                }
                entry.1 += 1;
            }
        }
    }
    let mut out: Vec<(String, NameCount)> =
        counts.into_iter().map(|(k, (name, crates))| (k, NameCount { name, crates })).collect();
    out.sort_by(|(ka, a), (kb, b)| b.crates.cmp(&a.crates).then_with(|| ka.cmp(kb)));
    out.into_iter().map(|(_, c)| c).collect()
}

impl Registry {
    /// Crates matching `query` (ranked like [`Registry::search_window`]), filtered and sorted,
    /// at most `limit` (capped at [`MAX_PER_PAGE`]) from `offset`; `total` counts every match.
    pub async fn list_crates(
        &self,
        principal: Option<&Principal>,
        query: &str,
        sort: CrateSort,
        filter: &CrateFilter,
        offset: usize,
        limit: usize,
    ) -> DomainResult<SearchResults> {
        self.check_read(principal)?;
        let mut records = self.ranked_records(query).await?;
        if let Some(k) = filter.keyword.as_deref() {
            let k = keyword_key(k.trim());
            records.retain(|r| r.keywords.iter().any(|x| keyword_key(x) == k));
        }
        if let Some(c) = filter.category.as_deref() {
            let c = c.trim().to_lowercase();
            records.retain(|r| r.categories.iter().any(|x| x.to_lowercase() == c));
        }
        let norm = |r: &CrateRecord| NormalizedName::from_stored(&r.name).as_str().to_owned();
        match sort {
            CrateSort::Relevance => {}
            CrateSort::Name => records.sort_by_cached_key(|r| norm(r)),
            CrateSort::RecentlyUpdated => {
                records.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| a.name.cmp(&b.name)))
            }
            CrateSort::NewlyAdded => {
                records.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.name.cmp(&b.name)))
            }
            CrateSort::Downloads | CrateSort::RecentDownloads => {
                let totals = self.download_totals().await?;
                let of = |r: &CrateRecord| {
                    let (all, recent) = totals.get(&norm(r)).copied().unwrap_or_default();
                    if sort == CrateSort::Downloads { all } else { recent }
                };
                records.sort_by_cached_key(|r| (std::cmp::Reverse(of(r)), norm(r)));
            }
        }
        let total = records.len();
        let hits = records.iter().skip(offset).take(limit.min(MAX_PER_PAGE)).map(hit).collect();
        Ok(SearchResults { hits, total })
    }

    /// Every keyword used by a crate's highest version, with its number of crates, most first.
    pub async fn keyword_counts(&self, principal: Option<&Principal>) -> DomainResult<Vec<NameCount>> {
        self.check_read(principal)?;
        let records = self.catalog_records().await?;
        Ok(count_names(&records, |r| &r.keywords, keyword_key))
    }

    /// Every category used by a crate's highest version, with its number of crates, most first.
    pub async fn category_counts(&self, principal: Option<&Principal>) -> DomainResult<Vec<NameCount>> {
        self.check_read(principal)?;
        let records = self.catalog_records().await?;
        Ok(count_names(&records, |r| &r.categories, str::to_lowercase))
    }

    /// Crates, versions, users and downloads of the whole registry (downloads as of the totals
    /// cache, see the module documentation).
    pub async fn registry_stats(&self, principal: Option<&Principal>) -> DomainResult<RegistryStats> {
        self.check_read(principal)?;
        let records = self.catalog_records().await?;
        // The user-id counter (one read): every account takes the next id (a creation that lost
        // a race for its login takes one too, so this may count a few more than exist).
        let users = match self.items.get(&keys::counter("users")).await? {
            Some(item) => item.get_i64("value").and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            None => 0,
        };
        let totals = self.download_totals().await?;
        Ok(RegistryStats {
            crates: records.len() as u64,
            versions: records.iter().map(|r| r.version_count).sum(),
            users,
            downloads: totals.values().map(|(all, _)| all).sum(),
        })
    }

    /// Whether the caller may manage a crate (yank, change owners), given its canonical name and
    /// owners as read: an owner or an administrator, through a session or a token with the `yank`
    /// or `change-owners` scope for this crate. The same check as the actions themselves.
    pub fn may_manage(&self, principal: Option<&Principal>, name: &str, owners: &[String]) -> bool {
        let (Some(principal), Ok(name)) = (principal, CrateName::parse(name)) else { return false };
        [Scope::Yank, Scope::ChangeOwners]
            .into_iter()
            .any(|s| AuthCheck::scope(s).for_crate(&name).owners(owners).check(principal).is_ok())
    }

    /// All-time and recent downloads of every crate, from the cache or recomputed.
    async fn download_totals(&self) -> DomainResult<Totals> {
        if let Some(t) = self.download_totals.fresh() {
            return Ok(t);
        }
        let _guard = self.download_totals.reload.lock().await;
        if let Some(t) = self.download_totals.fresh() {
            return Ok(t);
        }
        let records = self.catalog_records().await?;
        let since = clock::date(clock::now() - time::Duration::days(RECENT_DAYS - 1));
        let results: Vec<DomainResult<(String, (u64, u64))>> = futures::stream::iter(records)
            .map(|r| {
                let since = since.clone();
                async move {
                    let norm = NormalizedName::from_stored(&r.name);
                    let stats = self.download_stats_of(&norm).await?;
                    let recent = stats.per_day.range(since..).map(|(_, n)| n).sum();
                    Ok((norm.as_str().to_owned(), (stats.total, recent)))
                }
            })
            .buffer_unordered(TOTALS_CONCURRENCY)
            .collect()
            .await;
        let map: HashMap<String, (u64, u64)> = results.into_iter().collect::<DomainResult<_>>()?;
        let map = Arc::new(map);
        if let Ok(mut s) = self.download_totals.state.write() {
            *s = Some((Instant::now(), map.clone()));
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    fn record(name: &str, keywords: &[&str]) -> Arc<CrateRecord> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "name": name, "keywords": keywords, "max_version": "1.0.0", "version_count": 1,
                "revision": 1, "index_etag": "\"e\"", "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }))
            .expect("test record"),
        )
    }

    #[test]
    fn keyword_counts_merge_spellings_and_count_a_crate_once() {
        let records = [record("a", &["web-dev", "Web_Dev", "http"]), record("b", &["http"]), record("c", &[])];
        let counts = count_names(&records, |r| &r.keywords, keyword_key);
        assert_eq!(
            counts,
            [NameCount { name: "http".into(), crates: 2 }, NameCount { name: "web-dev".into(), crates: 1 }]
        );
    }
}

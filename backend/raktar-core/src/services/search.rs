//! Search over the crate catalog (GSI2, sharded), held in memory and refreshed periodically.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::domain::{DomainResult, NormalizedName};
use crate::model::{CrateRecord, keys};
use crate::store::{Index, Query, query_all};

use super::{Principal, Registry};

/// How long a catalog loaded from the store is trusted before it is reloaded. Writes made by this
/// process are applied at once; writes by other processes show up within this time.
const CATALOG_TTL: Duration = Duration::from_secs(30);
/// Most results per page.
pub const MAX_PER_PAGE: usize = 100;

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    /// Lowercase, `-` as `_`.
    norm: String,
    description: Option<String>,
    description_lower: String,
    keywords: Vec<String>,
    max_version: String,
    updated_at: String,
    /// Normalized names of the local crates the newest version depends on (reverse dependencies).
    dependencies: Vec<String>,
    /// The whole summary as loaded (API views answer from it without another read).
    record: Arc<CrateRecord>,
}

impl Entry {
    fn from_record(r: &CrateRecord) -> Self {
        Self {
            norm: NormalizedName::from_stored(&r.name).as_str().to_owned(),
            name: r.name.clone(),
            description: r.description.clone(),
            description_lower: r.description.clone().unwrap_or_default().to_lowercase(),
            // Lowercase with `-` as `_`, like names and query terms, so ranking allocates nothing.
            keywords: r.keywords.iter().map(|k| k.to_lowercase().replace('-', "_")).collect(),
            max_version: r.max_version.clone(),
            updated_at: r.updated_at.clone(),
            dependencies: r.dependencies.clone(),
            record: Arc::new(r.clone()),
        }
    }

    fn hit(&self) -> SearchHit {
        SearchHit {
            name: self.name.clone(),
            max_version: self.max_version.clone(),
            description: self.description.clone(),
            summary: Some(self.record.clone()),
        }
    }
}

#[derive(Default)]
struct CatalogState {
    entries: HashMap<String, Entry>,
    loaded_at: Option<Instant>,
}

/// The in-memory catalog.
#[derive(Default)]
pub struct Catalog {
    state: RwLock<CatalogState>,
    reload: tokio::sync::Mutex<()>,
}

impl Catalog {
    pub(crate) fn upsert(&self, norm: &NormalizedName, r: &CrateRecord) {
        if let Ok(mut s) = self.state.write() {
            s.entries.insert(norm.as_str().to_owned(), Entry::from_record(r));
        }
    }

    fn is_fresh(&self) -> bool {
        self.state.read().ok().and_then(|s| s.loaded_at).is_some_and(|t| t.elapsed() < CATALOG_TTL)
    }
}

/// One search hit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchHit {
    pub name: String,
    pub max_version: String,
    pub description: Option<String>,
    /// The crate's summary as the catalog holds it (refreshed like the catalog).
    #[serde(skip)]
    pub summary: Option<Arc<CrateRecord>>,
}

/// A page of search results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub total: usize,
}

fn normalize_query(q: &str) -> String {
    q.trim().chars().map(|c| if c == '-' || c.is_whitespace() { '_' } else { c.to_ascii_lowercase() }).collect()
}

/// Rank of an entry for a query (lower is better), or `None` when it does not match.
/// Exact name, then name prefix, then name substring, then keyword, then description.
fn rank(e: &Entry, qnorm: &str, terms: &[Term]) -> Option<u8> {
    if qnorm.is_empty() {
        return Some(5);
    }
    if e.norm == qnorm {
        return Some(0);
    }
    if e.norm.starts_with(qnorm) {
        return Some(1);
    }
    if e.norm.contains(qnorm) {
        return Some(2);
    }
    let in_name_or_keywords = |t: &Term| e.norm.contains(t.norm.as_str()) || e.keywords.contains(&t.norm);
    if terms.iter().all(in_name_or_keywords) {
        return Some(3);
    }
    if terms.iter().all(|t| in_name_or_keywords(t) || e.description_lower.contains(t.lower.as_str())) {
        return Some(4);
    }
    None
}

/// One query term, prepared once per search.
struct Term {
    /// Lowercase.
    lower: String,
    /// Lowercase, `-` as `_` (compared with names and keywords).
    norm: String,
}

impl Registry {
    /// Searches crates: ranked, paged (`page` from 1), `per_page` capped at [`MAX_PER_PAGE`].
    pub async fn search(
        &self,
        principal: Option<&Principal>,
        query: &str,
        page: usize,
        per_page: usize,
    ) -> DomainResult<SearchResults> {
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let offset = (page.max(1) - 1).saturating_mul(per_page);
        self.search_window(principal, query, offset, per_page).await
    }

    /// Searches crates with the same ranking as [`Self::search`], returning at most `limit` hits
    /// (capped at [`MAX_PER_PAGE`]; 0 answers only the total) starting at `offset`.
    pub async fn search_window(
        &self,
        principal: Option<&Principal>,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> DomainResult<SearchResults> {
        self.check_read(principal)?;
        self.ensure_catalog().await?;
        let limit = limit.min(MAX_PER_PAGE);
        let query: String = query.chars().take(200).collect();
        let qnorm = normalize_query(&query);
        let terms: Vec<Term> = query
            .split_whitespace()
            .map(|t| {
                let lower = t.to_lowercase();
                Term { norm: lower.replace('-', "_"), lower }
            })
            .collect();
        let state =
            self.catalog.state.read().map_err(|_| crate::domain::DomainError::internal("catalog lock poisoned"))?;
        let mut hits: Vec<(u8, &Entry)> =
            state.entries.values().filter_map(|e| rank(e, &qnorm, &terms).map(|r| (r, e))).collect();
        let total = hits.len();
        hits.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| a.1.norm.len().cmp(&b.1.norm.len())).then_with(|| a.1.norm.cmp(&b.1.norm))
        });
        let hits = hits.into_iter().skip(offset).take(limit).map(|(_, e)| e.hit()).collect();
        Ok(SearchResults { hits, total })
    }

    /// Crates of this registry whose newest version depends on `name` (any kind), by name;
    /// `limit` (capped at [`MAX_PER_PAGE`]) hits from `offset`.
    pub async fn dependents(
        &self,
        principal: Option<&Principal>,
        name: &NormalizedName,
        offset: usize,
        limit: usize,
    ) -> DomainResult<SearchResults> {
        self.check_read(principal)?;
        self.ensure_catalog().await?;
        let state =
            self.catalog.state.read().map_err(|_| crate::domain::DomainError::internal("catalog lock poisoned"))?;
        let mut found: Vec<&Entry> =
            state.entries.values().filter(|e| e.dependencies.iter().any(|d| d == name.as_str())).collect();
        found.sort_unstable_by(|a, b| a.norm.cmp(&b.norm));
        let total = found.len();
        let hits = found.into_iter().skip(offset).take(limit.min(MAX_PER_PAGE)).map(Entry::hit).collect();
        Ok(SearchResults { hits, total })
    }

    /// Crates most recently updated (for listings).
    pub async fn recent_crates(&self, limit: usize) -> DomainResult<Vec<SearchHit>> {
        self.ensure_catalog().await?;
        let state =
            self.catalog.state.read().map_err(|_| crate::domain::DomainError::internal("catalog lock poisoned"))?;
        let mut all: Vec<&Entry> = state.entries.values().collect();
        all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        Ok(all.into_iter().take(limit).map(|e| e.hit()).collect())
    }

    /// Loads the catalog from the store when it is missing or stale (one reload at a time).
    async fn ensure_catalog(&self) -> DomainResult<()> {
        if self.catalog.is_fresh() {
            return Ok(());
        }
        let _guard = self.catalog.reload.lock().await;
        if self.catalog.is_fresh() {
            return Ok(());
        }
        let mut entries = HashMap::new();
        for shard in 0..keys::CATALOG_SHARDS {
            let q = Query::on_index(Index::Gsi2, keys::catalog_shard_pk(shard));
            for item in query_all(self.items.as_ref(), &q).await? {
                let r: CrateRecord = item.to_entity()?;
                let e = Entry::from_record(&r);
                entries.insert(e.norm.clone(), e);
            }
        }
        tracing::debug!(crates = entries.len(), "catalog loaded");
        if let Ok(mut s) = self.catalog.state.write() {
            // Keep entries this process updated while the reload was reading (they are newer).
            for (k, e) in s.entries.drain() {
                match entries.get(&k) {
                    Some(loaded) if loaded.updated_at >= e.updated_at => {}
                    _ => {
                        entries.insert(k, e);
                    }
                }
            }
            s.entries = entries;
            s.loaded_at = Some(Instant::now());
        }
        Ok(())
    }
}

//! Search over the crate catalog (GSI2, sharded), held in memory and refreshed periodically.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use memchr::memmem;
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

/// A crate in the catalog: its summary plus the normalized forms ranking compares.
#[derive(Debug, Clone)]
struct Entry {
    /// Lowercase, `-` as `_`.
    norm: String,
    description_lower: String,
    /// Lowercase with `-` as `_`, like names and query terms.
    keywords: Vec<String>,
    /// The whole summary as loaded (API views answer from it without another read).
    record: Arc<CrateRecord>,
}

impl Entry {
    fn from_record(r: &CrateRecord) -> Self {
        Self {
            norm: NormalizedName::from_stored(&r.name).as_str().to_owned(),
            description_lower: r.description.as_deref().unwrap_or_default().to_lowercase(),
            keywords: r.keywords.iter().map(|k| k.to_lowercase().replace('-', "_")).collect(),
            record: Arc::new(r.clone()),
        }
    }

    fn hit(&self) -> SearchHit {
        SearchHit {
            name: self.record.name.clone(),
            max_version: self.record.max_version.clone(),
            description: self.record.description.clone(),
            summary: Some(self.record.clone()),
        }
    }
}

#[derive(Default)]
struct CatalogState {
    entries: HashMap<String, Arc<Entry>>,
    loaded_at: Option<Instant>,
    /// Bumped on every change of `entries`.
    generation: u64,
    /// The search index of `entries` at a generation (rebuilt by the first search after a change).
    index: Option<(u64, Arc<SearchIndex>)>,
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
            s.entries.insert(norm.as_str().to_owned(), Arc::new(Entry::from_record(r)));
            s.generation += 1;
        }
    }

    /// The search index of the current entries, built when missing or out of date.
    fn index(&self) -> DomainResult<Arc<SearchIndex>> {
        let poisoned = || crate::domain::DomainError::internal("catalog lock poisoned");
        let (generation, built) = {
            let s = self.state.read().map_err(|_| poisoned())?;
            if let Some((g, index)) = &s.index
                && *g == s.generation
            {
                return Ok(index.clone());
            }
            (s.generation, Arc::new(SearchIndex::build(&s.entries)))
        };
        let mut s = self.state.write().map_err(|_| poisoned())?;
        if s.generation == generation {
            s.index = Some((generation, built.clone()));
        }
        Ok(built)
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

/// Rank of a hit (lower is better): exact name, name prefix, name substring, every term in the name
/// or keywords, every term in the name, keywords or description; 5 for the empty query (all).
const RANK_EXACT: u8 = 0;
const RANK_PREFIX: u8 = 1;
const RANK_NAME: u8 = 2;
const RANK_KEYWORDS: u8 = 3;
const RANK_DESCRIPTION: u8 = 4;
const RANK_ALL: u8 = 5;

/// A query split once: the whole query normalized (compared with names) and its terms.
struct PreparedQuery {
    /// The whole query, lowercase, `-` and whitespace as `_`.
    norm: String,
    terms: Vec<Term>,
}

/// One whitespace-separated query term.
struct Term {
    /// Lowercase (searched in descriptions).
    lower: String,
    /// Lowercase, `-` as `_` (searched in names, compared with keywords).
    norm: String,
}

impl PreparedQuery {
    fn new(query: &str) -> Self {
        let query: String = query.chars().take(200).collect();
        let terms = query
            .split_whitespace()
            .map(|t| {
                let lower = t.to_lowercase();
                Term { norm: lower.replace('-', "_"), lower }
            })
            .collect();
        Self { norm: normalize_query(&query), terms }
    }
}

/// A fixed-size set of entry positions.
#[derive(Clone)]
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(len: usize) -> Self {
        Self(vec![0; len.div_ceil(64)])
    }

    fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn intersect_with(&mut self, other: &Self) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a &= b);
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + bit)
            })
        })
    }
}

/// Strings of every entry laid end to end (`\n` between them), searched with one `memmem` pass.
/// Scanning one contiguous buffer is what makes search fast: chasing a heap pointer per entry and
/// field cost ~0.7 µs per crate in cache misses, a pass over the buffer costs a few ns per crate.
#[derive(Default)]
struct Column {
    bytes: Vec<u8>,
    /// Start offset of each entry's string; each string is followed by one separator byte.
    starts: Vec<usize>,
}

impl Column {
    fn push(&mut self, s: &str) {
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(b'\n');
    }

    fn end_of(&self, i: usize) -> usize {
        // Every string is followed by its separator, the last one too.
        self.starts.get(i + 1).copied().unwrap_or(self.bytes.len()).saturating_sub(1)
    }

    fn len_of(&self, i: usize) -> usize {
        self.end_of(i).saturating_sub(self.starts.get(i).copied().unwrap_or_default())
    }

    /// Calls `found(entry, at_start, whole)` once per entry containing `needle` (non-empty).
    fn find(&self, needle: &str, mut found: impl FnMut(usize, bool, bool)) {
        let needle = needle.as_bytes();
        if needle.is_empty() {
            return;
        }
        let mut last = None;
        for pos in memmem::find_iter(&self.bytes, needle) {
            let i = self.starts.partition_point(|&s| s <= pos).saturating_sub(1);
            let end = self.end_of(i);
            // Needles never contain the separator, but a match must still lie inside one entry.
            if pos + needle.len() > end || last == Some(i) {
                continue;
            }
            last = Some(i);
            let start = self.starts.get(i).copied().unwrap_or_default();
            found(i, pos == start, pos == start && pos + needle.len() == end);
        }
    }
}

/// The catalog prepared for searching: entries sorted by normalized name, their names and
/// descriptions as [`Column`]s and a keyword -> entries map. Immutable; rebuilt after changes.
struct SearchIndex {
    entries: Vec<Arc<Entry>>,
    names: Column,
    descriptions: Column,
    keywords: HashMap<String, Vec<usize>>,
}

impl SearchIndex {
    fn build(entries: &HashMap<String, Arc<Entry>>) -> Self {
        let mut sorted: Vec<Arc<Entry>> = entries.values().cloned().collect();
        sorted.sort_unstable_by(|a, b| a.norm.cmp(&b.norm));
        let mut names = Column::default();
        let mut descriptions = Column::default();
        let mut keywords: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in sorted.iter().enumerate() {
            names.push(&e.norm);
            descriptions.push(&e.description_lower);
            for k in &e.keywords {
                let ids = keywords.entry(k.clone()).or_default();
                if ids.last() != Some(&i) {
                    ids.push(i);
                }
            }
        }
        Self { entries: sorted, names, descriptions, keywords }
    }

    /// Every matching entry with its rank, best first (rank, then shorter name, then name).
    fn ranked(&self, q: &PreparedQuery) -> Vec<(u8, usize)> {
        let n = self.entries.len();
        let mut ranks: Vec<(u8, usize)> = Vec::new();
        if q.norm.is_empty() {
            ranks.extend((0..n).map(|i| (RANK_ALL, i)));
            ranks.sort_unstable_by_key(|&(rank, i)| (rank, self.names.len_of(i), i));
            return ranks;
        }
        let mut in_name = BitSet::new(n);
        self.names.find(&q.norm, |i, at_start, whole| {
            in_name.insert(i);
            let rank = if whole {
                RANK_EXACT
            } else if at_start {
                RANK_PREFIX
            } else {
                RANK_NAME
            };
            ranks.push((rank, i));
        });
        // Every term in the name or keywords (`strict`), or also in the description (`loose`).
        let mut strict: Option<BitSet> = None;
        let mut loose: Option<BitSet> = None;
        for t in &q.terms {
            let mut name_or_keyword = BitSet::new(n);
            self.names.find(&t.norm, |i, _, _| name_or_keyword.insert(i));
            for &i in self.keywords.get(&t.norm).into_iter().flatten() {
                name_or_keyword.insert(i);
            }
            let mut any = name_or_keyword.clone();
            self.descriptions.find(&t.lower, |i, _, _| any.insert(i));
            match &mut strict {
                Some(s) => s.intersect_with(&name_or_keyword),
                None => strict = Some(name_or_keyword),
            }
            match &mut loose {
                Some(s) => s.intersect_with(&any),
                None => loose = Some(any),
            }
        }
        if let (Some(strict), Some(loose)) = (strict, loose) {
            for i in loose.iter().filter(|&i| !in_name.contains(i)) {
                ranks.push((if strict.contains(i) { RANK_KEYWORDS } else { RANK_DESCRIPTION }, i));
            }
        }
        // Entries are sorted by name, so the position breaks ties like the name does.
        ranks.sort_unstable_by_key(|&(rank, i)| (rank, self.names.len_of(i), i));
        ranks
    }
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
        let index = self.catalog.index()?;
        let ranked = index.ranked(&PreparedQuery::new(query));
        let total = ranked.len();
        let hits = ranked
            .into_iter()
            .skip(offset)
            .take(limit)
            .filter_map(|(_, i)| index.entries.get(i).map(|e| e.hit()))
            .collect();
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
        let mut found: Vec<&Arc<Entry>> =
            state.entries.values().filter(|e| e.record.dependencies.iter().any(|d| d == name.as_str())).collect();
        found.sort_unstable_by(|a, b| a.norm.cmp(&b.norm));
        let total = found.len();
        let hits = found.into_iter().skip(offset).take(limit.min(MAX_PER_PAGE)).map(|e| e.hit()).collect();
        Ok(SearchResults { hits, total })
    }

    /// Every catalog summary matching `query`, in search rank order (the empty query: all, by
    /// rank then name). For listings that filter and sort further (`listings.rs`).
    pub(crate) async fn ranked_records(&self, query: &str) -> DomainResult<Vec<Arc<CrateRecord>>> {
        self.ensure_catalog().await?;
        let index = self.catalog.index()?;
        Ok(index
            .ranked(&PreparedQuery::new(query))
            .into_iter()
            .filter_map(|(_, i)| index.entries.get(i).map(|e| e.record.clone()))
            .collect())
    }

    /// Every catalog summary, in no particular order.
    pub(crate) async fn catalog_records(&self) -> DomainResult<Vec<Arc<CrateRecord>>> {
        self.ensure_catalog().await?;
        let state =
            self.catalog.state.read().map_err(|_| crate::domain::DomainError::internal("catalog lock poisoned"))?;
        Ok(state.entries.values().map(|e| e.record.clone()).collect())
    }

    /// Crates most recently updated (for listings).
    pub async fn recent_crates(&self, limit: usize) -> DomainResult<Vec<SearchHit>> {
        self.ensure_catalog().await?;
        let state =
            self.catalog.state.read().map_err(|_| crate::domain::DomainError::internal("catalog lock poisoned"))?;
        let mut all: Vec<&Arc<Entry>> = state.entries.values().collect();
        all.sort_by(|a, b| b.record.updated_at.cmp(&a.record.updated_at));
        Ok(all.into_iter().take(limit).map(|e| e.hit()).collect())
    }

    /// Loads the catalog and builds its search index ahead of the first search (a server calls
    /// this once at start; on 10,000 crates loading takes a few hundred milliseconds).
    pub async fn warm_search(&self) -> DomainResult<usize> {
        self.ensure_catalog().await?;
        Ok(self.catalog.index()?.entries.len())
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
            let q = Query::on_index(Index::Listing, keys::catalog_shard_pk(shard));
            for item in query_all(self.items.as_ref(), &q).await? {
                let r: CrateRecord = item.to_entity()?;
                let e = Entry::from_record(&r);
                entries.insert(e.norm.clone(), Arc::new(e));
            }
        }
        tracing::debug!(crates = entries.len(), "catalog loaded");
        if let Ok(mut s) = self.catalog.state.write() {
            // Keep entries this process updated while the reload was reading (they are newer).
            for (k, e) in s.entries.drain() {
                match entries.get(&k) {
                    Some(loaded) if loaded.record.updated_at >= e.record.updated_at => {}
                    _ => {
                        entries.insert(k, e);
                    }
                }
            }
            s.entries = entries;
            s.generation += 1;
            s.loaded_at = Some(Instant::now());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    /// The ranking rules written plainly, one entry at a time: the index must agree with it.
    fn reference_rank(e: &Entry, q: &PreparedQuery) -> Option<u8> {
        if q.norm.is_empty() {
            return Some(RANK_ALL);
        }
        if e.norm == q.norm {
            return Some(RANK_EXACT);
        }
        if e.norm.starts_with(&q.norm) {
            return Some(RANK_PREFIX);
        }
        if e.norm.contains(&q.norm) {
            return Some(RANK_NAME);
        }
        let name_or_keyword = |t: &Term| e.norm.contains(&t.norm) || e.keywords.contains(&t.norm);
        if q.terms.iter().all(name_or_keyword) {
            return Some(RANK_KEYWORDS);
        }
        if q.terms.iter().all(|t| name_or_keyword(t) || e.description_lower.contains(&t.lower)) {
            return Some(RANK_DESCRIPTION);
        }
        None
    }

    fn record(name: &str, description: Option<&str>, keywords: &[&str]) -> CrateRecord {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "description": description,
            "keywords": keywords,
            "max_version": "1.0.0",
            "version_count": 1,
            "revision": 1,
            "index_etag": "\"e\"",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }))
        .expect("test record")
    }

    fn catalog() -> HashMap<String, Arc<Entry>> {
        let rows: &[(&str, Option<&str>, &[&str])] = &[
            ("serde", Some("A generic serialization framework"), &["serde", "serialization"]),
            ("serde_json", Some("A JSON serialization file format"), &["json", "serde"]),
            ("serde-yaml", Some("YAML support for Serde"), &["yaml"]),
            ("json", Some("JSON implementation in Rust"), &["json"]),
            ("simd-json", Some("High performance JSON parser"), &["json", "simd", "parser"]),
            ("tokio", Some("An event-driven, non-blocking I/O platform"), &["io", "async"]),
            ("async-trait", Some("Type erasure for async trait methods"), &["async"]),
            ("http", Some("A set of types for representing HTTP requests\nand responses"), &["http"]),
            ("hyper", Some("A protective and efficient HTTP library"), &["http", "hyper"]),
            ("aaa", Some("aaaa aaa"), &["a-a"]),
            ("aa", None, &[]),
            ("a_a_a", Some("\u{e9}t\u{e9} caf\u{c9}"), &["a_a"]),
            ("lock-free", Some("Lock-free queues"), &["lock-free", "concurrency"]),
            ("zz", Some(""), &[]),
        ];
        rows.iter()
            .map(|(n, d, k)| {
                let e = Entry::from_record(&record(n, *d, k));
                (e.norm.clone(), Arc::new(e))
            })
            .collect()
    }

    #[test]
    fn index_ranks_like_the_reference_rules() {
        let entries = catalog();
        let index = SearchIndex::build(&entries);
        let queries = [
            "",
            "  ",
            "serde",
            "SERDE",
            "serde_json",
            "serde-json",
            "ser",
            "json",
            "json parser",
            "parser json",
            "http",
            "HTTP requests",
            "requests\nand",
            "a",
            "aa",
            "aaa",
            "a-a",
            "a_a",
            "a a",
            "\u{e9}t\u{e9}",
            "caf\u{e9}",
            "lock-free",
            "lock free",
            "free",
            "async",
            "zz",
            "z",
            "nothing-like-this",
            "-",
            "_",
            "io",
            "i/o",
            "json json",
        ];
        for raw in queries {
            let q = PreparedQuery::new(raw);
            let mut expected: Vec<(u8, usize, String)> = entries
                .values()
                .filter_map(|e| reference_rank(e, &q).map(|r| (r, e.norm.len(), e.norm.clone())))
                .collect();
            expected.sort();
            let got: Vec<(u8, usize, String)> = index
                .ranked(&q)
                .into_iter()
                .map(|(r, i)| {
                    let e = &index.entries[i];
                    (r, e.norm.len(), e.norm.clone())
                })
                .collect();
            assert_eq!(got, expected, "query {raw:?}");
        }
    }

    #[test]
    fn exact_then_prefix_then_substring() {
        let index = SearchIndex::build(&catalog());
        let names = |q: &str| -> Vec<String> {
            index
                .ranked(&PreparedQuery::new(q))
                .into_iter()
                .map(|(_, i)| index.entries[i].record.name.clone())
                .collect()
        };
        assert_eq!(names("serde"), ["serde", "serde_json", "serde-yaml"]);
        assert_eq!(names("json")[..2], ["json", "simd-json"]);
        assert!(names("nothing-like-this").is_empty());
        assert_eq!(names("").len(), 14);
    }

    #[test]
    fn bitset_iterates_what_was_inserted() {
        let mut b = BitSet::new(200);
        for i in [0, 63, 64, 130, 199] {
            b.insert(i);
        }
        b.insert(500);
        assert_eq!(b.iter().collect::<Vec<_>>(), [0, 63, 64, 130, 199]);
        let mut other = BitSet::new(200);
        other.insert(64);
        other.insert(1);
        b.intersect_with(&other);
        assert_eq!(b.iter().collect::<Vec<_>>(), [64]);
        assert!(b.contains(64) && !b.contains(63) && !b.contains(10_000));
    }
}

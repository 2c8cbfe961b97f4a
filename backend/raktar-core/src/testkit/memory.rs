//! In-memory store drivers for fast service-level tests.
//!
//! [`MemoryItemStore`] and [`MemoryBlobStore`] keep everything in maps; they pass the shared
//! conformance suites (`raktar_core::testkit::{item, blob, scan}`, run by the unit tests below), so
//! a test over them sees the same semantics as over the SQLite/filesystem or DynamoDB/S3 drivers,
//! without touching a disk.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::store::blob::{Blob, BlobError, BlobLocation, BlobStore, PutOutcome, validate_key, validate_prefix};

/// Size of the chunks a blob is streamed in (so readers see a multi-chunk body, as from a driver).
const CHUNK: usize = 64 * 1024;

/// A blob store held in memory: key → (content, time written).
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<BTreeMap<String, (Bytes, SystemTime)>>,
}

impl MemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn blobs(&self) -> MutexGuard<'_, BTreeMap<String, (Bytes, SystemTime)>> {
        // A test that panicked while holding the lock left the map consistent (every change is one
        // map operation), so a poisoned lock is still usable.
        self.blobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every blob, by key (for "a refusal changes nothing" snapshots).
    pub fn snapshot(&self) -> BTreeMap<String, Bytes> {
        self.blobs().iter().map(|(key, (data, _))| (key.clone(), data.clone())).collect()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put_if_absent(&self, key: &str, data: Bytes, _content_type: &str) -> Result<PutOutcome, BlobError> {
        validate_key(key)?;
        let mut blobs = self.blobs();
        if blobs.contains_key(key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        blobs.insert(key.to_owned(), (data, SystemTime::now()));
        Ok(PutOutcome::Created)
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        validate_key(key)?;
        let Some((data, _)) = self.blobs().get(key).cloned() else {
            return Ok(None);
        };
        let len = data.len() as u64;
        let chunks: Vec<Result<Bytes, BlobError>> = if data.is_empty() {
            Vec::new()
        } else {
            (0..data.len()).step_by(CHUNK).map(|start| Ok(data.slice(start..data.len().min(start + CHUNK)))).collect()
        };
        Ok(Some(Blob { len, body: Box::pin(futures::stream::iter(chunks)) }))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        self.blobs().remove(key);
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        validate_key(key)?;
        Ok(self.blobs().contains_key(key))
    }

    async fn location(&self, key: &str) -> Result<BlobLocation, BlobError> {
        validate_key(key)?;
        Ok(BlobLocation::Local)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        Ok(self.list_modified(prefix).await?.into_iter().map(|(key, _)| key).collect())
    }

    async fn list_modified(&self, prefix: &str) -> Result<Vec<(String, SystemTime)>, BlobError> {
        validate_prefix(prefix)?;
        Ok(self
            .blobs()
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, (_, modified))| (key.clone(), *modified))
            .collect())
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MemoryBlobStore;
    use crate::store::blob::BlobStore;

    crate::blob_store_conformance!(memory_blobs, {
        let store: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
        store
    });

    /// The whole blob suite at once, every test concurrently, against one shared store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn blob_suite_on_one_shared_store() {
        let store: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
        crate::testkit::blob::run_all_concurrently_then_in_order(store).await;
    }
}

// ------------------------------------------------------------------------------------------------
// Item store

use crate::store::eval::{self, holds};
use crate::store::item::{
    Condition, Index, Item, ItemStore, Key, MAX_ITEM_BYTES, Page, Query, SortKey, StoreError, TTL, TxOp, Update,
    check_item, check_key, check_scan_args, check_transaction, check_update, item_size,
};
use serde_json::Value;

/// An item store held in memory, with the embedded driver's semantics (DynamoDB's): conditional
/// writes, transactions with per-item conditions, counters, partition and index queries with
/// cursors, scans, TTL purge and a change marker. Proven by the shared item-store conformance suite.
#[derive(Debug, Default)]
pub struct MemoryItemStore {
    state: Mutex<ItemState>,
}

#[derive(Debug, Default)]
struct ItemState {
    items: BTreeMap<Key, Item>,
    version: u64,
}

/// Where a query or scan stopped: the position of the last item returned.
#[derive(serde::Serialize, serde::Deserialize)]
struct Position {
    kind: String,
    sort: String,
    pk: String,
    sk: String,
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

fn encode_cursor(position: &Position) -> Result<String, StoreError> {
    let json = serde_json::to_vec(position).map_err(|e| StoreError::serialization_source("cursor to JSON", e))?;
    Ok(format!("mem:{}", json.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

fn decode_cursor(cursor: &str, kind: &str) -> Result<Position, StoreError> {
    let bad = || invalid("invalid cursor");
    let hex = cursor.strip_prefix("mem:").ok_or_else(bad)?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>, _>>()?;
    let position: Position = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if position.kind != kind {
        return Err(bad());
    }
    Ok(position)
}

/// The shared evaluator's update ([`crate::store::eval::apply_update`]), bounded in size.
fn apply_update(key: &Key, current: Option<&Item>, update: &Update) -> Result<Item, StoreError> {
    let item = eval::apply_update(key, current.cloned(), update)?;
    check_size(&item)?;
    Ok(item)
}

fn check_size(item: &Item) -> Result<(), StoreError> {
    if item_size(item) > MAX_ITEM_BYTES {
        return Err(invalid(format!("item larger than {MAX_ITEM_BYTES} bytes")));
    }
    Ok(())
}

/// The sort value of an item in a query of `index` (None: the item is not in the index).
fn sort_value(item: &Item, key: &Key, index: Option<Index>) -> Option<(String, String)> {
    match index {
        None => Some((key.pk.clone(), key.sk.clone())),
        Some(index) => Some((item.get_str(index.pk_attr())?.to_owned(), item.get_str(index.sk_attr())?.to_owned())),
    }
}

fn sort_matches(sk: &SortKey, value: &str) -> bool {
    match sk {
        SortKey::Any => true,
        SortKey::Prefix(p) => value.starts_with(p.as_str()),
        SortKey::Between(a, b) => value >= a.as_str() && value <= b.as_str(),
        SortKey::From(a) => value >= a.as_str(),
        SortKey::UpTo(b) => value <= b.as_str(),
    }
}

/// The most items of one page when the query sets no limit.
const DEFAULT_PAGE: usize = 1000;

impl MemoryItemStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, ItemState> {
        // Every change is applied to the map only after all its checks passed, so a lock poisoned by
        // a panicking test still guards a consistent map.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every item, by key (for "a refusal changes nothing" snapshots).
    pub fn snapshot(&self) -> BTreeMap<Key, Item> {
        self.state().items.clone()
    }
}

fn query_kind(index: Option<Index>) -> &'static str {
    match index {
        None => "query",
        Some(index) => index.name(),
    }
}

#[async_trait]
impl ItemStore for MemoryItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        Ok(self.state().items.get(key).cloned())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.pk.is_empty() {
            return Err(invalid("query with an empty partition key"));
        }
        if query.limit == Some(0) {
            return Err(invalid("query limit 0"));
        }
        let kind = query_kind(query.index);
        let after = match &query.cursor {
            Some(cursor) => Some(decode_cursor(cursor, kind)?),
            None => None,
        };
        let state = self.state();
        let mut matching: Vec<(String, &Key, &Item)> = state
            .items
            .iter()
            .filter_map(|(key, item)| {
                let (pk, sort) = sort_value(item, key, query.index)?;
                (pk == query.pk && sort_matches(&query.sk, &sort)).then_some((sort, key, item))
            })
            .collect();
        matching.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        if !query.forward {
            matching.reverse();
        }
        if let Some(after) = &after {
            let mark = (after.sort.clone(), Key::new(after.pk.clone(), after.sk.clone()));
            matching.retain(|(sort, key, _)| {
                let here = (sort.clone(), (*key).clone());
                if query.forward { here > mark } else { here < mark }
            });
        }
        let limit = query.limit.map_or(DEFAULT_PAGE, |l| l as usize);
        let more = matching.len() > limit;
        matching.truncate(limit);
        let cursor = match (more, matching.last()) {
            (true, Some((sort, key, _))) => Some(encode_cursor(&Position {
                kind: kind.to_owned(),
                sort: sort.clone(),
                pk: key.pk.clone(),
                sk: key.sk.clone(),
            })?),
            _ => None,
        };
        Ok(Page { items: matching.into_iter().map(|(_, _, item)| item.clone()).collect(), cursor })
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = check_item(&item)?;
        check_size(&item)?;
        let mut state = self.state();
        if let Some(condition) = &condition
            && !holds(condition, state.items.get(&key))
        {
            return Err(StoreError::ConditionFailed);
        }
        state.items.insert(key, item);
        state.version += 1;
        Ok(())
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        check_key(key)?;
        check_update(&update)?;
        let mut state = self.state();
        let current = state.items.get(key);
        if let Some(condition) = &condition
            && !holds(condition, current)
        {
            return Err(StoreError::ConditionFailed);
        }
        let item = apply_update(key, current, &update)?;
        state.items.insert(key.clone(), item.clone());
        state.version += 1;
        Ok(item)
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        check_key(key)?;
        let mut state = self.state();
        if let Some(condition) = &condition
            && !holds(condition, state.items.get(key))
        {
            return Err(StoreError::ConditionFailed);
        }
        state.items.remove(key);
        state.version += 1;
        Ok(())
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        let keys = check_transaction(&ops)?;
        for op in &ops {
            if let TxOp::Put { item, .. } = op {
                check_size(item)?;
            }
        }
        let mut state = self.state();
        let reasons: Vec<Option<crate::store::item::CancelReason>> = ops
            .iter()
            .zip(&keys)
            .map(|(op, key)| {
                let condition = match op {
                    TxOp::Put { condition, .. } | TxOp::Update { condition, .. } | TxOp::Delete { condition, .. } => {
                        condition.as_ref()
                    }
                    TxOp::Check { condition, .. } => Some(condition),
                };
                condition
                    .filter(|c| !holds(c, state.items.get(key)))
                    .map(|_| crate::store::item::CancelReason::ConditionFailed)
            })
            .collect();
        if reasons.iter().any(Option::is_some) {
            return Err(StoreError::TransactionCanceled { reasons });
        }
        // Compute every new state before writing any, so an invalid update writes nothing.
        let mut writes: Vec<(Key, Option<Item>)> = Vec::with_capacity(ops.len());
        for (op, key) in ops.into_iter().zip(keys) {
            match op {
                TxOp::Put { item, .. } => writes.push((key, Some(item))),
                TxOp::Update { update, .. } => {
                    let item = apply_update(&key, state.items.get(&key), &update)?;
                    writes.push((key, Some(item)));
                }
                TxOp::Delete { .. } => writes.push((key, None)),
                TxOp::Check { .. } => {}
            }
        }
        for (key, item) in writes {
            match item {
                Some(item) => state.items.insert(key, item),
                None => state.items.remove(&key),
            };
        }
        state.version += 1;
        Ok(())
    }

    async fn scan(&self, segment: Option<(u32, u32)>, cursor: Option<String>, limit: u32) -> Result<Page, StoreError> {
        check_scan_args(segment, limit)?;
        let kind = match segment {
            None => "scan".to_owned(),
            Some((index, total)) => format!("scan:{index}/{total}"),
        };
        let after = match &cursor {
            Some(cursor) => Some(decode_cursor(cursor, &kind)?),
            None => None,
        };
        let state = self.state();
        let start = after.map(|p| Key::new(p.pk, p.sk));
        let in_segment = |key: &Key| match segment {
            None => true,
            Some((index, total)) => {
                let hash = key.pk.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                hash % u64::from(total) == u64::from(index)
            }
        };
        let mut items: Vec<(&Key, &Item)> = state
            .items
            .iter()
            .filter(|(key, _)| start.as_ref().is_none_or(|s| *key > s) && in_segment(key))
            .take(limit as usize + 1)
            .collect();
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let cursor = match (more, items.last()) {
            (true, Some((key, _))) => {
                Some(encode_cursor(&Position { kind, sort: String::new(), pk: key.pk.clone(), sk: key.sk.clone() })?)
            }
            _ => None,
        };
        Ok(Page { items: items.into_iter().map(|(_, item)| item.clone()).collect(), cursor })
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }

    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        if limit == 0 {
            return Err(invalid("purge limit 0"));
        }
        let mut state = self.state();
        let expired: Vec<Key> = state
            .items
            .iter()
            .filter(|(_, item)| {
                item.get(TTL).and_then(Value::as_f64).is_some_and(|ttl| {
                    #[allow(clippy::cast_precision_loss)]
                    let now = now as f64;
                    ttl <= now
                })
            })
            .map(|(key, _)| key.clone())
            .take(limit as usize)
            .collect();
        for key in &expired {
            state.items.remove(key);
        }
        if !expired.is_empty() {
            state.version += 1;
        }
        Ok(expired.len() as u64)
    }

    fn change_marker(&self) -> Option<u64> {
        Some(self.state().version)
    }
}

#[cfg(test)]
mod item_tests {
    use std::sync::Arc;

    use super::MemoryItemStore;
    use crate::store::item::ItemStore;

    crate::item_store_conformance!(memory_items, {
        let store: Arc<dyn ItemStore> = Arc::new(MemoryItemStore::new());
        store
    });

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn item_suite_on_one_shared_store() {
        let store: Arc<dyn ItemStore> = Arc::new(MemoryItemStore::new());
        crate::testkit::item::run_all_concurrently_then_in_order(store).await;
    }

    mod scan {
        use super::*;
        crate::scan_checks!({
            let store: Arc<dyn ItemStore> = Arc::new(MemoryItemStore::new());
            store
        });
    }
}

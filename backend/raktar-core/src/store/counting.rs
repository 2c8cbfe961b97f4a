//! A decorator around any [`ItemStore`] that counts the calls made through it, per method.
//!
//! Used by tests and benchmarks to prove that a request does a bounded number of store round trips
//! (no N+1): wrap the real driver, run the request, read [`CountingItemStore::counts`].
//!
//! ```ignore
//! let store = Arc::new(CountingItemStore::new(Arc::new(SqliteItemStore::open_in_memory()?)));
//! let registry = Registry::new(store.clone(), blobs, config);
//! store.reset();
//! // ... run the request ...
//! assert!(store.counts().reads() <= 6);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::item::{Condition, Item, ItemStore, Key, Page, Query, StoreError, TxOp, Update};

/// Calls made through a [`CountingItemStore`], per method. `query` counts pages (round trips),
/// so a [`super::query_all`] over three pages counts three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCallCounts {
    pub get: u64,
    pub query: u64,
    pub put: u64,
    pub update: u64,
    pub delete: u64,
    pub transact: u64,
    pub add: u64,
}

impl StoreCallCounts {
    /// Round trips that only read (`get` + `query`).
    pub fn reads(&self) -> u64 {
        self.get + self.query
    }

    /// Round trips that write.
    pub fn writes(&self) -> u64 {
        self.put + self.update + self.delete + self.transact + self.add
    }
}

impl fmt::Display for StoreCallCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reads (get {}, query {}), {} writes (put {}, update {}, delete {}, transact {}, add {})",
            self.reads(),
            self.get,
            self.query,
            self.writes(),
            self.put,
            self.update,
            self.delete,
            self.transact,
            self.add
        )
    }
}

#[derive(Default)]
struct Counters {
    get: AtomicU64,
    query: AtomicU64,
    put: AtomicU64,
    update: AtomicU64,
    delete: AtomicU64,
    transact: AtomicU64,
    add: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts every call, then forwards it unchanged to the wrapped store.
pub struct CountingItemStore {
    inner: Arc<dyn ItemStore>,
    counters: Counters,
}

impl CountingItemStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> Self {
        Self { inner, counters: Counters::default() }
    }

    /// The calls counted since creation or the last [`Self::reset`].
    pub fn counts(&self) -> StoreCallCounts {
        let c = &self.counters;
        StoreCallCounts {
            get: c.get.load(Ordering::Relaxed),
            query: c.query.load(Ordering::Relaxed),
            put: c.put.load(Ordering::Relaxed),
            update: c.update.load(Ordering::Relaxed),
            delete: c.delete.load(Ordering::Relaxed),
            transact: c.transact.load(Ordering::Relaxed),
            add: c.add.load(Ordering::Relaxed),
        }
    }

    /// Sets every counter back to zero.
    pub fn reset(&self) {
        let c = &self.counters;
        for counter in [&c.get, &c.query, &c.put, &c.update, &c.delete, &c.transact, &c.add] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Returns the calls counted so far and resets the counters.
    pub fn take(&self) -> StoreCallCounts {
        let c = &self.counters;
        let take = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        StoreCallCounts {
            get: take(&c.get),
            query: take(&c.query),
            put: take(&c.put),
            update: take(&c.update),
            delete: take(&c.delete),
            transact: take(&c.transact),
            add: take(&c.add),
        }
    }

    pub fn inner(&self) -> &Arc<dyn ItemStore> {
        &self.inner
    }
}

impl fmt::Debug for CountingItemStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingItemStore")
            .field("inner", &self.inner.describe())
            .field("counts", &self.counts())
            .finish()
    }
}

#[async_trait]
impl ItemStore for CountingItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        bump(&self.counters.get);
        self.inner.get(key).await
    }

    /// Forwarded (counted as a `get`).
    async fn get_relaxed(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        bump(&self.counters.get);
        self.inner.get_relaxed(key).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        bump(&self.counters.query);
        self.inner.query(query).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        bump(&self.counters.put);
        self.inner.put(item, condition).await
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        bump(&self.counters.update);
        self.inner.update(key, update, condition).await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        bump(&self.counters.delete);
        self.inner.delete(key, condition).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        bump(&self.counters.transact);
        self.inner.transact(ops).await
    }

    /// Forwarded to the inner store's own `add` (which may be a native atomic add), counted once.
    async fn add(&self, key: &Key, attr: &str, delta: i64) -> Result<i64, StoreError> {
        bump(&self.counters.add);
        self.inner.add(key, attr, delta).await
    }

    /// Forwarded (a bulk read: counted as a query).
    async fn scan(&self, segment: Option<(u32, u32)>, cursor: Option<String>, limit: u32) -> Result<Page, StoreError> {
        bump(&self.counters.query);
        self.inner.scan(segment, cursor, limit).await
    }

    fn describe(&self) -> String {
        format!("counting({})", self.inner.describe())
    }
}

//! The embedded item store: one SQLite file (WAL mode) holding the single table.
//!
//! Layout: one table `items(pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, data)` keyed by `(pk, sk)`,
//! with partial indexes for the two secondary indexes; `data` is the whole item as compact JSON.
//! The index columns are filled only when the item carries both index attributes (a sparse index,
//! as in DynamoDB).
//!
//! Concurrency: one writer connection behind a mutex (writes with conditions and transactions run
//! inside one `BEGIN IMMEDIATE` transaction on it) plus a small pool of reader connections. WAL
//! lets readers run while a write is in progress, and `busy_timeout` lets other processes (CLI
//! commands) open the same file while the server runs.
//!
//! Threading: reads run inline on the calling task (microseconds; WAL readers never wait for
//! writers), followed by `consume_budget` so loops of store calls still yield; `block_in_place`
//! on reads made tokio hand its other tasks to a fresh thread on every read, which doubled the CPU
//! per index request under load (see docs/performance.md). Writes run inside
//! `tokio::task::block_in_place` on a multi-thread runtime (a write may wait for the file lock of
//! another process), else on the blocking pool.//!
//! Modules: `conn` (schema, connections, change marker), `rows` (items as rows, writes), `eval`
//! (conditions and updates), `query` (queries, scans, cursors).

use async_trait::async_trait;
use raktar_core::store::item::{
    Condition, Item, ItemStore, Key, Page, Query, StoreError, TxOp, Update, check_key, check_transaction, check_update,
};
use rusqlite::params;

mod conn;
mod eval;
mod query;
mod rows;

pub use conn::SqliteItemStore;
use conn::{DELETE_EXPIRED, db, invalid};
use query::{run_query, run_scan};
use rows::{delete_item, load, put_item, row_of, transact_items, update_item};

// ----------------------------------------------------------------------------------------------
// The port

#[async_trait]
impl ItemStore for SqliteItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        self.read(|conn| load(conn, key)).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.read(|conn| run_query(conn, query)).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let row = row_of(&item)?;
        self.write(move |conn| put_item(conn, &row, condition.as_ref())).await
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        check_key(key)?;
        check_update(&update)?;
        let key = key.clone();
        self.write(move |conn| update_item(conn, &key, &update, condition.as_ref())).await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        check_key(key)?;
        let key = key.clone();
        self.write(move |conn| delete_item(conn, &key, condition.as_ref())).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        let keys = check_transaction(&ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        self.write(move |conn| transact_items(conn, &ops, &keys)).await
    }

    /// Pages in `(pk, sk)` order; the cursor is the last key examined. Segments split the table by
    /// a hash of the partition key (see [`scan_segment`]).
    async fn scan(&self, segment: Option<(u32, u32)>, cursor: Option<String>, limit: u32) -> Result<Page, StoreError> {
        raktar_core::store::item::check_scan_args(segment, limit)?;
        self.read(|conn| run_scan(conn, segment, cursor.as_deref(), limit)).await
    }

    fn describe(&self) -> String {
        self.inner.description.clone()
    }

    fn change_marker(&self) -> Option<u64> {
        self.inner.changes.marker()
    }

    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        if limit == 0 {
            return Err(invalid("purge limit must be at least 1"));
        }
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(DELETE_EXPIRED).map_err(db)?;
            let deleted = stmt.execute(params![now, limit]).map_err(db)?;
            Ok(deleted as u64)
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::os::unix::fs::FileExt as _;
    use std::path::Path;

    use raktar_core::store::item::{CancelReason, Index, MAX_ITEM_BYTES, PK, SK};
    use serde_json::{Value, json};

    use super::conn::{WAL_INDEX_HEADER, lock};
    use super::eval::{apply_update, holds};
    use super::query::prefix_successor;
    use super::*;

    fn item(pk: &str, sk: &str, attrs: Value) -> Item {
        let mut map = attrs.as_object().cloned().unwrap();
        map.insert(PK.into(), json!(pk));
        map.insert(SK.into(), json!(sk));
        Item(map)
    }

    #[test]
    fn backend_errors_keep_their_cause() {
        let err = SqliteItemStore::open(Path::new("/dev/null/raktar.db")).unwrap_err();
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        let source = std::error::Error::source(&err).expect("the I/O error as the source");
        assert!(source.downcast_ref::<std::io::Error>().is_some(), "{source}");
    }

    #[test]
    fn prefix_successor_bumps_the_last_character() {
        assert_eq!(prefix_successor("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}\u{10FFFF}"), None);
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("\u{7F}").as_deref(), Some("\u{80}"));
    }

    #[test]
    fn conditions_follow_dynamodb() {
        let it = item("p", "s", json!({"n": 1, "f": 1.5, "l": [1, 2.0], "m": {"a": 1}}));
        assert!(holds(&Condition::AttrEquals("n".into(), json!(1.0)), Some(&it)));
        assert!(holds(&Condition::AttrEquals("f".into(), json!(1.5)), Some(&it)));
        assert!(holds(&Condition::AttrEquals("l".into(), json!([1.0, 2])), Some(&it)));
        assert!(holds(&Condition::AttrEquals("m".into(), json!({"a": 1.0})), Some(&it)));
        assert!(!holds(&Condition::AttrEquals("n".into(), json!("1")), Some(&it)));
        assert!(!holds(&Condition::AttrEquals("n".into(), json!(1)), None));
        assert!(!holds(&Condition::AttrNotExists("x".into()), None));
        assert!(holds(&Condition::AttrNotExists("x".into()), Some(&it)));
        assert!(holds(&Condition::All(vec![]), None));
    }

    #[test]
    fn add_handles_large_and_float_counters() {
        let key = Key::new("p", "s");
        let it = item("p", "s", json!({"big": i64::MAX, "f": 0.5}));
        let out = apply_update(&key, Some(it.clone()), &Update::new().add("big", 1).add("f", 2)).unwrap();
        assert_eq!(out.get("big"), Some(&json!(9_223_372_036_854_775_808_u64)));
        assert_eq!(out.get("f"), Some(&json!(2.5)));
        let at_max = item("p", "s", json!({"n": u64::MAX}));
        assert!(matches!(apply_update(&key, Some(at_max), &Update::new().add("n", 1)), Err(StoreError::Invalid(_))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn change_marker_is_stable_until_any_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raktar.db");
        let server = SqliteItemStore::open(&path).unwrap();
        // Another process (a CLI command) on the same file.
        let cli = SqliteItemStore::open(&path).unwrap();
        let m0 = server.change_marker().unwrap();
        server.get(&Key::new("P", "A")).await.unwrap();
        assert_eq!(server.change_marker(), Some(m0), "reads do not move the marker");
        cli.put(item("P", "A", json!({})), None).await.unwrap();
        let m1 = server.change_marker().unwrap();
        assert_ne!(m1, m0, "a write by another connection moves the marker");
        assert_eq!(server.change_marker(), Some(m1));
        server.put(item("P", "B", json!({})), None).await.unwrap();
        assert_ne!(server.change_marker(), Some(m1), "a write by this store moves the marker");
    }

    /// The fast path of the change marker: every commit, from any connection, rewrites the
    /// WAL-index header; reads leave it alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_commit_rewrites_the_wal_index_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raktar.db");
        let server = SqliteItemStore::open(&path).unwrap();
        let cli = SqliteItemStore::open(&path).unwrap();
        let shm = std::fs::File::open(dir.path().join("raktar.db-shm")).unwrap();
        let header = || {
            let mut h = [0u8; WAL_INDEX_HEADER];
            shm.read_exact_at(&mut h, 0).unwrap();
            h
        };
        let mut seen = vec![header()];
        for i in 0..5 {
            let writer = if i % 2 == 0 { &server } else { &cli };
            writer.put(item("P", &format!("{i}"), json!({})), None).await.unwrap();
            let before = header();
            server.get(&Key::new("P", "0")).await.unwrap();
            cli.query(&Query::partition("P")).await.unwrap();
            assert_eq!(header(), before, "reads must not rewrite the header");
            assert!(!seen.contains(&before), "commit {i} did not change the header");
            seen.push(before);
        }
        // An update of the same item and a delete are commits too.
        server.update(&Key::new("P", "0"), Update::new().set("a", 1), None).await.unwrap();
        assert!(!seen.contains(&header()));
        seen.push(header());
        cli.delete(&Key::new("P", "0"), None).await.unwrap();
        assert!(!seen.contains(&header()));
    }

    #[tokio::test]
    async fn in_memory_store_works() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        assert_eq!(store.describe(), "sqlite::memory:");
        let it = item("P", "A", json!({"type": "T"}));
        store.put(it.clone(), Some(Condition::NotExists)).await.unwrap();
        assert_eq!(store.get(&Key::new("P", "A")).await.unwrap(), Some(it.clone()));
        assert_eq!(store.query(&Query::partition("P")).await.unwrap().items, vec![it]);
        assert_eq!(store.add(&Key::new("P", "C"), "n", 2).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn rejects_key_updates_oversized_items_and_zero_limits() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        let key = Key::new("P", "A");
        assert!(matches!(store.update(&key, Update::new().set("sk", "B"), None).await, Err(StoreError::Invalid(_))));
        let big = item("P", "B", json!({"blob": "x".repeat(MAX_ITEM_BYTES)}));
        assert!(matches!(store.put(big, None).await, Err(StoreError::Invalid(_))));
        assert!(matches!(store.get(&Key::new("", "A")).await, Err(StoreError::Invalid(_))));
        assert!(matches!(store.query(&Query::partition("P").limit(0)).await, Err(StoreError::Invalid(_))));
        assert!(store.transact(vec![]).await.is_ok());
        assert_eq!(store.get(&key).await.unwrap(), None);
    }

    #[tokio::test]
    async fn item_with_half_an_index_key_is_not_indexed() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        let mut it = item("P", "A", json!({}));
        it.set("gsi1pk", json!("G"));
        store.put(it, None).await.unwrap();
        assert!(store.query(&Query::on_index(Index::ByOwner, "G")).await.unwrap().items.is_empty());
    }

    #[tokio::test]
    async fn transaction_add_type_error_is_reported_per_operation() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        store.put(item("P", "S", json!({"s": "text"})), None).await.unwrap();
        let err = store
            .transact(vec![
                TxOp::Put { item: item("P", "N", json!({})), condition: None },
                TxOp::Update { key: Key::new("P", "S"), update: Update::new().add("s", 1), condition: None },
            ])
            .await
            .unwrap_err();
        match err {
            StoreError::TransactionCanceled { reasons } => {
                assert_eq!(reasons[0], None);
                assert!(matches!(reasons[1], Some(CancelReason::Other(_))));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(store.get(&Key::new("P", "N")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn prefix_at_the_top_of_unicode() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        for sk in ["a\u{10FFFF}", "a\u{10FFFF}x", "b", "a\u{D7FF}z", "a\u{E000}"] {
            store.put(item("P", sk, json!({})), None).await.unwrap();
        }
        let page = store.query(&Query::partition("P").prefix("a\u{10FFFF}")).await.unwrap();
        let sks: Vec<&str> = page.items.iter().filter_map(|i| i.get_str(SK)).collect();
        assert_eq!(sks, vec!["a\u{10FFFF}", "a\u{10FFFF}x"]);
        let page = store.query(&Query::partition("P").prefix("a\u{D7FF}")).await.unwrap();
        assert_eq!(page.items.len(), 1);
    }

    #[test]
    fn index_queries_use_the_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteItemStore::open(&dir.path().join("items.db")).unwrap();
        let conn = lock(&store.inner.writer);
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let p = plan(
            "SELECT data FROM items WHERE gsi1pk = 'a' AND gsi1sk >= 'b' AND (gsi1sk, pk, sk) > ('c', 'd', 'e') \
             ORDER BY gsi1sk ASC, pk ASC, sk ASC LIMIT 5",
        );
        assert!(p.contains("items_gsi1") && !p.contains("TEMP B-TREE"), "{p}");
        let p = plan("SELECT data FROM items WHERE gsi2pk = 'a' ORDER BY gsi2sk DESC, pk DESC, sk DESC LIMIT 5");
        assert!(p.contains("items_gsi2") && !p.contains("TEMP B-TREE"), "{p}");
        let p = plan("SELECT data FROM items WHERE pk = 'a' AND sk > 'b' ORDER BY sk DESC LIMIT 5");
        assert!(p.contains("PRIMARY KEY") && !p.contains("TEMP B-TREE"), "{p}");
        let p = plan(&DELETE_EXPIRED.replace("?1", "5").replace("?2", "10"));
        assert!(p.contains("items_ttl") && !p.contains("SCAN items"), "{p}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_expired_deletes_expired_items_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteItemStore::open(&dir.path().join("items.db")).unwrap();
        for i in 0..3 {
            store.put(item("S", &format!("{i}"), json!({"ttl": 100 + i})), None).await.unwrap();
        }
        store.put(item("S", "live", json!({"ttl": 200})), None).await.unwrap();
        store.put(item("S", "plain", json!({})), None).await.unwrap();
        assert_eq!(store.purge_expired(150, 2).await.unwrap(), 2);
        assert_eq!(store.get(&Key::new("S", "2")).await.unwrap().map(|_| ()), Some(()), "oldest first");
        assert_eq!(store.purge_expired(150, 2).await.unwrap(), 1);
        assert_eq!(store.purge_expired(150, 2).await.unwrap(), 0);
        let left = store.query(&Query::partition("S")).await.unwrap().items;
        assert_eq!(
            left.iter().map(|i| i.get_str(SK).unwrap_or_default().to_owned()).collect::<Vec<_>>(),
            ["live", "plain"]
        );
        assert!(matches!(store.purge_expired(150, 0).await, Err(StoreError::Invalid(_))));
    }
}

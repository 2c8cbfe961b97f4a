//! Point-read and counter-write throughput of the SQLite item store (measurements, not checks):
//! `cargo test --release -p raktar-store --test throughput -- --ignored --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use raktar_core::store::item::{Item, ItemStore, Key};
use raktar_store::SqliteItemStore;
use serde_json::json;

const ITEMS: u64 = 10_000;
const LINE: &str = r#"{"name":"x","vers":"1.0.0","deps":[],"cksum":"abc","features":{},"yanked":false}"#;

#[test]
#[ignore = "measurement; run in release with --nocapture"]
fn point_read_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteItemStore::open(&dir.path().join("items.db")).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let ops: Vec<_> = (0..ITEMS)
            .map(|i| raktar_core::store::item::TxOp::Put {
                item: Item::from_entity(
                    &Key::new(format!("CRATE#crate-{i}"), "INDEX"),
                    "IndexFile",
                    &json!({ "lines": vec![LINE; 5] }),
                )
                .unwrap(),
                condition: None,
            })
            .collect();
        for chunk in ops.chunks(100) {
            store.transact(chunk.to_vec()).await.unwrap();
        }
        for tasks in [1u64, 8, 64] {
            let count = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let store = Arc::clone(&store);
                    let count = Arc::clone(&count);
                    let stop = Arc::clone(&stop);
                    tokio::spawn(async move {
                        let mut i = t * 7919;
                        while !stop.load(Ordering::Relaxed) {
                            let key = Key::new(format!("CRATE#crate-{}", i % ITEMS), "INDEX");
                            assert!(store.get(&key).await.unwrap().is_some());
                            count.fetch_add(1, Ordering::Relaxed);
                            i += 1;
                        }
                    })
                })
                .collect();
            let start = Instant::now();
            tokio::time::sleep(Duration::from_secs(2)).await;
            stop.store(true, Ordering::Relaxed);
            for h in handles {
                h.await.unwrap();
            }
            let per_sec = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
            eprintln!("{tasks:>3} concurrent tasks: {per_sec:>9.0} point reads/s");
        }
    });
}

#[test]
#[ignore = "measurement; run in release with --nocapture"]
fn counter_write_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteItemStore::open(&dir.path().join("items.db")).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for tasks in [1u64, 8, 64] {
            let count = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let store = Arc::clone(&store);
                    let count = Arc::clone(&count);
                    let stop = Arc::clone(&stop);
                    tokio::spawn(async move {
                        let key = Key::new(format!("COUNTER#{}", t % 16), "C");
                        while !stop.load(Ordering::Relaxed) {
                            store.add(&key, "n", 1).await.unwrap();
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            let start = Instant::now();
            tokio::time::sleep(Duration::from_secs(2)).await;
            stop.store(true, Ordering::Relaxed);
            for h in handles {
                h.await.unwrap();
            }
            let per_sec = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
            eprintln!("{tasks:>3} concurrent tasks: {per_sec:>9.0} counter adds/s");
        }
    });
}

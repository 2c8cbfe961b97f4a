//! Several `SqliteItemStore`s on one file, as when a CLI command runs next to the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use raktar_core::store::item::{Condition, Index, Item, ItemStore, Key, Query, Update};
use raktar_store::SqliteItemStore;
use serde_json::json;

/// Environment variable that turns [`child_process_writer`] on and names the store file.
const CHILD_DB: &str = "RAKTAR_STORE_TEST_CHILD_DB";

fn item(key: &Key, attrs: serde_json::Value) -> Item {
    let mut item = Item(attrs.as_object().cloned().unwrap());
    item.set("pk", json!(key.pk));
    item.set("sk", json!(key.sk));
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_store_on_the_same_file_sees_and_makes_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.db");
    let server = SqliteItemStore::open(&path).unwrap();
    let a = Key::new("P", "A");
    server.put(item(&a, json!({"by": "server"})).with_index(Index::ByOwner, "G", "1"), None).await.unwrap();

    let cli = SqliteItemStore::open(&path).unwrap();
    assert_eq!(cli.get(&a).await.unwrap().unwrap().get_str("by"), Some("server"));
    let b = Key::new("P", "B");
    cli.put(item(&b, json!({"by": "cli"})).with_index(Index::ByOwner, "G", "2"), Some(Condition::NotExists))
        .await
        .unwrap();
    cli.update(&a, Update::new().set("touched", true), Some(Condition::Exists)).await.unwrap();

    // The server sees the other connection's writes at once, in table and index reads.
    assert_eq!(server.get(&b).await.unwrap().unwrap().get_str("by"), Some("cli"));
    assert_eq!(server.get(&a).await.unwrap().unwrap().get("touched"), Some(&json!(true)));
    let indexed = server.query(&Query::on_index(Index::ByOwner, "G")).await.unwrap().items;
    assert_eq!(indexed.len(), 2);
    drop(cli);
    server.put(item(&Key::new("P", "C"), json!({})), None).await.unwrap();
    assert_eq!(server.query(&Query::partition("P")).await.unwrap().items.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_stores_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.db");
    let stores = [Arc::new(SqliteItemStore::open(&path).unwrap()), Arc::new(SqliteItemStore::open(&path).unwrap())];
    let key = Key::new("COUNTER", "C");
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let key = key.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    store.add(&key, "n", 1).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(stores[0].get(&key).await.unwrap().unwrap().get_i64("n"), Some(200));
    assert_eq!(stores[1].get(&key).await.unwrap().unwrap().get_i64("n"), Some(200));
}

/// A real second process (this test binary, re-run on [`child_process_writer`]) writes to the
/// file while this process holds it open and writes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_writes_while_the_store_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.db");
    let server = Arc::new(SqliteItemStore::open(&path).unwrap());
    let key = Key::new("COUNTER", "C");
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_writer", "--ignored", "--test-threads", "1"])
        .env(CHILD_DB, &path)
        .output();
    let local = {
        let server = Arc::clone(&server);
        let key = key.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                server.add(&key, "n", 1).await.unwrap();
            }
        })
    };
    let output = child.await.unwrap();
    local.await.unwrap();
    assert!(output.status.success(), "child failed: {}", String::from_utf8_lossy(&output.stdout));
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"), "child test did not run");
    assert_eq!(server.get(&key).await.unwrap().unwrap().get_i64("n"), Some(200));
    assert_eq!(server.get(&Key::new("CHILD", "DONE")).await.unwrap().unwrap().get_str("by"), Some("child"));
}

/// The child side of [`another_process_writes_while_the_store_is_open`]; does nothing when run
/// on its own.
#[tokio::test]
#[ignore = "run by another_process_writes_while_the_store_is_open"]
async fn child_process_writer() {
    let Some(path) = std::env::var_os(CHILD_DB) else { return };
    let store = SqliteItemStore::open(Path::new(&path)).unwrap();
    let key = Key::new("COUNTER", "C");
    for _ in 0..100 {
        store.add(&key, "n", 1).await.unwrap();
    }
    store.put(item(&Key::new("CHILD", "DONE"), json!({"by": "child"})), Some(Condition::NotExists)).await.unwrap();
}

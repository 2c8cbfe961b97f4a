//! The shared conformance suites, run against the embedded drivers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use raktar_core::store::blob::BlobStore;
use raktar_core::store::item::ItemStore;
use raktar_store::{FsBlobStore, SqliteItemStore};
use tempfile::TempDir;

/// A fresh store file per test.
fn sqlite() -> (Arc<dyn ItemStore>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteItemStore::open(&dir.path().join("items.db")).unwrap();
    (Arc::new(store), dir)
}

/// A fresh blob directory per test.
fn fs() -> (Arc<dyn BlobStore>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Arc::new(FsBlobStore::new(dir.path().join("blobs"))), dir)
}

raktar_core::item_store_conformance!(sqlite_items, sqlite());
raktar_core::item_store_conformance!(sqlite_in_memory_items, {
    let store: Arc<dyn ItemStore> = Arc::new(SqliteItemStore::open_in_memory().unwrap());
    store
});
raktar_core::blob_store_conformance!(fs_blobs, fs());

/// The whole item suite at once, every test concurrently, against one shared store: the suite's
/// key spaces must keep tests apart on a shared, non-empty backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_suite_on_one_shared_store() {
    let (store, _dir) = sqlite();
    raktar_core::testkit::item::run_all_concurrently_then_in_order(store).await;
}

/// The whole blob suite at once, every test concurrently, against one shared directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blob_suite_on_one_shared_store() {
    let (store, _dir) = fs();
    raktar_core::testkit::blob::run_all_concurrently_then_in_order(store).await;
}

//! `ItemStore::scan` on the SQLite driver (file-backed and in memory). The checks
//! (`raktar_core::testkit::scan`) are shared with the DynamoDB driver's `raktar-aws/tests/scan.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use raktar_core::store::item::ItemStore;
use raktar_store::SqliteItemStore;

/// A store on a fresh file, with its directory (removed on drop).
struct Fresh(Arc<dyn ItemStore>, #[allow(dead_code)] tempfile::TempDir);

impl std::ops::Deref for Fresh {
    type Target = dyn ItemStore;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

fn fresh() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteItemStore::open(&dir.path().join("items.db")).unwrap();
    Fresh(Arc::new(store), dir)
}

mod file {
    use super::*;
    raktar_core::scan_checks!(fresh());
}

mod in_memory {
    use super::*;
    raktar_core::scan_checks!({
        let store: Arc<dyn ItemStore> = Arc::new(SqliteItemStore::open_in_memory().unwrap());
        store
    });
}

/// The embedded driver pages in key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_scans_in_key_order() {
    let store = fresh();
    for item in raktar_core::testkit::scan::sample_items(20) {
        store.put(item, None).await.unwrap();
    }
    let (items, _) = raktar_core::testkit::scan::scan_all(&*store, None, 3).await;
    let keys: Vec<_> = items.iter().map(|i| i.key().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

//! Checks of `ItemStore::scan`, shared by the SQLite (`raktar-store/tests/scan.rs`) and DynamoDB
//! (`raktar-aws/tests/scan.rs`) drivers. Each check takes an empty store.
//!
//! Use [`scan_checks!`](crate::scan_checks) in a driver's test file to get one `#[tokio::test]` per
//! check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use crate::store::item::{Index, Item, ItemStore, Key, StoreError};
use serde_json::json;

/// Items over several partitions, some with index attributes and nested values.
pub fn sample_items(n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| {
            let mut map = serde_json::Map::new();
            map.insert("pk".into(), json!(format!("SCAN#{}", i % 7)));
            map.insert("sk".into(), json!(format!("ITEM#{i:04}")));
            map.insert("type".into(), json!(if i % 2 == 0 { "even" } else { "odd" }));
            map.insert("n".into(), json!(i));
            map.insert("nested".into(), json!({ "list": [i, "x", null, true], "empty": {} }));
            let item = Item(map);
            if i % 3 == 0 { item.with_index(Index::ByOwner, format!("G#{}", i % 2), format!("{i:04}")) } else { item }
        })
        .collect()
}

async fn fill(store: &dyn ItemStore, items: &[Item]) {
    for item in items {
        store.put(item.clone(), None).await.unwrap();
    }
}

/// Every item of a scan (`segment`), in pages of `limit`; also returns the number of pages.
pub async fn scan_all(store: &dyn ItemStore, segment: Option<(u32, u32)>, limit: u32) -> (Vec<Item>, usize) {
    let mut cursor = None;
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.scan(segment, cursor, limit).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= limit as usize, "a page holds at most `limit` items");
        items.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return (items, pages),
        }
        assert!(pages < 10_000, "scan does not end");
    }
}

fn by_key(items: &[Item]) -> BTreeMap<Key, Item> {
    let mut map = BTreeMap::new();
    for item in items {
        let previous = map.insert(item.key().unwrap(), item.clone());
        assert!(previous.is_none(), "item {:?} returned twice", item.key());
    }
    map
}

pub async fn empty_store_scans_to_nothing(store: &dyn ItemStore) {
    let page = store.scan(None, None, 10).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.cursor, None);
}

pub async fn scan_returns_every_item_once(store: &dyn ItemStore) {
    let items = sample_items(57);
    fill(store, &items).await;
    let expected = by_key(&items);
    for limit in [1, 10, 1000] {
        let (got, pages) = scan_all(store, None, limit).await;
        assert_eq!(by_key(&got), expected, "limit {limit}");
        if limit == 10 {
            assert!(pages >= 6, "57 items in pages of 10 need at least 6 pages, got {pages}");
        }
    }
}

pub async fn segments_split_the_table(store: &dyn ItemStore) {
    let items = sample_items(40);
    fill(store, &items).await;
    let expected = by_key(&items);
    let total = 3;
    let mut seen = BTreeSet::new();
    let mut union = Vec::new();
    for index in 0..total {
        let (got, _) = scan_all(store, Some((index, total)), 4).await;
        for item in &got {
            assert!(seen.insert(item.key().unwrap()), "item {:?} in two segments", item.key());
        }
        union.extend(got);
    }
    assert_eq!(by_key(&union), expected);
    // One segment of one is the whole table.
    let (all, _) = scan_all(store, Some((0, 1)), 7).await;
    assert_eq!(by_key(&all), expected);
}

/// A cursor saved after a page resumes the scan after it (what a resumable migration relies on).
pub async fn cursor_resumes_after_the_page(store: &dyn ItemStore) {
    let items = sample_items(25);
    fill(store, &items).await;
    let first = store.scan(None, None, 8).await.unwrap();
    let saved = first.cursor.clone().expect("more pages follow");
    let (rest, _) = {
        let mut cursor = Some(saved);
        let mut rest = Vec::new();
        loop {
            let page = store.scan(None, cursor, 8).await.unwrap();
            rest.extend(page.items);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break (rest, ()),
            }
        }
    };
    let mut both = first.items.clone();
    both.extend(rest);
    assert_eq!(by_key(&both), by_key(&items));
}

pub async fn bad_arguments_are_invalid(store: &dyn ItemStore) {
    fill(store, &sample_items(3)).await;
    let invalid = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Invalid(_)));
    assert!(invalid(store.scan(None, None, 0).await), "limit 0");
    assert!(invalid(store.scan(Some((3, 3)), None, 5).await), "segment index out of range");
    assert!(invalid(store.scan(Some((0, 0)), None, 5).await), "zero segments");
    assert!(invalid(store.scan(None, Some("not a cursor".into()), 5).await), "garbage cursor");
    // A query cursor is not a scan cursor.
    assert!(invalid(store.scan(None, Some("eyJpIjpudWxsLCJrIjpbIngiXX0".into()), 5).await), "query cursor");
}

/// Every check, each on its own fresh store made by `fresh`.
#[macro_export]
macro_rules! scan_checks {
    ($fresh:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn empty_store_scans_to_nothing() {
            let store = $fresh;
            $crate::testkit::scan::empty_store_scans_to_nothing(&*store).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn scan_returns_every_item_once() {
            let store = $fresh;
            $crate::testkit::scan::scan_returns_every_item_once(&*store).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn segments_split_the_table() {
            let store = $fresh;
            $crate::testkit::scan::segments_split_the_table(&*store).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cursor_resumes_after_the_page() {
            let store = $fresh;
            $crate::testkit::scan::cursor_resumes_after_the_page(&*store).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn bad_arguments_are_invalid() {
            let store = $fresh;
            $crate::testkit::scan::bad_arguments_are_invalid(&*store).await;
        }
    };
}

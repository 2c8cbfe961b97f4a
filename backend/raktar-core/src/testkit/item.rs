//! Item-store conformance suite.
//!
//! Every [`ItemStore`] driver must pass these tests. Each test works in its own random key space
//! (partition keys start with `ct#<test>#<random>`), so the suite can run against a shared backend
//! that already holds other items, and tests may run concurrently. The expected behaviour is
//! DynamoDB's: the embedded driver emulates it, the DynamoDB driver translates to it.
//!
//! Use [`item_store_conformance!`](crate::item_store_conformance) in a driver's test file to get one
//! `#[tokio::test]` per case, or [`run_all`] to run everything in one go.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::store::item::{
    CancelReason, Condition, Index, Item, ItemStore, Key, MAX_TX_OPS, PK, Query, SK, SortKey, StoreError, TTL, TxOp,
    Update,
};

/// What a test fixture hands to the suite: the store under test, plus anything that must stay
/// alive while the test runs (a temporary directory, an emulator handle).
pub trait ItemStoreFixture {
    /// The store under test.
    fn item_store(&self) -> Arc<dyn ItemStore>;
}

impl ItemStoreFixture for Arc<dyn ItemStore> {
    fn item_store(&self) -> Arc<dyn ItemStore> {
        Arc::clone(self)
    }
}

/// A store plus a guard kept alive for the duration of the test.
impl<G> ItemStoreFixture for (Arc<dyn ItemStore>, G) {
    fn item_store(&self) -> Arc<dyn ItemStore> {
        Arc::clone(&self.0)
    }
}

/// One test of the suite.
pub type ItemStoreTest = fn(Arc<dyn ItemStore>) -> BoxFuture<'static, ()>;

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        /// Every test of the suite, with its name, in suite order.
        pub fn all_tests() -> Vec<(&'static str, ItemStoreTest)> {
            vec![$((stringify!($name), (|store| Box::pin($name(store))) as ItemStoreTest)),*]
        }
    };
}

suite!(
    get_absent,
    put_get_roundtrip,
    get_relaxed_reads_the_item,
    put_replaces_whole_item,
    put_rejects_invalid_items,
    put_condition_not_exists,
    put_condition_exists,
    put_condition_attr_equals,
    put_condition_attr_not_exists,
    put_condition_all,
    update_creates_absent_item,
    update_set_and_set_if_absent,
    update_remove,
    update_add_counters,
    update_add_non_number_is_invalid,
    update_conditions,
    update_moves_item_in_and_out_of_index,
    delete_without_condition,
    delete_with_condition,
    query_sort_key_conditions,
    query_byte_wise_order,
    query_paging_returns_every_item_once,
    query_empty_and_invalid_cursor,
    query_index_sparse,
    query_index_paging_with_duplicate_sort_keys,
    transact_all_succeed,
    transact_condition_failure_cancels_everything,
    transact_reports_every_failed_condition,
    transact_check_ops,
    transact_same_key_twice_is_invalid,
    transact_op_limit,
    concurrent_add_is_exact,
    concurrent_put_if_not_exists_has_one_winner,
    concurrent_optimistic_updates,
    change_marker_moves_on_every_write,
    purge_expired_keeps_live_items,
);

/// Runs every test of the suite in order against one store (panics on the first failure).
pub async fn run_all(store: Arc<dyn ItemStore>) {
    for (name, test) in all_tests() {
        tracing::info!(test = name, store = %store.describe(), "item store conformance");
        test(Arc::clone(&store)).await;
    }
}

/// Every test of the suite at once, concurrently, against one shared store (the tests' key spaces
/// must keep them apart on a shared, non-empty backend); then [`run_all`] on the same store.
pub async fn run_all_concurrently_then_in_order(store: Arc<dyn ItemStore>) {
    super::run_concurrently(&store, all_tests()).await;
    run_all(store).await;
}

// ----------------------------------------------------------------------------------------------
// Helpers

/// A fresh key space for one test.
struct Space {
    base: String,
}

impl Space {
    fn new(test: &str) -> Self {
        Self { base: format!("ct#{test}#{:016x}", rand::random::<u64>()) }
    }
    /// A partition key (also used for index partition keys) inside the key space.
    fn pk(&self, name: &str) -> String {
        format!("{}#{name}", self.base)
    }
    fn key(&self, partition: &str, sk: &str) -> Key {
        Key::new(self.pk(partition), sk)
    }
}

/// An item with the given key and the attributes of a JSON object.
fn item(key: &Key, attrs: Value) -> Item {
    let Value::Object(mut map) = attrs else { panic!("attributes must be a JSON object") };
    map.insert(PK.into(), Value::String(key.pk.clone()));
    map.insert(SK.into(), Value::String(key.sk.clone()));
    Item(map)
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.get_str(SK).unwrap_or_default().to_owned()).collect()
}

fn keys(items: &[Item]) -> Vec<Key> {
    items.iter().map(|i| i.key().expect("item without key")).collect()
}

async fn get(store: &dyn ItemStore, key: &Key) -> Option<Item> {
    store.get(key).await.unwrap_or_else(|e| panic!("get {key:?}: {e}"))
}

async fn put(store: &dyn ItemStore, item: Item) {
    let key = item.key();
    store.put(item, None).await.unwrap_or_else(|e| panic!("put {key:?}: {e}"));
}

fn assert_condition_failed<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::ConditionFailed) => {}
        other => panic!("{what}: expected ConditionFailed, got {other:?}"),
    }
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("{what}: expected Invalid, got {other:?}"),
    }
}

/// Runs a query page by page until the cursor runs out; checks every page respects the limit.
async fn query_pages(store: &dyn ItemStore, query: Query) -> Vec<Item> {
    let mut q = query;
    let mut items = Vec::new();
    for _ in 0..10_000 {
        let page = store.query(&q).await.unwrap_or_else(|e| panic!("query {q:?}: {e}"));
        if let Some(limit) = q.limit {
            assert!(page.items.len() <= limit as usize, "page of {} items exceeds limit {limit}", page.items.len());
        }
        items.extend(page.items);
        match page.cursor {
            Some(c) => q.cursor = Some(c),
            None => return items,
        }
    }
    panic!("query {q:?} did not finish after 10000 pages");
}

// ----------------------------------------------------------------------------------------------
// get / put

/// Reading an item that was never written returns `None`.
pub async fn get_absent(store: Arc<dyn ItemStore>) {
    let s = Space::new("get_absent");
    assert_eq!(get(&*store, &s.key("A", "ITEM#1")).await, None);
}

/// Every JSON value kind survives a put/get round trip unchanged.
pub async fn put_get_roundtrip(store: Arc<dyn ItemStore>) {
    let s = Space::new("put_get_roundtrip");
    let key = s.key("A", "ITEM#1");
    let it = item(
        &key,
        json!({
            "type": "Thing",
            "name": "na\u{e9}me \u{2713} \u{1F980}",
            "count": 42,
            "neg": -7,
            "big": 9_007_199_254_740_993_i64,
            "ratio": 1.5,
            "negative_ratio": -2.25,
            "flag": true,
            "off": false,
            "nothing": null,
            "empty": "",
            "list": [1, "two", [3], {"four": 4}, true],
            "empty_list": [],
            "map": {"a": {"b": "c"}, "n": 1, "l": ["x"]},
            "empty_map": {}
        }),
    )
    .with_index(Index::ByOwner, s.pk("G1"), "2024-01-01");
    put(&*store, it.clone()).await;
    assert_eq!(get(&*store, &key).await, Some(it));
    // Another sort key in the same partition is still absent.
    assert_eq!(get(&*store, &s.key("A", "ITEM#2")).await, None);
}

/// A relaxed (possibly eventually consistent) read returns the item a completed write left, and
/// `None` for an absent key. (Every store under test answers relaxed reads from a replica that
/// has caught up by the time the write returned, or from the primary.)
pub async fn get_relaxed_reads_the_item(store: Arc<dyn ItemStore>) {
    let s = Space::new("get_relaxed_reads_the_item");
    let key = s.key("A", "ITEM#1");
    assert_eq!(store.get_relaxed(&key).await.unwrap_or_else(|e| panic!("get_relaxed: {e}")), None);
    let it = item(&key, json!({"type": "Thing", "n": 1}));
    put(&*store, it.clone()).await;
    assert_eq!(store.get_relaxed(&key).await.unwrap_or_else(|e| panic!("get_relaxed: {e}")), Some(it));
}

/// A put replaces the whole item: attributes absent from the new item are gone.
pub async fn put_replaces_whole_item(store: Arc<dyn ItemStore>) {
    let s = Space::new("put_replaces_whole_item");
    let key = s.key("A", "X");
    put(&*store, item(&key, json!({"type": "T", "a": 1, "b": "two"})).with_index(Index::ByOwner, s.pk("G"), "1")).await;
    let replacement = item(&key, json!({"type": "T", "a": 3}));
    put(&*store, replacement.clone()).await;
    assert_eq!(get(&*store, &key).await, Some(replacement));
    // The replaced item left the index.
    let page = store.query(&Query::on_index(Index::ByOwner, s.pk("G"))).await.unwrap();
    assert!(page.items.is_empty(), "replaced item still in index: {page:?}");
}

/// Items without a string `pk` and `sk`, or with a non-string index key, are rejected.
pub async fn put_rejects_invalid_items(store: Arc<dyn ItemStore>) {
    let s = Space::new("put_rejects_invalid_items");
    let pk = s.pk("A");
    let mut no_sk = Map::new();
    no_sk.insert(PK.into(), json!(pk));
    assert_invalid(store.put(Item(no_sk), None).await, "put without sk");
    let mut no_pk = Map::new();
    no_pk.insert(SK.into(), json!("X"));
    assert_invalid(store.put(Item(no_pk), None).await, "put without pk");
    let mut numeric_sk = Map::new();
    numeric_sk.insert(PK.into(), json!(pk));
    numeric_sk.insert(SK.into(), json!(5));
    assert_invalid(store.put(Item(numeric_sk), None).await, "put with numeric sk");
    let mut bad_index = item(&s.key("A", "Y"), json!({"gsi1sk": "s"}));
    bad_index.set("gsi1pk", json!(7));
    assert_invalid(store.put(bad_index, None).await, "put with numeric index key");
    assert_eq!(store.query(&Query::partition(pk)).await.unwrap().items, Vec::<Item>::new());
}

/// `NotExists` lets the first put through and rejects the second without changing the item.
pub async fn put_condition_not_exists(store: Arc<dyn ItemStore>) {
    let s = Space::new("put_condition_not_exists");
    let key = s.key("A", "X");
    let first = item(&key, json!({"v": 1}));
    store.put(first.clone(), Some(Condition::NotExists)).await.unwrap();
    assert_eq!(get(&*store, &key).await, Some(first.clone()));
    assert_condition_failed(store.put(item(&key, json!({"v": 2})), Some(Condition::NotExists)).await, "second put");
    assert_eq!(get(&*store, &key).await, Some(first));
}

/// `Exists` rejects a put on an absent item (nothing is created) and allows it on a present one.
pub async fn put_condition_exists(store: Arc<dyn ItemStore>) {
    let s = Space::new("put_condition_exists");
    let key = s.key("A", "X");
    assert_condition_failed(store.put(item(&key, json!({"v": 1})), Some(Condition::Exists)).await, "put on absent");
    assert_eq!(get(&*store, &key).await, None);
    put(&*store, item(&key, json!({"v": 1}))).await;
    let second = item(&key, json!({"v": 2}));
    store.put(second.clone(), Some(Condition::Exists)).await.unwrap();
    assert_eq!(get(&*store, &key).await, Some(second));
}

/// `AttrEquals` compares with JSON (DynamoDB) equality; numbers compare by value.
pub async fn put_condition_attr_equals(store: Arc<dyn ItemStore>) {
    let s = Space::new("put_condition_attr_equals");
    let key = s.key("A", "X");
    // Absent item: the condition fails and nothing is created.
    assert_condition_failed(
        store.put(item(&key, json!({"rev": 1})), Some(Condition::AttrEquals("rev".into(), json!(1)))).await,
        "put on absent item",
    );
    assert_eq!(get(&*store, &key).await, None);

    let v1 = item(&key, json!({"rev": 1, "state": "open", "flag": true}));
    put(&*store, v1.clone()).await;
    for (attr, value) in [("rev", json!(2)), ("state", json!("closed")), ("flag", json!(false)), ("missing", json!(1))]
    {
        assert_condition_failed(
            store.put(item(&key, json!({"rev": 9})), Some(Condition::AttrEquals(attr.into(), value))).await,
            &format!("put with wrong {attr}"),
        );
        assert_eq!(get(&*store, &key).await, Some(v1.clone()));
    }
    // A number attribute compares by value: 1 equals 1.0.
    let v2 = item(&key, json!({"rev": 2, "state": "open"}));
    store.put(v2.clone(), Some(Condition::AttrEquals("rev".into(), json!(1.0)))).await.unwrap();
    assert_eq!(get(&*store, &key).await, Some(v2));
    let v3 = item(&key, json!({"rev": 3, "state": "closed"}));
    store.put(v3.clone(), Some(Condition::AttrEquals("state".into(), json!("open")))).await.unwrap();
    assert_eq!(get(&*store, &key).await, Some(v3));
}

/// `AttrNotExists` needs the item to exist without the attribute.
pub async fn put_condition_attr_not_exists(store: Arc<dyn ItemStore>) {
    let s = Space::new("put_condition_attr_not_exists");
    let key = s.key("A", "X");
    let cond = || Some(Condition::AttrNotExists("rev".into()));
    assert_condition_failed(store.put(item(&key, json!({"rev": 1})), cond()).await, "put on absent item");
    assert_eq!(get(&*store, &key).await, None);

    put(&*store, item(&key, json!({"other": 1}))).await;
    let with_rev = item(&key, json!({"rev": 1}));
    store.put(with_rev.clone(), cond()).await.unwrap();
    assert_eq!(get(&*store, &key).await, Some(with_rev.clone()));
    assert_condition_failed(store.put(item(&key, json!({"rev": 2})), cond()).await, "put with attribute present");
    assert_eq!(get(&*store, &key).await, Some(with_rev));
}

/// `All` holds only when every part holds.
pub async fn put_condition_all(store: Arc<dyn ItemStore>) {
    let s = Space::new("put_condition_all");
    let key = s.key("A", "X");
    let v1 = item(&key, json!({"rev": 1, "owner": "alice"}));
    put(&*store, v1.clone()).await;
    let failing = Condition::All(vec![
        Condition::Exists,
        Condition::AttrEquals("rev".into(), json!(1)),
        Condition::AttrEquals("owner".into(), json!("bob")),
    ]);
    assert_condition_failed(store.put(item(&key, json!({"rev": 2})), Some(failing)).await, "put with one failing part");
    assert_eq!(get(&*store, &key).await, Some(v1));
    let passing = Condition::All(vec![
        Condition::Exists,
        Condition::AttrEquals("rev".into(), json!(1)),
        Condition::AttrEquals("owner".into(), json!("alice")),
        Condition::AttrNotExists("deleted".into()),
    ]);
    let v2 = item(&key, json!({"rev": 2, "owner": "alice"}));
    store.put(v2.clone(), Some(passing)).await.unwrap();
    assert_eq!(get(&*store, &key).await, Some(v2));
}

// ----------------------------------------------------------------------------------------------
// update

/// Updating an absent item creates it with its key attributes (and no `type` unless set) and
/// returns the new item.
pub async fn update_creates_absent_item(store: Arc<dyn ItemStore>) {
    let s = Space::new("update_creates_absent_item");
    let key = s.key("A", "X");
    let got =
        store.update(&key, Update::new().set("name", "x").set_if_absent("first", "f").add("n", 2), None).await.unwrap();
    let expected = item(&key, json!({"name": "x", "first": "f", "n": 2}));
    assert_eq!(got, expected);
    assert_eq!(got.item_type(), None);
    assert_eq!(get(&*store, &key).await, Some(expected));
}

/// `set` overwrites, `set_if_absent` only fills missing attributes; other attributes stay.
pub async fn update_set_and_set_if_absent(store: Arc<dyn ItemStore>) {
    let s = Space::new("update_set_and_set_if_absent");
    let key = s.key("A", "X");
    put(&*store, item(&key, json!({"type": "T", "a": 1, "b": "keep", "c": [1]}))).await;
    let got = store
        .update(
            &key,
            Update::new().set("a", 2).set("m", json!({"k": "v"})).set_if_absent("b", "other").set_if_absent("d", 4),
            None,
        )
        .await
        .unwrap();
    let expected = item(&key, json!({"type": "T", "a": 2, "b": "keep", "c": [1], "d": 4, "m": {"k": "v"}}));
    assert_eq!(got, expected);
    assert_eq!(get(&*store, &key).await, Some(expected));
}

/// `remove` drops attributes; removing an absent attribute is fine.
pub async fn update_remove(store: Arc<dyn ItemStore>) {
    let s = Space::new("update_remove");
    let key = s.key("A", "X");
    put(&*store, item(&key, json!({"type": "T", "a": 1, "b": 2, "c": 3}))).await;
    let got = store.update(&key, Update::new().remove("b").remove("missing").set("d", 4), None).await.unwrap();
    let expected = item(&key, json!({"type": "T", "a": 1, "c": 3, "d": 4}));
    assert_eq!(got, expected);
    assert_eq!(get(&*store, &key).await, Some(expected));
}

/// `add` counts from 0 on absent items and attributes and returns the new value.
pub async fn update_add_counters(store: Arc<dyn ItemStore>) {
    let s = Space::new("update_add_counters");
    let key = s.key("A", "COUNTER");
    assert_eq!(store.add(&key, "n", 1).await.unwrap(), 1);
    assert_eq!(store.add(&key, "n", 5).await.unwrap(), 6);
    assert_eq!(store.add(&key, "n", -10).await.unwrap(), -4);
    assert_eq!(get(&*store, &key).await, Some(item(&key, json!({"n": -4}))));

    let other = s.key("A", "ITEM");
    put(&*store, item(&other, json!({"type": "T", "name": "x"}))).await;
    let got = store.update(&other, Update::new().add("downloads", 3).add("versions", 1), None).await.unwrap();
    assert_eq!(got, item(&other, json!({"type": "T", "name": "x", "downloads": 3, "versions": 1})));
    assert_eq!(store.add(&other, "downloads", 0).await.unwrap(), 3);
}

/// `add` on a non-number attribute is an invalid request and changes nothing.
pub async fn update_add_non_number_is_invalid(store: Arc<dyn ItemStore>) {
    let s = Space::new("update_add_non_number_is_invalid");
    let key = s.key("A", "X");
    let original = item(&key, json!({"type": "T", "s": "text", "n": 1}));
    put(&*store, original.clone()).await;
    assert_invalid(store.update(&key, Update::new().set("other", 1).add("s", 1), None).await, "add on a string");
    assert_eq!(get(&*store, &key).await, Some(original));
}

/// A failed update condition changes nothing (and creates nothing).
pub async fn update_conditions(store: Arc<dyn ItemStore>) {
    let s = Space::new("update_conditions");
    let key = s.key("A", "X");
    assert_condition_failed(
        store.update(&key, Update::new().set("a", 1), Some(Condition::Exists)).await,
        "update absent",
    );
    assert_eq!(get(&*store, &key).await, None);

    let created = store.update(&key, Update::new().set("rev", 1), Some(Condition::NotExists)).await.unwrap();
    assert_eq!(created, item(&key, json!({"rev": 1})));
    assert_condition_failed(
        store.update(&key, Update::new().set("rev", 5), Some(Condition::NotExists)).await,
        "update with NotExists on present item",
    );

    let bump = |from: i64| Some(Condition::AttrEquals("rev".into(), json!(from)));
    let got = store.update(&key, Update::new().set("rev", 2).add("n", 1), bump(1)).await.unwrap();
    assert_eq!(got, item(&key, json!({"rev": 2, "n": 1})));
    assert_condition_failed(store.update(&key, Update::new().set("rev", 2).add("n", 1), bump(1)).await, "stale rev");
    assert_eq!(get(&*store, &key).await, Some(got.clone()));

    assert_condition_failed(
        store.update(&key, Update::new().set("lock", 1), Some(Condition::AttrNotExists("rev".into()))).await,
        "AttrNotExists on present attribute",
    );
    let locked =
        store.update(&key, Update::new().set("lock", 1), Some(Condition::AttrNotExists("lock".into()))).await.unwrap();
    assert_eq!(locked, item(&key, json!({"rev": 2, "n": 1, "lock": 1})));
    assert_eq!(get(&*store, &key).await, Some(locked));
}

/// Setting index attributes puts an item into an index; removing them takes it out (sparse index).
pub async fn update_moves_item_in_and_out_of_index(store: Arc<dyn ItemStore>) {
    let s = Space::new("update_moves_item_in_and_out_of_index");
    let key = s.key("A", "X");
    let index_pk = s.pk("G");
    let on_index = || Query::on_index(Index::Listing, index_pk.clone());
    put(&*store, item(&key, json!({"type": "T"}))).await;
    assert!(query_pages(&*store, on_index()).await.is_empty());

    store.update(&key, Update::new().set("gsi2pk", index_pk.clone()).set("gsi2sk", "b"), None).await.unwrap();
    let found = query_pages(&*store, on_index()).await;
    assert_eq!(keys(&found), vec![key.clone()]);
    assert_eq!(found[0].get_str("type"), Some("T"));

    store.update(&key, Update::new().set("gsi2sk", "c"), None).await.unwrap();
    assert!(query_pages(&*store, on_index().prefix("b")).await.is_empty());
    assert_eq!(keys(&query_pages(&*store, on_index().prefix("c")).await), vec![key.clone()]);

    store.update(&key, Update::new().remove("gsi2pk").remove("gsi2sk"), None).await.unwrap();
    assert!(query_pages(&*store, on_index()).await.is_empty());
    assert_eq!(get(&*store, &key).await, Some(item(&key, json!({"type": "T"}))));
}

// ----------------------------------------------------------------------------------------------
// delete

/// Deleting removes the item; deleting an absent item succeeds.
pub async fn delete_without_condition(store: Arc<dyn ItemStore>) {
    let s = Space::new("delete_without_condition");
    let key = s.key("A", "X");
    let neighbour = item(&s.key("A", "Y"), json!({}));
    put(&*store, item(&key, json!({"a": 1}))).await;
    put(&*store, neighbour.clone()).await;
    store.delete(&key, None).await.unwrap();
    assert_eq!(get(&*store, &key).await, None);
    assert_eq!(get(&*store, &s.key("A", "Y")).await, Some(neighbour));
    store.delete(&key, None).await.unwrap();
    store.delete(&s.key("NEVER", "X"), None).await.unwrap();
}

/// A conditional delete only happens when its condition holds.
pub async fn delete_with_condition(store: Arc<dyn ItemStore>) {
    let s = Space::new("delete_with_condition");
    let key = s.key("A", "X");
    assert_condition_failed(store.delete(&key, Some(Condition::Exists)).await, "delete absent with Exists");
    store.delete(&key, Some(Condition::NotExists)).await.unwrap();
    assert_eq!(get(&*store, &key).await, None);

    let original = item(&key, json!({"rev": 3}));
    put(&*store, original.clone()).await;
    assert_condition_failed(
        store.delete(&key, Some(Condition::AttrEquals("rev".into(), json!(2)))).await,
        "delete with stale rev",
    );
    assert_condition_failed(store.delete(&key, Some(Condition::NotExists)).await, "delete present with NotExists");
    assert_eq!(get(&*store, &key).await, Some(original));
    store.delete(&key, Some(Condition::AttrEquals("rev".into(), json!(3)))).await.unwrap();
    assert_eq!(get(&*store, &key).await, None);
}

// ----------------------------------------------------------------------------------------------
// query

/// Every sort-key condition selects exactly the right items of exactly one partition, forward and
/// backward.
pub async fn query_sort_key_conditions(store: Arc<dyn ItemStore>) {
    let s = Space::new("query_sort_key_conditions");
    let all = ["A#1", "A#2", "A#3", "B#1", "B#2", "C"];
    for sk in all {
        put(&*store, item(&s.key("P", sk), json!({"type": "T"}))).await;
    }
    // A partition whose key starts with the queried one must not leak in.
    put(&*store, item(&s.key("P2", "A#1"), json!({}))).await;
    put(&*store, item(&s.key("Q", "A#1"), json!({}))).await;

    let pk = s.pk("P");
    let cases: Vec<(SortKey, Vec<&str>)> = vec![
        (SortKey::Any, all.to_vec()),
        (SortKey::Prefix("A#".into()), vec!["A#1", "A#2", "A#3"]),
        (SortKey::Prefix("B".into()), vec!["B#1", "B#2"]),
        (SortKey::Prefix("C".into()), vec!["C"]),
        (SortKey::Prefix("Z".into()), vec![]),
        (SortKey::Between("A#2".into(), "B#1".into()), vec!["A#2", "A#3", "B#1"]),
        (SortKey::Between("A#".into(), "A#9".into()), vec!["A#1", "A#2", "A#3"]),
        (SortKey::Between("D".into(), "E".into()), vec![]),
        (SortKey::From("B#".into()), vec!["B#1", "B#2", "C"]),
        (SortKey::From("B#2".into()), vec!["B#2", "C"]),
        (SortKey::UpTo("A#3".into()), vec!["A#1", "A#2", "A#3"]),
        (SortKey::UpTo("A".into()), vec![]),
    ];
    for (cond, expected) in cases {
        let forward = query_pages(&*store, Query::partition(pk.clone()).sort_key(cond.clone())).await;
        assert_eq!(sks(&forward), expected, "forward {cond:?}");
        assert!(forward.iter().all(|i| i.get_str(PK) == Some(pk.as_str())), "foreign partition in {cond:?}");
        let backward = query_pages(&*store, Query::partition(pk.clone()).sort_key(cond.clone()).backward()).await;
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(sks(&backward), reversed, "backward {cond:?}");
    }
    // Query results are whole items.
    let one = query_pages(&*store, Query::partition(pk).prefix("C")).await;
    assert_eq!(one, vec![item(&s.key("P", "C"), json!({"type": "T"}))]);
}

/// Sort keys order byte-wise (UTF-8), in both directions.
pub async fn query_byte_wise_order(store: Arc<dyn ItemStore>) {
    let s = Space::new("query_byte_wise_order");
    let mut all: Vec<String> =
        ["a", "B", "_", "Z", "\u{e9}", "\u{fffd}", "\u{1F600}", "A", "AA", "A#", "0", "~", "A\u{e9}", "Ab"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for sk in &all {
        put(&*store, item(&s.key("P", sk), json!({}))).await;
    }
    // `String`'s order is byte-wise.
    all.sort();
    let pk = s.pk("P");
    assert_eq!(sks(&query_pages(&*store, Query::partition(pk.clone())).await), all);
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(sks(&query_pages(&*store, Query::partition(pk.clone()).backward()).await), reversed);
    assert_eq!(
        sks(&query_pages(&*store, Query::partition(pk.clone()).prefix("A")).await),
        vec!["A", "A#", "AA", "Ab", "A\u{e9}"]
    );
    assert_eq!(sks(&query_pages(&*store, Query::partition(pk.clone()).prefix("\u{e9}")).await), vec!["\u{e9}"]);
    assert_eq!(
        sks(&query_pages(&*store, Query::partition(pk).sort_key(SortKey::From("~".into()))).await),
        vec!["~", "\u{e9}", "\u{fffd}", "\u{1F600}"]
    );
}

/// Paging with a limit returns every item exactly once, in order, with every page within the
/// limit, in both directions and with a sort-key condition.
pub async fn query_paging_returns_every_item_once(store: Arc<dyn ItemStore>) {
    let s = Space::new("query_paging_returns_every_item_once");
    let expected: Vec<String> = (0..23).map(|i| format!("I#{i:03}")).collect();
    for sk in &expected {
        put(&*store, item(&s.key("P", sk), json!({"n": 1}))).await;
    }
    for sk in ["H#1", "J#1"] {
        put(&*store, item(&s.key("P", sk), json!({}))).await;
    }
    let pk = s.pk("P");
    let mut reversed = expected.clone();
    reversed.reverse();
    for limit in [1, 4, 22, 23, 24, 100] {
        let q = Query::partition(pk.clone()).prefix("I#").limit(limit);
        assert_eq!(sks(&query_pages(&*store, q.clone()).await), expected, "forward, limit {limit}");
        assert_eq!(sks(&query_pages(&*store, q.backward()).await), reversed, "backward, limit {limit}");
    }
    let between = Query::partition(pk.clone()).between("I#005", "I#014").limit(3);
    assert_eq!(sks(&query_pages(&*store, between.clone()).await), expected[5..=14].to_vec());
    let mut back = expected[5..=14].to_vec();
    back.reverse();
    assert_eq!(sks(&query_pages(&*store, between.backward()).await), back);
    // The first page alone holds exactly `limit` items and a cursor.
    let first = store.query(&Query::partition(pk).prefix("I#").limit(5)).await.unwrap();
    assert_eq!(sks(&first.items), expected[..5].to_vec());
    assert!(first.cursor.is_some());
}

/// An empty partition returns no items and no cursor; a garbage cursor is an invalid request.
pub async fn query_empty_and_invalid_cursor(store: Arc<dyn ItemStore>) {
    let s = Space::new("query_empty_and_invalid_cursor");
    for q in [
        Query::partition(s.pk("EMPTY")),
        Query::partition(s.pk("EMPTY")).limit(5),
        Query::on_index(Index::ByOwner, s.pk("EMPTY")).limit(5),
    ] {
        let page = store.query(&q).await.unwrap();
        assert_eq!(page.items, Vec::<Item>::new());
        assert_eq!(page.cursor, None);
    }
    put(&*store, item(&s.key("P", "X"), json!({}))).await;
    assert_invalid(
        store.query(&Query::partition(s.pk("P")).cursor(Some("not a cursor!".into()))).await,
        "query with a garbage cursor",
    );
}

/// Index queries return whole items of any table partition, ordered by the index sort key; items
/// without the index attributes are not in the index.
pub async fn query_index_sparse(store: Arc<dyn ItemStore>) {
    let s = Space::new("query_index_sparse");
    let g1 = s.pk("G1");
    let g2 = s.pk("G2");
    // Items in several table partitions share one index partition.
    let indexed = [("A", "X", "2024-03"), ("B", "X", "2024-01"), ("C", "Y", "2024-02"), ("A", "Z", "2023-12")];
    for (p, sk, isk) in indexed {
        put(
            &*store,
            item(&s.key(p, sk), json!({"type": "T", "label": isk})).with_index(Index::ByOwner, g1.clone(), isk),
        )
        .await;
    }
    // Not in any index.
    put(&*store, item(&s.key("A", "PLAIN"), json!({"type": "T"}))).await;
    // Only in the second index.
    put(&*store, item(&s.key("D", "X"), json!({"type": "U"})).with_index(Index::Listing, g2.clone(), "k")).await;
    // In another partition of the first index.
    put(&*store, item(&s.key("E", "X"), json!({})).with_index(Index::ByOwner, s.pk("OTHER"), "2024-01")).await;

    let found = query_pages(&*store, Query::on_index(Index::ByOwner, g1.clone())).await;
    assert_eq!(keys(&found), vec![s.key("A", "Z"), s.key("B", "X"), s.key("C", "Y"), s.key("A", "X")], "gsi1 forward");
    assert_eq!(
        found[0],
        item(&s.key("A", "Z"), json!({"type": "T", "label": "2023-12"})).with_index(
            Index::ByOwner,
            g1.clone(),
            "2023-12"
        )
    );
    let back = query_pages(&*store, Query::on_index(Index::ByOwner, g1.clone()).backward()).await;
    assert_eq!(keys(&back), vec![s.key("A", "X"), s.key("C", "Y"), s.key("B", "X"), s.key("A", "Z")], "gsi1 backward");
    let in_2024 = query_pages(&*store, Query::on_index(Index::ByOwner, g1.clone()).prefix("2024-")).await;
    assert_eq!(keys(&in_2024), vec![s.key("B", "X"), s.key("C", "Y"), s.key("A", "X")]);
    let range = query_pages(&*store, Query::on_index(Index::ByOwner, g1.clone()).between("2024-01", "2024-02")).await;
    assert_eq!(keys(&range), vec![s.key("B", "X"), s.key("C", "Y")]);
    let from =
        query_pages(&*store, Query::on_index(Index::ByOwner, g1.clone()).sort_key(SortKey::From("2024-02".into())))
            .await;
    assert_eq!(keys(&from), vec![s.key("C", "Y"), s.key("A", "X")]);
    let upto =
        query_pages(&*store, Query::on_index(Index::ByOwner, g1.clone()).sort_key(SortKey::UpTo("2024-01".into())))
            .await;
    assert_eq!(keys(&upto), vec![s.key("A", "Z"), s.key("B", "X")]);

    let second = query_pages(&*store, Query::on_index(Index::Listing, g2.clone())).await;
    assert_eq!(second, vec![item(&s.key("D", "X"), json!({"type": "U"})).with_index(Index::Listing, g2.clone(), "k")]);
    // The index partition key is not a table partition key and vice versa.
    assert!(query_pages(&*store, Query::on_index(Index::Listing, g1)).await.is_empty());
    assert!(query_pages(&*store, Query::partition(g2)).await.is_empty());
    assert!(query_pages(&*store, Query::on_index(Index::ByOwner, s.pk("A"))).await.is_empty());
}

/// Paging through an index where several items share one index sort key returns every item
/// exactly once, in index sort-key order.
pub async fn query_index_paging_with_duplicate_sort_keys(store: Arc<dyn ItemStore>) {
    let s = Space::new("query_index_paging_with_duplicate_sort_keys");
    for (index, name) in [(Index::ByOwner, "G1"), (Index::Listing, "G2")] {
        let ipk = s.pk(name);
        let mut all = BTreeSet::new();
        for i in 0..12 {
            let key = s.key(&format!("P{}", i % 4), &format!("{name}#{i:02}"));
            let isk = format!("s{}", i % 3);
            put(&*store, item(&key, json!({"i": i})).with_index(index, ipk.clone(), isk)).await;
            all.insert(key);
        }
        for limit in [1, 2, 5, 12, 13] {
            for forward in [true, false] {
                let mut q = Query::on_index(index, ipk.clone()).limit(limit);
                q.forward = forward;
                let found = query_pages(&*store, q).await;
                let found_keys = keys(&found);
                assert_eq!(found_keys.len(), 12, "{name} limit {limit} forward {forward}: {found_keys:?}");
                assert_eq!(found_keys.iter().cloned().collect::<BTreeSet<_>>(), all, "{name} limit {limit}");
                let isks: Vec<&str> = found.iter().map(|i| i.get_str(index.sk_attr()).unwrap_or_default()).collect();
                let mut sorted = isks.clone();
                sorted.sort_unstable();
                if !forward {
                    sorted.reverse();
                }
                assert_eq!(isks, sorted, "{name} limit {limit} forward {forward}: index order");
            }
        }
        // With a sort-key condition as well.
        let found = query_pages(&*store, Query::on_index(index, ipk.clone()).between("s1", "s2").limit(3)).await;
        assert_eq!(found.len(), 8, "{name} between");
        assert_eq!(keys(&found).into_iter().collect::<BTreeSet<_>>().len(), 8, "{name} between: duplicates");
        let found = query_pages(&*store, Query::on_index(index, ipk).prefix("s0").limit(1).backward()).await;
        assert_eq!(found.len(), 4, "{name} prefix");
        assert_eq!(keys(&found).into_iter().collect::<BTreeSet<_>>().len(), 4, "{name} prefix: duplicates");
    }
}

// ----------------------------------------------------------------------------------------------
// transactions

/// A transaction whose conditions all hold applies every operation.
pub async fn transact_all_succeed(store: Arc<dyn ItemStore>) {
    let s = Space::new("transact_all_succeed");
    let existing = s.key("A", "EXISTING");
    let doomed = s.key("A", "DOOMED");
    let checked = s.key("B", "CHECKED");
    let fresh = s.key("A", "NEW");
    let created = s.key("C", "CREATED");
    put(&*store, item(&existing, json!({"type": "T", "n": 1}))).await;
    put(&*store, item(&doomed, json!({"x": 1}))).await;
    put(&*store, item(&checked, json!({"v": "ok"}))).await;

    store
        .transact(vec![
            TxOp::Put { item: item(&fresh, json!({"type": "N"})), condition: Some(Condition::NotExists) },
            TxOp::Update {
                key: existing.clone(),
                update: Update::new().add("n", 2).set("s", "y"),
                condition: Some(Condition::AttrEquals("n".into(), json!(1))),
            },
            TxOp::Delete { key: doomed.clone(), condition: Some(Condition::Exists) },
            TxOp::Check { key: checked.clone(), condition: Condition::AttrEquals("v".into(), json!("ok")) },
            TxOp::Update { key: created.clone(), update: Update::new().set("a", 1), condition: None },
        ])
        .await
        .unwrap();

    assert_eq!(get(&*store, &fresh).await, Some(item(&fresh, json!({"type": "N"}))));
    assert_eq!(get(&*store, &existing).await, Some(item(&existing, json!({"type": "T", "n": 3, "s": "y"}))));
    assert_eq!(get(&*store, &doomed).await, None);
    assert_eq!(get(&*store, &checked).await, Some(item(&checked, json!({"v": "ok"}))));
    assert_eq!(get(&*store, &created).await, Some(item(&created, json!({"a": 1}))));
}

/// One failing condition cancels the whole transaction, and the reasons point at it exactly.
pub async fn transact_condition_failure_cancels_everything(store: Arc<dyn ItemStore>) {
    let s = Space::new("transact_condition_failure_cancels_everything");
    let existing = s.key("A", "EXISTING");
    let doomed = s.key("A", "DOOMED");
    let fresh = s.key("A", "NEW");
    let other = s.key("B", "OTHER");
    put(&*store, item(&existing, json!({"n": 1}))).await;
    put(&*store, item(&doomed, json!({"x": 1}))).await;

    let err = store
        .transact(vec![
            TxOp::Put { item: item(&fresh, json!({})), condition: Some(Condition::NotExists) },
            TxOp::Update { key: existing.clone(), update: Update::new().add("n", 1), condition: None },
            TxOp::Delete { key: doomed.clone(), condition: Some(Condition::AttrEquals("x".into(), json!(2))) },
            TxOp::Put { item: item(&other, json!({})), condition: None },
        ])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::TransactionCanceled { reasons: vec![None, None, Some(CancelReason::ConditionFailed), None] }
    );
    assert!(err.is_condition_failure());
    assert!(err.failed_condition_at(2));
    assert!(!err.failed_condition_at(0));

    assert_eq!(get(&*store, &fresh).await, None);
    assert_eq!(get(&*store, &existing).await, Some(item(&existing, json!({"n": 1}))));
    assert_eq!(get(&*store, &doomed).await, Some(item(&doomed, json!({"x": 1}))));
    assert_eq!(get(&*store, &other).await, None);
}

/// Every failing condition of a cancelled transaction is reported.
pub async fn transact_reports_every_failed_condition(store: Arc<dyn ItemStore>) {
    let s = Space::new("transact_reports_every_failed_condition");
    let taken = s.key("A", "TAKEN");
    let absent = s.key("A", "ABSENT");
    let fine = s.key("A", "FINE");
    put(&*store, item(&taken, json!({}))).await;
    let err = store
        .transact(vec![
            TxOp::Put { item: item(&taken, json!({"v": 2})), condition: Some(Condition::NotExists) },
            TxOp::Put { item: item(&fine, json!({})), condition: Some(Condition::NotExists) },
            TxOp::Update { key: absent.clone(), update: Update::new().set("v", 1), condition: Some(Condition::Exists) },
        ])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::TransactionCanceled {
            reasons: vec![Some(CancelReason::ConditionFailed), None, Some(CancelReason::ConditionFailed)]
        }
    );
    assert_eq!(get(&*store, &taken).await, Some(item(&taken, json!({}))));
    assert_eq!(get(&*store, &fine).await, None);
    assert_eq!(get(&*store, &absent).await, None);
}

/// `Check` operations guard a transaction without writing.
pub async fn transact_check_ops(store: Arc<dyn ItemStore>) {
    let s = Space::new("transact_check_ops");
    let user = s.key("USER", "alice");
    let marker = s.key("NAME", "alice");
    let token = s.key("USER", "TOKEN#1");
    put(&*store, item(&user, json!({"active": true}))).await;

    store
        .transact(vec![
            TxOp::Check { key: user.clone(), condition: Condition::AttrEquals("active".into(), json!(true)) },
            TxOp::Check { key: marker.clone(), condition: Condition::NotExists },
            TxOp::Put { item: item(&token, json!({})), condition: None },
        ])
        .await
        .unwrap();
    assert_eq!(get(&*store, &token).await, Some(item(&token, json!({}))));
    assert_eq!(get(&*store, &marker).await, None, "a check must not create its item");
    assert_eq!(get(&*store, &user).await, Some(item(&user, json!({"active": true}))));

    let second = s.key("USER", "TOKEN#2");
    let err = store
        .transact(vec![
            TxOp::Put { item: item(&second, json!({})), condition: None },
            TxOp::Check { key: user.clone(), condition: Condition::AttrNotExists("active".into()) },
            TxOp::Check { key: marker.clone(), condition: Condition::Exists },
        ])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::TransactionCanceled {
            reasons: vec![None, Some(CancelReason::ConditionFailed), Some(CancelReason::ConditionFailed)]
        }
    );
    assert_eq!(get(&*store, &second).await, None);
}

/// Two operations on one item in one transaction are an invalid request; nothing is written.
pub async fn transact_same_key_twice_is_invalid(store: Arc<dyn ItemStore>) {
    let s = Space::new("transact_same_key_twice_is_invalid");
    let key = s.key("A", "X");
    let other = s.key("A", "Y");
    assert_invalid(
        store
            .transact(vec![
                TxOp::Put { item: item(&other, json!({})), condition: None },
                TxOp::Put { item: item(&key, json!({})), condition: None },
                TxOp::Update { key: key.clone(), update: Update::new().add("n", 1), condition: None },
            ])
            .await,
        "put and update of one item",
    );
    assert_invalid(
        store
            .transact(vec![
                TxOp::Put { item: item(&key, json!({})), condition: None },
                TxOp::Check { key: key.clone(), condition: Condition::NotExists },
            ])
            .await,
        "put and check of one item",
    );
    assert_eq!(get(&*store, &key).await, None);
    assert_eq!(get(&*store, &other).await, None);
}

/// A transaction may hold [`MAX_TX_OPS`] operations, not one more.
pub async fn transact_op_limit(store: Arc<dyn ItemStore>) {
    let s = Space::new("transact_op_limit");
    let ops = |partition: &str, n: usize| -> Vec<TxOp> {
        (0..n)
            .map(|i| TxOp::Put { item: item(&s.key(partition, &format!("{i:03}")), json!({"i": i})), condition: None })
            .collect()
    };
    assert_invalid(store.transact(ops("TOO_MANY", MAX_TX_OPS + 1)).await, "too many operations");
    assert!(query_pages(&*store, Query::partition(s.pk("TOO_MANY"))).await.is_empty());
    store.transact(ops("MAX", MAX_TX_OPS)).await.unwrap();
    assert_eq!(query_pages(&*store, Query::partition(s.pk("MAX")).limit(40)).await.len(), MAX_TX_OPS);
}

// ----------------------------------------------------------------------------------------------
// concurrency

/// `add` from 20 concurrent tasks loses no increment, and every call sees a distinct new value.
pub async fn concurrent_add_is_exact(store: Arc<dyn ItemStore>) {
    let s = Space::new("concurrent_add_is_exact");
    let key = s.key("A", "COUNTER");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            let key = key.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..5 {
                    seen.push(store.add(&key, "n", 1).await.unwrap());
                }
                seen
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=100).collect::<Vec<i64>>());
    assert_eq!(get(&*store, &key).await.and_then(|i| i.get_i64("n")), Some(100));
}

/// Of 20 concurrent `NotExists` puts on one key exactly one wins, and its item is stored.
pub async fn concurrent_put_if_not_exists_has_one_winner(store: Arc<dyn ItemStore>) {
    let s = Space::new("concurrent_put_if_not_exists_has_one_winner");
    let key = s.key("A", "MARKER");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            let it = item(&key, json!({"writer": i}));
            tokio::spawn(async move { (i, store.put(it, Some(Condition::NotExists)).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (i, Ok(())) => winners.push(i),
            (_, Err(StoreError::ConditionFailed)) => {}
            (i, Err(e)) => panic!("writer {i}: unexpected error {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(get(&*store, &key).await, Some(item(&key, json!({"writer": winners[0]}))));
}

/// Optimistic locking with `AttrEquals` on a revision: 10 concurrent writers that retry on
/// condition failure all get through exactly once.
pub async fn concurrent_optimistic_updates(store: Arc<dyn ItemStore>) {
    let s = Space::new("concurrent_optimistic_updates");
    let key = s.key("A", "DOC");
    put(&*store, item(&key, json!({"rev": 0, "writers": []}))).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = Arc::clone(&store);
            let key = key.clone();
            tokio::spawn(async move {
                for _ in 0..1_000 {
                    let current = store.get(&key).await.unwrap().unwrap();
                    let rev = current.get_i64("rev").unwrap();
                    let mut writers = current.get("writers").cloned().unwrap();
                    writers.as_array_mut().unwrap().push(json!(i));
                    let update = Update::new().set("rev", rev + 1).set("writers", writers);
                    match store.update(&key, update, Some(Condition::AttrEquals("rev".into(), json!(rev)))).await {
                        Ok(_) => return,
                        Err(StoreError::ConditionFailed) => tokio::task::yield_now().await,
                        Err(e) => panic!("writer {i}: {e:?}"),
                    }
                }
                panic!("writer {i} never got through");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let done = get(&*store, &key).await.unwrap();
    assert_eq!(done.get_i64("rev"), Some(10));
    let mut writers: Vec<i64> =
        done.get("writers").unwrap().as_array().unwrap().iter().filter_map(Value::as_i64).collect();
    writers.sort_unstable();
    assert_eq!(writers, (0..10).collect::<Vec<i64>>());
}

// ----------------------------------------------------------------------------------------------
// macro

/// Expands into a module with one `#[tokio::test]` per conformance test.
///
/// The argument is an expression (it may `.await`) evaluated once per test that yields an
/// [`ItemStoreFixture`]: an `Arc<dyn ItemStore>`, or `(Arc<dyn ItemStore>, guard)` where the guard
/// (a temporary directory, an emulator handle) lives until the test ends. An optional first
/// argument names the generated module (default `item_store_conformance`). The calling crate needs
/// `tokio` with the `macros` and `rt-multi-thread` features.
///
/// ```ignore
/// raktar_core::item_store_conformance!(sqlite, {
///     let dir = tempfile::tempdir().unwrap();
///     let store = SqliteItemStore::open(&dir.path().join("items.db")).unwrap();
///     (std::sync::Arc::new(store) as std::sync::Arc<dyn raktar_core::store::item::ItemStore>, dir)
/// });
/// ```
#[macro_export]
macro_rules! item_store_conformance {
    ($module:ident, $make:expr) => {
        $crate::__item_store_conformance_tests!(
            $module, $make;
            get_absent,
            put_get_roundtrip,
            get_relaxed_reads_the_item,
            put_replaces_whole_item,
            put_rejects_invalid_items,
            put_condition_not_exists,
            put_condition_exists,
            put_condition_attr_equals,
            put_condition_attr_not_exists,
            put_condition_all,
            update_creates_absent_item,
            update_set_and_set_if_absent,
            update_remove,
            update_add_counters,
            update_add_non_number_is_invalid,
            update_conditions,
            update_moves_item_in_and_out_of_index,
            delete_without_condition,
            delete_with_condition,
            query_sort_key_conditions,
            query_byte_wise_order,
            query_paging_returns_every_item_once,
            query_empty_and_invalid_cursor,
            query_index_sparse,
            query_index_paging_with_duplicate_sort_keys,
            transact_all_succeed,
            transact_condition_failure_cancels_everything,
            transact_reports_every_failed_condition,
            transact_check_ops,
            transact_same_key_twice_is_invalid,
            transact_op_limit,
            concurrent_add_is_exact,
            concurrent_put_if_not_exists_has_one_winner,
            concurrent_optimistic_updates,
            change_marker_moves_on_every_write,
            purge_expired_keeps_live_items,
        );
    };
    ($make:expr) => {
        $crate::item_store_conformance!(item_store_conformance, $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __item_store_conformance_tests {
    ($module:ident, $make:expr; $($name:ident),* $(,)?) => {
        #[allow(clippy::unwrap_used, clippy::expect_used)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fixture = $make;
                    let store = $crate::testkit::item::ItemStoreFixture::item_store(&fixture);
                    $crate::testkit::item::$name(store).await;
                }
            )*

            #[test]
            fn macro_covers_the_whole_suite() {
                let suite: Vec<&str> = $crate::testkit::item::all_tests().into_iter().map(|(name, _)| name).collect();
                assert_eq!(suite, vec![$(stringify!($name)),*]);
            }
        }
    };
}

// ----------------------------------------------------------------------------------------------
// change marker

/// A driver with a change marker moves it on every kind of successful write (callers trust
/// caches only while it is unchanged). Drivers answering `None` opt out of caching.
pub async fn change_marker_moves_on_every_write(store: Arc<dyn ItemStore>) {
    let s = Space::new("change_marker_moves_on_every_write");
    let Some(mut last) = store.change_marker() else { return };
    let key = s.key("A", "ITEM");
    let mut check = |what: &str| {
        let now = store.change_marker().expect("the marker stays available");
        assert_ne!(now, last, "the change marker did not move after {what}");
        last = now;
    };
    put(&*store, item(&key, json!({"n": 1}))).await;
    check("put");
    store.update(&key, Update::new().set("n", 2), None).await.unwrap();
    check("update");
    store.add(&key, "n", 1).await.unwrap();
    check("add");
    let other = s.key("A", "OTHER");
    store.transact(vec![TxOp::Put { item: item(&other, json!({})), condition: None }]).await.unwrap();
    check("transact");
    store.delete(&key, None).await.unwrap();
    check("delete");
}

// ----------------------------------------------------------------------------------------------
// expiry

/// `purge_expired` never deletes an item that has not expired (later expiry, no `ttl`, a `ttl`
/// that is not a number) and honours its limit; a driver that purges (any count above zero)
/// deletes expired items only. Drivers that leave expiry to the backend delete nothing.
pub async fn purge_expired_keeps_live_items(store: Arc<dyn ItemStore>) {
    let s = Space::new("purge_expired_keeps_live_items");
    let now = 1_900_000_000_i64;
    let expired: Vec<Key> = (0..3).map(|i| s.key("E", &format!("{i}"))).collect();
    for (i, key) in expired.iter().enumerate() {
        put(&*store, item(key, json!({ TTL: now - 100 + i as i64 }))).await;
    }
    let at_now = s.key("E", "AT_NOW");
    put(&*store, item(&at_now, json!({ TTL: now }))).await;
    let live = [
        (s.key("L", "LATER"), json!({ TTL: now + 1 })),
        (s.key("L", "NO_TTL"), json!({ "x": 1 })),
        (s.key("L", "TEXT_TTL"), json!({ TTL: "1" })),
    ];
    for (key, attrs) in &live {
        put(&*store, item(key, attrs.clone())).await;
    }
    assert!(matches!(store.purge_expired(now, 0).await, Err(StoreError::Invalid(_)) | Ok(0)));
    let first = store.purge_expired(now, 1).await.unwrap();
    assert!(first <= 1, "limit 1 deleted {first} items");
    let mut purged = first;
    loop {
        let n = store.purge_expired(now, 100).await.unwrap();
        purged += n;
        if n < 100 {
            break;
        }
    }
    for (key, attrs) in &live {
        assert_eq!(get(&*store, key).await, Some(item(key, attrs.clone())), "a live item was purged");
    }
    if purged > 0 {
        for key in expired.iter().chain([&at_now]) {
            assert_eq!(get(&*store, key).await, None, "expired item {key:?} survived a purge");
        }
    }
}

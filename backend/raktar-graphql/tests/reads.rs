//! Store reads per query are bounded (DataLoaders, no N+1): counted with `CountingItemStore` on the
//! embedded store, for the crate page and a 20-result search page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, Krate};
use raktar_core::domain::{CrateName, CrateVersion};
use raktar_core::model::Role;
use serde_json::json;

/// The web UI's crate page: the crate, its versions, owners, README and 90 days of downloads
/// (the query `cargo xtask bench` measures).
const CRATE_PAGE: &str = include_str!("../../../fixtures/graphql/crate-page.graphql");

/// The crate page with the features and dependencies of every version.
const CRATE_PAGE_ALL_VERSIONS: &str = include_str!("../../../fixtures/graphql/crate-page-all-versions.graphql");

/// A search results page of 20 (the query `cargo xtask bench` measures).
const SEARCH_PAGE: &str = include_str!("../../../fixtures/graphql/search-page.graphql");

/// The same page also showing each hit's owners and total downloads.
const SEARCH_PAGE_WITH_OWNERS: &str = r#"
query Search($q: String!) {
  crates(query: $q, first: 20) {
    totalCount
    nodes { name description maxVersion owners { login } downloads { total } }
  }
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crate_page_and_search_page_reads_are_bounded() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    let bob = fx.user("bob", Role::Member).await;

    // `big` gets 60 versions (two publishers, two owners); `small` one; 30 dependents of `big`.
    for minor in 0..55 {
        fx.publish(&alice, &Krate::new("big", &format!("1.{minor}.0")).keyword("core").readme("# big\n")).await;
    }
    fx.registry.change_owners(&alice, &CrateName::parse("big").unwrap(), &["bob".into()], true).await.unwrap();
    for minor in 55..60 {
        fx.publish(&bob, &Krate::new("big", &format!("1.{minor}.0")).readme("# big, by bob\n")).await;
    }
    fx.publish(&alice, &Krate::new("small", "0.1.0").readme("# small\n")).await;
    for i in 0..30 {
        fx.publish(&alice, &Krate::new(&format!("app-{i:02}"), "0.1.0").dep("big", "^1").keyword("app")).await;
    }
    for vers in ["1.59.0", "1.59.0", "1.0.0"] {
        let v = CrateVersion::parse(vers).unwrap();
        fx.registry.download(Some(&alice), &CrateName::parse("big").unwrap(), &v, None).await.unwrap();
    }

    // Warm the in-memory catalog (its refresh is 16 shard queries per 30 s, shared by all requests).
    fx.data(Some(&alice), SEARCH_PAGE, json!({"q": ""})).await;

    fx.store.reset();
    let data = fx.data(Some(&alice), CRATE_PAGE, json!({"name": "BIG"})).await;
    let big_reads = fx.store.take();
    let krate = &data["crate"];
    assert_eq!(krate["name"], "big");
    assert_eq!(krate["versions"].as_array().unwrap().len(), 60);
    assert_eq!(krate["versions"][0]["version"], "1.59.0");
    assert_eq!(krate["versions"][0]["publisher"]["login"], "bob");
    assert_eq!(krate["versions"][59]["publisher"]["login"], "alice");
    assert_eq!(krate["versions"][0]["downloads"], 2);
    assert_eq!(krate["downloads"]["total"], 3);
    assert_eq!(krate["downloads"]["daily"].as_array().unwrap().len(), 90);
    assert_eq!(krate["downloads"]["daily"][89]["downloads"], 3);
    assert_eq!(krate["readme"], "# big, by bob\n");
    assert_eq!(krate["owners"], json!([{"login": "alice", "name": null}, {"login": "bob", "name": null}]));
    assert_eq!(krate["reverseDependencies"]["totalCount"], 30);
    // summary get + versions query + owners query + downloads query + one get per distinct user.
    assert_eq!(big_reads.writes(), 0, "{big_reads}");
    assert!(big_reads.reads() <= 6, "crate page of a 60-version crate: {big_reads}");
    assert_eq!(big_reads.get, 3, "summary + 2 users (publishers and owners share the users loader): {big_reads}");
    assert_eq!(big_reads.query, 3, "versions + owners + downloads: {big_reads}");

    assert_eq!(krate["defaultVersion"]["version"], "1.59.0");
    assert_eq!(
        krate["defaultVersion"]["features"],
        json!([{"name": "default", "enables": []}, {"name": "extra", "enables": []}])
    );

    // Every version's features and dependencies: the same reads.
    fx.store.reset();
    let data = fx.data(Some(&alice), CRATE_PAGE_ALL_VERSIONS, json!({"name": "big"})).await;
    let all_reads = fx.store.take();
    assert_eq!(data["crate"]["versions"][59]["features"].as_array().map(Vec::len), Some(2));
    assert_eq!(all_reads, big_reads, "all versions' details come from the same version items");

    // The same page of a one-version crate costs the same: reads do not grow with versions.
    fx.store.reset();
    fx.data(Some(&alice), CRATE_PAGE, json!({"name": "small"})).await;
    let small_reads = fx.store.take();
    assert_eq!(small_reads.query, big_reads.query, "big {big_reads}; small {small_reads}");
    assert!(small_reads.get <= big_reads.get, "big {big_reads}; small {small_reads}");

    // A search page of 20 is answered from the catalog alone.
    fx.store.reset();
    let data = fx.data(Some(&alice), SEARCH_PAGE, json!({"q": "app"})).await;
    let search_reads = fx.store.take();
    assert_eq!(data["crates"]["totalCount"], 30);
    assert_eq!(data["crates"]["edges"].as_array().unwrap().len(), 20);
    assert_eq!(data["crates"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(search_reads.reads(), 0, "search page: {search_reads}");

    // With owners and downloads per hit: one owners query and one downloads query per hit, one
    // get per distinct owner, never one read per nested field.
    fx.store.reset();
    let data = fx.data(Some(&alice), SEARCH_PAGE_WITH_OWNERS, json!({"q": "app"})).await;
    let rich_reads = fx.store.take();
    assert_eq!(data["crates"]["nodes"][0]["owners"], json!([{"login": "alice"}]));
    assert!(rich_reads.reads() <= 20 + 20 + 1, "search page with owners and downloads: {rich_reads}");

    println!("store reads: crate page (60 versions, 2 owners) {big_reads}");
    println!("store reads: crate page (1 version, 1 owner) {small_reads}");
    println!("store reads: search page of 20 {search_reads}");
    println!("store reads: search page of 20 with owners and downloads {rich_reads}");
}

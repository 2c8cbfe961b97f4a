//! Depth and complexity limits refuse abusive queries with a clear error; errors raised outside
//! resolvers get codes too; internal errors never show their cause.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, Krate, codes};
use raktar_core::domain::NormalizedName;
use raktar_core::model::{Role, keys};
use raktar_core::store::{ItemStore, Update};
use serde_json::json;

#[tokio::test]
async fn deep_queries_are_refused() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    fx.publish(&alice, &Krate::new("demo", "1.0.0")).await;
    // A path without lists (lists multiply the complexity and would be refused as too complex).
    let mut q = String::from("name");
    for _ in 0..7 {
        q = format!("defaultVersion {{ crate {{ {q} }} }}");
    }
    let query = format!("{{ crate(name: \"demo\") {{ {q} }} }}");
    let response = fx.run(Some(&alice), &query, json!({})).await;
    assert_eq!(codes(&response), ["BAD_USER_INPUT"], "{response:#}");
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nested too deep"), "{message}");
    assert!(response["data"].is_null(), "nothing runs: {response:#}");

    // Within the limit, the same shape works.
    let q = "defaultVersion { crate { defaultVersion { crate { name } } } }";
    let response = fx.run(Some(&alice), &format!("{{ crate(name: \"demo\") {{ {q} }} }}"), json!({})).await;
    assert!(codes(&response).is_empty(), "{response:#}");
}

#[tokio::test]
async fn complex_queries_are_refused() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    // Pages multiply the cost of their items: a page of 100 crates, each with a page of 100.
    let wide = "{ crates(first: 100) { nodes { name reverseDependencies(first: 100) { nodes { name } } } } }";
    let response = fx.run(Some(&alice), wide, json!({})).await;
    assert_eq!(codes(&response), ["BAD_USER_INPUT"], "{response:#}");
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{response:#}");

    // Aliases count too.
    let aliased: String = (0..1000).map(|i| format!("a{i}: me {{ login name }} ")).collect();
    let response = fx.run(Some(&alice), &format!("{{ {aliased} }}"), json!({})).await;
    assert_eq!(codes(&response), ["BAD_USER_INPUT"], "{response:#}");

    // A full page of 100 search results with a dozen fields is within the limits.
    let response = fx
        .run(
            Some(&alice),
            "{ crates(first: 100) { totalCount edges { cursor node { name description maxVersion updatedAt keywords \
             categories license versionCount links { homepage repository } owners { login } } } } }",
            json!({}),
        )
        .await;
    assert!(codes(&response).is_empty(), "{response:#}");
}

#[tokio::test]
async fn request_errors_have_codes() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    for (query, vars) in [
        ("{ nope }", json!({})),
        ("{ crate(name: ", json!({})),
        ("{ crates(first: \"many\") { totalCount } }", json!({})),
        ("query($n: String!) { crate(name: $n) { name } }", json!({})),
        ("{ crates(first: 1000) { totalCount } }", json!({})),
        ("{ crates(after: \"not-a-cursor\") { totalCount } }", json!({})),
        ("{ crate(name: \"1nvalid\") { name } }", json!({})),
        ("{ auditEvents(since: \"2026-02-30\") { nodes { at } } }", json!({})),
    ] {
        let response = fx.run(Some(&alice), query, vars).await;
        let codes = codes(&response);
        assert!(!codes.is_empty() && codes.iter().all(|c| c == "BAD_USER_INPUT"), "{query}: {response:#}");
    }
}

#[tokio::test]
async fn internal_errors_do_not_leak() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    fx.publish(&alice, &Krate::new("demo", "1.0.0")).await;
    // Corrupt the stored index line of the version (as a buggy migration might).
    let key = keys::version(&NormalizedName::from_stored("demo"), "1.0.0");
    fx.store.update(&key, Update::new().set("line", "{not json SECRET-DETAIL"), None).await.unwrap();
    let response = fx
        .run(Some(&alice), "{ crate(name: \"demo\") { name versions { version features { name } } } }", json!({}))
        .await;
    assert_eq!(codes(&response), ["INTERNAL"], "{response:#}");
    let text = response.to_string();
    assert!(!text.contains("SECRET") && !text.contains("does not parse"), "internal details leaked: {text}");
    assert_eq!(response["errors"][0]["message"], raktar_graphql::error::INTERNAL_MESSAGE);
    // The rest of the answer is still there (errors are per field).
    assert_eq!(response["data"]["crate"]["name"], "demo");
}

/// A README of about 1 MB (spilled to the blob store: larger than an inline README).
fn big_readme() -> String {
    let mut text = String::from("# big\n");
    while text.len() < 1_000_000 {
        text.push_str("All work and no play makes a large README. ");
    }
    text
}

fn aliases(n: usize, field: &str) -> String {
    (0..n).map(|i| format!("a{i}: {field} ")).collect()
}

/// The reported attack: a thousand aliases of a 1 MB README (a 42 KB query, a 1.24 GB answer).
/// Refused before anything runs: no blob read, a small typed error.
#[tokio::test]
async fn a_thousand_readme_aliases_are_refused_before_they_run() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    fx.publish(&alice, &Krate::new("big", "1.0.0").readme(&big_readme())).await;
    fx.blobs.take_gets();

    // At the root (the report's shape) and nested in one crate.
    let rooted = format!("{{ {} }}", aliases(1000, "crate(name: \"big\") { readme }"));
    let nested = format!("{{ crate(name: \"big\") {{ {} }} }}", aliases(1000, "readme"));
    for (query, wanted) in [(&rooted, "root fields"), (&nested, "fields")] {
        let response = fx.run(Some(&alice), query, json!({})).await;
        assert_eq!(codes(&response), ["BAD_USER_INPUT"], "{response:#}");
        let message = response["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(wanted) && message.contains("at most"), "{message}");
        assert!(response["data"].is_null(), "nothing runs: {response:#}");
        assert!(response.to_string().len() < 1000, "a small answer: {response}");
    }
    assert_eq!(fx.blobs.take_gets(), 0, "no README was read");

    // The complexity limit refuses them too (a README is priced as such), whatever the field caps.
    let fx2 = Fixture::with_options(raktar_graphql::GraphqlOptions {
        max_fields: 100_000,
        max_root_fields: 100_000,
        ..Default::default()
    });
    let alice = fx2.user("alice", Role::Member).await;
    fx2.publish(&alice, &Krate::new("big", "1.0.0").readme(&big_readme())).await;
    fx2.blobs.take_gets();
    for query in [&rooted, &nested] {
        let response = fx2.run(Some(&alice), query, json!({})).await;
        assert_eq!(codes(&response), ["BAD_USER_INPUT"], "{response:#}");
        assert!(response["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{response:#}");
        assert!(response.to_string().len() < 1000);
    }
    // Lists inside lists multiply: the owners of the crates of the owners of the crates.
    let fan_out = "{ crate(name: \"big\") { owners { crates { owners { crates { name } } } } } }";
    let response = fx2.run(Some(&alice), fan_out, json!({})).await;
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{response:#}");
    assert_eq!(fx2.blobs.take_gets(), 0);
}

/// Fewer aliases pass the query limits but not the response budget: the request stops with
/// RESPONSE_TOO_LARGE and a small answer, and the README blob is read once however many aliases
/// show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_readme_aliases_exhaust_the_response_budget() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    let readme = big_readme();
    fx.publish(&alice, &Krate::new("big", "1.0.0").readme(&readme)).await;
    fx.blobs.take_gets();

    let query = format!("{{ crate(name: \"big\") {{ {} }} }}", aliases(100, "readme"));
    let response = fx.run(Some(&alice), &query, json!({})).await;
    assert_eq!(
        codes(&response),
        ["RESPONSE_TOO_LARGE"],
        "{}",
        &response.to_string()[..2000.min(response.to_string().len())]
    );
    assert!(response["data"].is_null());
    assert!(response.to_string().len() < 1000, "a small answer");
    assert_eq!(fx.blobs.take_gets(), 1, "the README blob is read once per request");

    // Within the budget the same README in several places is still one read.
    let query = format!(
        "{{ crate(name: \"big\") {{ {} versions {{ readme }} defaultVersion {{ readme }} }} }}",
        aliases(3, "readme")
    );
    let data = fx.data(Some(&alice), &query, json!({})).await;
    assert_eq!(data["crate"]["a2"].as_str(), Some(readme.as_str()));
    assert_eq!(data["crate"]["versions"][0]["readme"].as_str(), Some(readme.as_str()));
    assert_eq!(fx.blobs.take_gets(), 1, "one read for five READMEs of the same version");

    // A smaller budget is a configuration away.
    let small =
        Fixture::with_options(raktar_graphql::GraphqlOptions { max_response_bytes: 1_500_000, ..Default::default() });
    let alice = small.user("alice", Role::Member).await;
    small.publish(&alice, &Krate::new("big", "1.0.0").readme(&readme)).await;
    small.data(Some(&alice), "{ crate(name: \"big\") { readme } }", json!({})).await;
    let response = small.run(Some(&alice), "{ crate(name: \"big\") { a: readme b: readme } }", json!({})).await;
    assert_eq!(codes(&response), ["RESPONSE_TOO_LARGE"]);
}

/// Many different READMEs in one query: once the budget is spent the rest fail without being read
/// (a few resolve at a time), so the request never holds every README in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readmes_past_the_budget_are_not_read() {
    let fx =
        Fixture::with_options(raktar_graphql::GraphqlOptions { max_response_bytes: 150_000, ..Default::default() });
    let alice = fx.user("alice", Role::Member).await;
    let readme = "a README of a hundred kilobytes, too large for the version item. ".repeat(1600);
    for minor in 0..12 {
        fx.publish(&alice, &Krate::new("many", &format!("1.{minor}.0")).readme(&readme)).await;
    }
    fx.blobs.take_gets();
    let response = fx.run(Some(&alice), "{ crate(name: \"many\") { versions { readme } } }", json!({})).await;
    assert_eq!(codes(&response), ["RESPONSE_TOO_LARGE"]);
    let reads = fx.blobs.take_gets();
    assert!(reads <= 6, "one README fits the budget, a second fails it, at most four are in flight: {reads} reads");
}

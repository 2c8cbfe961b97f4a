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

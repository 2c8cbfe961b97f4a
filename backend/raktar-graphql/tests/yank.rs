//! Yanking the highest version moves the crate's metadata and reverse dependencies to the new
//! highest version; unyanking moves them back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, Krate};
use raktar_core::domain::{CrateName, CrateVersion};
use raktar_core::model::Role;
use serde_json::{Value, json};

const QUERY: &str = r#"
query($name: String!) {
  app: crate(name: "app") { maxVersion description }
  base: crate(name: $name) { reverseDependencies(first: 10) { totalCount nodes { name } } }
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yank_of_the_highest_version_updates_metadata_and_reverse_dependencies() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    fx.publish(&alice, &Krate::new("base", "1.0.0")).await;
    let mut old = Krate::new("app", "1.0.0");
    old.description = "app without base".into();
    fx.publish(&alice, &old).await;
    let mut new = Krate::new("app", "2.0.0").dep("base", "^1");
    new.description = "app on base".into();
    fx.publish(&alice, &new).await;

    let state = || async { fx.data(Some(&alice), QUERY, json!({"name": "base"})).await };
    let expect = |data: &Value, max: &str, description: &str, dependents: &[&str]| {
        assert_eq!(data["app"]["maxVersion"], max, "{data}");
        assert_eq!(data["app"]["description"], description, "{data}");
        let names: Vec<Value> = dependents.iter().map(|n| json!({"name": n})).collect();
        assert_eq!(data["base"]["reverseDependencies"]["nodes"], json!(names), "{data}");
    };
    expect(&state().await, "2.0.0", "app on base", &["app"]);

    let app = CrateName::parse("app").unwrap();
    let two = CrateVersion::parse("2.0.0").unwrap();
    fx.registry.set_yanked(&alice, &app, &two, true).await.unwrap();
    expect(&state().await, "1.0.0", "app without base", &[]);

    fx.registry.set_yanked(&alice, &app, &two, false).await.unwrap();
    expect(&state().await, "2.0.0", "app on base", &["app"]);
}

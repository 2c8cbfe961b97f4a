//! Who may read what beyond plain reads: administrator reads (the audit log, other users' e-mail)
//! need an administrator acting with all of their rights; introspection of a private registry
//! needs a caller, like every other read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, codes};
use raktar_core::domain::{Login, Scope};
use raktar_core::model::Role;
use raktar_core::services::Principal;
use serde_json::json;

const AUDIT: &str = "{ auditEvents(first: 5) { nodes { action actor } } }";
const EMAIL: &str = "{ user(login: \"bob\") { email } }";

#[tokio::test]
async fn admin_reads_need_a_session_or_an_unrestricted_token() {
    let fx = Fixture::new();
    let admin = fx.user("root", Role::Admin).await;
    let bob = fx
        .registry
        .create_user("test", &Login::parse("bob").unwrap(), None, Some("bob@example.com".into()), Role::Member)
        .await
        .unwrap();
    let bob = Principal::new(bob, None);

    let every_scope = fx.token("root", &[], &[]).await;
    let read_only = fx.token("root", &[Scope::Read], &[]).await;
    let most_scopes = fx.token("root", &[Scope::Read, Scope::PublishNew, Scope::PublishUpdate, Scope::Yank], &[]).await;
    let crate_limited = fx.token("root", &[], &["acme-*"]).await;
    let bob_read_only = fx.token("bob", &[Scope::Read], &[]).await;

    // The audit log: administrators through a session or a token with every scope and no limit.
    for (who, caller) in [("admin session", &admin), ("admin token with every scope", &every_scope)] {
        let data = fx.data(Some(caller), AUDIT, json!({})).await;
        let events = data["auditEvents"]["nodes"].as_array().unwrap();
        assert!(events.iter().any(|e| e["action"] == "token-create"), "{who}: {data}");
    }
    for (who, caller) in [
        ("admin read-only token", &read_only),
        ("admin token without change-owners", &most_scopes),
        ("admin token limited to acme-*", &crate_limited),
        ("member session", &bob),
        ("member read-only token", &bob_read_only),
    ] {
        let response = fx.run(Some(caller), AUDIT, json!({})).await;
        assert_eq!(codes(&response), ["FORBIDDEN"], "{who}: {response:#}");
        assert!(response["data"]["auditEvents"].is_null(), "{who}: {response:#}");
    }
    assert_eq!(codes(&fx.run(None, AUDIT, json!({})).await), ["UNAUTHENTICATED"]);

    // Other users' e-mail: the same rule (a limited admin token sees what a member sees); the user
    // themself always sees their own.
    for (caller, email) in [
        (&admin, json!("bob@example.com")),
        (&every_scope, json!("bob@example.com")),
        (&read_only, json!(null)),
        (&crate_limited, json!(null)),
        (&bob_read_only, json!("bob@example.com")),
    ] {
        assert_eq!(fx.data(Some(caller), EMAIL, json!({})).await["user"]["email"], email, "{}", caller.login());
    }
}

const INTROSPECTION: [&str; 3] = [
    "{ __schema { queryType { name } } }",
    "{ __type(name: \"Crate\") { name } }",
    "query { ...I } fragment I on Query { __schema { types { name } } }",
];

#[tokio::test]
async fn a_private_registry_answers_introspection_to_callers_only() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    let reads = fx.run(None, "{ crates { totalCount } }", json!({})).await;
    let anonymous_read_error = reads["errors"][0]["message"].as_str().unwrap();
    for query in INTROSPECTION {
        let response = fx.run(None, query, json!({})).await;
        assert_eq!(codes(&response), ["UNAUTHENTICATED"], "{query}: {response:#}");
        assert_eq!(response["errors"][0]["message"], anonymous_read_error, "the same error as other reads");
        assert!(response["data"].is_null(), "{response:#}");

        let response = fx.run(Some(&alice), query, json!({})).await;
        assert!(codes(&response).is_empty(), "{query}: {response:#}");
        assert!(response.to_string().contains("\"Crate\"") || response.to_string().contains("Query"), "{response}");
    }
    // `__typename` describes no schema: it stays answerable (like `me`, which is null).
    let data = fx.data(None, "{ __typename me { login } }", json!({})).await;
    assert_eq!(data, json!({"__typename": "Query", "me": null}));
}

#[tokio::test]
async fn a_public_read_registry_answers_introspection_to_anyone() {
    let fx = Fixture::public_read();
    for query in INTROSPECTION {
        let response = fx.run(None, query, json!({})).await;
        assert!(codes(&response).is_empty(), "{query}: {response:#}");
    }
    assert_eq!(fx.data(None, INTROSPECTION[0], json!({})).await["__schema"]["queryType"]["name"], "Query");
}

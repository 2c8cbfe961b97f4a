//! GraphQL over HTTP for the end-to-end tests: `POST /graphql` with a JSON body, the token raw in
//! `Authorization` (like cargo).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

pub use raktar_core::testkit::wire::graphql_error_codes as error_codes;

use super::{Http, HttpResponse};

/// Sends one GraphQL request; returns the raw response.
pub fn post(http: &Http, token: Option<&str>, query: &str, variables: Value) -> HttpResponse {
    let body = serde_json::to_vec(&json!({ "query": query, "variables": variables })).unwrap();
    http.request("POST", "/graphql", token, &[("content-type", "application/json")], Some(body))
}

/// Sends one GraphQL request; asserts HTTP 200 and a JSON body; returns the body.
#[track_caller]
pub fn gql(http: &Http, token: Option<&str>, query: &str, variables: Value) -> Value {
    let resp = post(http, token, query, variables);
    assert_eq!(resp.status, 200, "GraphQL over HTTP answers 200:\n{resp}");
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(ct.contains("json"), "GraphQL answers JSON, got content-type {ct:?}:\n{resp}");
    resp.json()
}

/// Like [`gql`], asserting the response has no errors; returns `data`.
#[track_caller]
pub fn gql_ok(http: &Http, token: Option<&str>, query: &str, variables: Value) -> Value {
    let body = gql(http, token, query, variables);
    assert!(error_codes(&body).is_empty(), "expected no GraphQL errors for\n{query}\n{body:#}");
    body["data"].clone()
}

/// Asserts the request failed with exactly one error code (possibly on several fields); returns
/// the first message.
#[track_caller]
pub fn assert_code(body: &Value, code: &str) -> String {
    let codes = error_codes(body);
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c == code),
        "expected only {code} errors, got {codes:?}:\n{body:#}"
    );
    body["errors"][0]["message"].as_str().unwrap_or_default().to_owned()
}

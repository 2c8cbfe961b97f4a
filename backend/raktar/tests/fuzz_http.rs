//! Fuzzing the real `raktar serve` over HTTP with structure-aware generators
//! (`raktar_core::testkit::fuzz`): publish bodies, sparse-index paths and GraphQL documents.
//!
//! Every generated input gets a 4xx or a success, never a 5xx or a dropped connection; a refused
//! publish changes nothing (item store and blobs byte-identical); the server's peak memory stays
//! within budget and `/health` answers afterwards. `PROPTEST_CASES` sets the number of cases per
//! property (CI runs the default; `docs/operations.md` describes a long campaign).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::graphql::post;
use common::publish::PublishRequest;
use common::snapshot::Snapshot;
use common::{Http, TestServer};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use raktar_core::testkit::fuzz;
use serde_json::json;

/// Peak resident memory the server may reach while being fuzzed.
const MEMORY_BUDGET: u64 = 256 * 1024 * 1024;

fn runner() -> TestRunner {
    TestRunner::new(Config { failure_persistence: None, ..Config::default() })
}

struct World {
    server: TestServer,
    http: Http,
    /// All scopes, owner of `demo`.
    owner: String,
    /// Read-only token of the same user.
    reader: String,
}

fn world() -> World {
    let server = TestServer::start();
    let owner = server.user_with_token("alice");
    let reader = server.create_token_with("alice", "alice-read", &["--scope", "read"]);
    let http = server.http();
    http.put_crate(
        PublishRequest::new("demo", "1.0.0").field("readme", json!("# demo\n".repeat(2000))).body(),
        Some(&owner),
    )
    .assert_status(200);
    World { server, http, owner, reader }
}

fn finish(w: &World) {
    w.http.get("/health", None).assert_status(200);
    let peak = w.server.peak_rss_bytes();
    assert!(
        peak < MEMORY_BUDGET,
        "the server's peak memory was {} MiB (budget {} MiB)",
        peak >> 20,
        MEMORY_BUDGET >> 20
    );
}

/// Sends `GET /index/{path}` byte for byte (no client-side normalization of `..` or escapes) and
/// returns the status, or `None` when the server closed the connection without answering.
fn raw_index_get(server: &TestServer, path: &str, token: &str) -> Option<u16> {
    let addr = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = format!(
        "GET /index/{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\ncargo-protocol: version=1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).into_owned();
    head.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|s| s.parse().ok())
}

#[test]
fn index_paths_get_4xx_or_200_never_5xx() {
    let w = world();
    let mut runner = runner();
    runner
        .run(&fuzz::index_request_path(), |path| {
            match raw_index_get(&w.server, &path, &w.owner) {
                Some(status) if status < 500 => Ok(()),
                // A request line the HTTP parser refuses may be answered 400 and closed, or closed.
                None if path.chars().any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii()) => Ok(()),
                other => Err(TestCaseError::fail(format!("GET /index/{path:?} answered {other:?}"))),
            }
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", w.server.logs()));
    finish(&w);
}

#[test]
fn publish_bodies_get_4xx_or_200_and_refusals_change_nothing() {
    let w = world();
    let mut runner = runner();
    runner
        .run(&(fuzz::publish_body(), proptest::bool::weighted(0.35)), |(body, read_only)| {
            let token = if read_only { &w.reader } else { &w.owner };
            let before = Snapshot::of(&w.server);
            let resp = w.http.put_crate(body, Some(token));
            if resp.status >= 500 {
                return Err(TestCaseError::fail(format!("5xx: {resp}")));
            }
            if resp.body.len() > 4096 {
                return Err(TestCaseError::fail(format!("a {}-byte answer: errors must stay short", resp.body.len())));
            }
            if resp.status == 200 {
                if read_only {
                    return Err(TestCaseError::fail("a read-only token published"));
                }
                return Ok(());
            }
            let detail = resp.assert_cargo_error();
            // Authorization comes before the archive is opened: a read-only token may hear about
            // its framing or metadata, never about the archive's contents.
            if read_only && (detail.contains("invalid .crate file") || detail.contains("unpacked")) {
                return Err(TestCaseError::fail(format!(
                    "a read-only token must be refused before the archive is read, got {}: {detail}",
                    resp.status
                )));
            }
            let after = Snapshot::of(&w.server);
            let diff = before.diff(&after);
            if diff.is_empty() {
                Ok(())
            } else {
                Err(TestCaseError::fail(format!("refused ({detail}) but changed:\n{diff}")))
            }
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", w.server.logs()));
    finish(&w);
}

#[test]
fn graphql_documents_get_answers_never_5xx() {
    let w = world();
    let mut runner = runner();
    runner
        .run(&(fuzz::graphql_document(), proptest::bool::ANY), |(doc, anonymous)| {
            let token = if anonymous { None } else { Some(w.owner.as_str()) };
            let resp = post(&w.http, token, &doc, json!({}));
            if resp.status >= 500 {
                return Err(TestCaseError::fail(format!("5xx for {doc:?}: {resp}")));
            }
            if resp.body.len() > 2 << 20 {
                return Err(TestCaseError::fail(format!("a {}-byte answer to {doc:?}", resp.body.len())));
            }
            if resp.status == 200 {
                let body: serde_json::Value = serde_json::from_slice(&resp.body)
                    .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {resp}")))?;
                if body.get("data").is_none() && body.get("errors").is_none() {
                    return Err(TestCaseError::fail(format!("neither data nor errors: {resp}")));
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", w.server.logs()));
    finish(&w);
}

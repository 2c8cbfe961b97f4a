//! The publish refusals that need a real connection, against the real `raktar serve`: cargo (curl)
//! sends large uploads with `Expect: 100-continue` and the body only after `100 Continue`, so a
//! request refused on its headers alone (no token, a declared length over the limits) must be
//! answered without reading the body, with a cargo error body, and must change nothing.
//!
//! The rest of the malformed-publish corpus runs in process:
//! `backend/raktar-http/tests/publish_corpus.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::publish::{PublishRequest, frame};
use common::snapshot::Snapshot;
use common::{HttpResponse, TestServer};

const NEW: &str = "new-crate";
const MIB: usize = 1024 * 1024;

/// One case: name, token, body, status, substrings of the detail.
type Refusal<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a [&'a str]);

#[test]
fn refusals_on_the_headers_never_read_the_body() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let json = PublishRequest::new(NEW, "1.0.0").metadata_bytes();
    let cases: [Refusal; 3] = [
        (
            "body over the total request limit (12 MiB)",
            Some(&token),
            frame(&json, &vec![0u8; 12 * MIB]),
            413,
            &["larger than this registry's limit"],
        ),
        (".crate over 10 MiB", Some(&token), frame(&json, &vec![0u8; 10 * MIB + 1]), 413, &[".crate", "10485760"]),
        ("no token, large body", None, frame(&json, &vec![0u8; 5 * MIB]), 401, &["needs a token"]),
    ];
    let mut failures = Vec::new();
    for (name, token, body, status, needles) in cases {
        let before = Snapshot::of(&server);
        let started = Instant::now();
        let resp = put_expect_continue(&server, &body, token);
        let elapsed = started.elapsed();
        let mut problems = Vec::new();
        if resp.status != status {
            problems.push(format!("expected status {status}, got {}", resp.status));
        }
        let detail = resp.assert_cargo_error().to_lowercase();
        for needle in needles {
            if !detail.contains(&needle.to_lowercase()) {
                problems.push(format!("the detail does not contain {needle:?}: {detail:?}"));
            }
        }
        if status == 401 {
            let expected = format!("Cargo login_url=\"{}\"", server.login_url());
            if resp.header("www-authenticate") != Some(expected.clone()) {
                problems.push(format!("a 401 needs `WWW-Authenticate: {expected}`"));
            }
        }
        if elapsed > Duration::from_secs(10) {
            problems.push(format!("the server took {elapsed:?} to refuse the request"));
        }
        let changed = before.diff(&Snapshot::of(&server));
        if !changed.is_empty() {
            problems.push(format!("the request changed the store or the blobs:\n{changed}"));
        }
        if !problems.is_empty() {
            failures.push(format!("`{name}`:\n{}\n{}", problems.join("\n"), short(&resp)));
        }
    }
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n\n"), server.logs());

    // Control: the same framing within the limits is read and accepted.
    let resp = put_expect_continue(&server, &PublishRequest::new(NEW, "1.0.0").body(), Some(&token));
    assert_eq!(resp.status, 200, "a well-formed publish with `Expect: 100-continue`:\n{}", short(&resp));
}

/// `PUT /api/v1/crates/new` on a raw connection with `Expect: 100-continue`: the body is sent only
/// if the server answers `100 Continue` (a server refusing on the headers alone never reads it).
fn put_expect_continue(server: &TestServer, body: &[u8], token: Option<&str>) -> HttpResponse {
    const BUDGET: Duration = Duration::from_secs(30);
    let host = server.url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect_timeout(&host.parse().expect("socket address"), BUDGET).expect("connect");
    stream.set_read_timeout(Some(BUDGET)).unwrap();
    stream.set_write_timeout(Some(BUDGET)).unwrap();
    let auth = token.map(|t| format!("Authorization: {t}\r\n")).unwrap_or_default();
    let head = format!(
        "PUT /api/v1/crates/new HTTP/1.1\r\nHost: {host}\r\n{auth}Accept: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write request head");
    let deadline = Instant::now() + BUDGET;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut body_sent = false;
    loop {
        assert!(Instant::now() < deadline, "no response within {BUDGET:?}: {:?}", String::from_utf8_lossy(&buf));
        if !body_sent && let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if buf.starts_with(b"HTTP/1.1 100") {
                buf.drain(..end + 4);
                stream.write_all(body).expect("write request body");
            }
            body_sent = true;
            continue;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the response failed: {e} (got {:?})", String::from_utf8_lossy(&buf)),
        }
    }
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                reqwest::header::HeaderValue::from_str(v.trim()),
            )
        {
            headers.append(k, v);
        }
    }
    HttpResponse {
        method: "PUT (Expect: 100-continue)".into(),
        url: format!("{}/api/v1/crates/new", server.url),
        status,
        headers,
        body: buf[end + 4..].to_vec(),
    }
}

fn short(resp: &HttpResponse) -> String {
    let text = resp.to_string();
    if text.len() > 1500 { format!("{}...", &text[..1500]) } else { text }
}

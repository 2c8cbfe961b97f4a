//! Raw-HTTP tests of the cargo protocol against the real `raktar serve` (see
//! `shared/design/cargo-protocol.md`): config.json, the 401 challenge, index files and their ETags,
//! `-`/`_` probes, malformed index paths, downloads, yank/owners/search response shapes,
//! `Expect: 100-continue` publishes and the token page.
//!
//! Every request has a 5 s budget (a client timeout, and socket timeouts for raw TCP).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::publish::PublishRequest;
use common::web::{Browser, location, set_password, sign_in};
use common::{HttpResponse, TestServer, dl_url, index_path, parse_index_file, sha256_hex};
use serde_json::{Value, json};

/// The budget of one request.
const BUDGET: Duration = Duration::from_secs(5);

/// A client for one server with the 5 s budget on every request.
struct Client {
    http: common::Http,
    client: reqwest::Client,
    base: String,
}

impl Client {
    fn new(server: &TestServer) -> Self {
        let client = reqwest::Client::builder()
            .timeout(BUDGET)
            .connect_timeout(BUDGET)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Client { http: server.http(), client, base: server.url.clone() }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> HttpResponse {
        let url = if path.starts_with("http://") { path.to_string() } else { format!("{}{path}", self.base) };
        let started = Instant::now();
        let resp = self.http.runtime().block_on(common::send(&self.client, method, &url, token, headers, body));
        let elapsed = started.elapsed();
        assert!(elapsed < BUDGET, "{method} {url} took {elapsed:?} (budget {BUDGET:?})");
        resp
    }

    fn get(&self, path: &str, token: Option<&str>) -> HttpResponse {
        self.request("GET", path, token, &[("accept", "application/json")], None)
    }

    /// GET an index file with cargo's headers plus `extra`.
    fn index(&self, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> HttpResponse {
        let mut headers = vec![("cargo-protocol", "version=1"), ("accept", "text/plain")];
        headers.extend_from_slice(extra);
        self.request("GET", &format!("/index/{path}"), token, &headers, None)
    }

    fn config(&self, token: Option<&str>) -> Value {
        let resp = self.index("config.json", token, &[]);
        resp.assert_status(200);
        resp.json()
    }

    #[track_caller]
    fn publish(&self, req: &PublishRequest, token: &str) -> HttpResponse {
        let resp =
            self.request("PUT", "/api/v1/crates/new", Some(token), &[("accept", "application/json")], Some(req.body()));
        assert_eq!(resp.status, 200, "publish failed:\n{resp}");
        assert!(resp.json().is_object(), "the publish response must be a JSON object:\n{resp}");
        resp
    }

    fn json_call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> HttpResponse {
        let mut headers = vec![("accept", "application/json")];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.request(method, path, token, &headers, body.map(|b| b.to_string().into_bytes()))
    }
}

/// The ETag of a response, asserting it is strong (quoted, no `W/`).
#[track_caller]
fn strong_etag(resp: &HttpResponse) -> String {
    let etag = resp.header("etag").unwrap_or_else(|| panic!("no ETag:\n{resp}"));
    assert!(
        !etag.starts_with("W/") && etag.len() >= 3 && etag.starts_with('"') && etag.ends_with('"'),
        "the ETag must be strong and quoted: {etag:?}"
    );
    etag
}

#[track_caller]
fn assert_cargo_error(resp: &HttpResponse, status: u16) -> String {
    assert_eq!(resp.status, status, "unexpected status:\n{resp}");
    resp.cargo_error_details()
}

/// A raw HTTP/1.1 exchange on a fresh connection (`Connection: close`), for requests a URL library
/// would normalize (`..`, `%2e`) or that need byte-level control. Returns (status, head, body).
fn raw_http(server: &TestServer, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = connect(server);
    stream.write_all(request).expect("write request");
    let mut buf = Vec::new();
    let deadline = Instant::now() + BUDGET;
    let mut chunk = [0u8; 8192];
    loop {
        assert!(Instant::now() < deadline, "no complete response within {BUDGET:?}");
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the response failed: {e} (got {:?})", String::from_utf8_lossy(&buf)),
        }
    }
    split_response(&buf)
}

fn connect(server: &TestServer) -> TcpStream {
    let addr = server.url.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect_timeout(&addr.parse().expect("socket address"), BUDGET).expect("connect");
    stream.set_read_timeout(Some(BUDGET)).unwrap();
    stream.set_write_timeout(Some(BUDGET)).unwrap();
    stream
}

fn split_response(buf: &[u8]) -> (u16, String, Vec<u8>) {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, head, buf[end + 4..].to_vec())
}

fn host(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

// ---------------------------------------------------------------------------------------------
// config.json and the 401 challenge
// ---------------------------------------------------------------------------------------------

#[test]
fn config_json_private_mode() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let c = Client::new(&server);

    let resp = c.index("config.json", Some(&token), &[]);
    resp.assert_status(200);
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "config.json content type: {ct:?}");
    let config = resp.json();
    let dl = config["dl"].as_str().unwrap_or_else(|| panic!("`dl` must be a string: {config}"));
    assert!(dl.starts_with(&server.url), "`dl` must point at this server: {dl}");
    assert_eq!(config["api"], json!(server.url), "`api` is the base URL, no trailing slash: {config}");
    assert!(!config["api"].as_str().unwrap().ends_with('/'));
    assert_eq!(config["auth-required"], json!(true), "private mode needs `auth-required: true`: {config}");
    assert!(config.get("auth_required").is_none(), "`auth_required` is the wrong spelling: {config}");

    // The anonymous first request gets the challenge that starts cargo's token flow.
    let resp = c.index("config.json", None, &[]);
    let detail = assert_cargo_error(&resp, 401);
    let challenge = resp.header("www-authenticate").unwrap_or_else(|| panic!("no WWW-Authenticate:\n{resp}"));
    assert_eq!(challenge, format!("Cargo login_url=\"{}\"", server.login_url()), "{resp}");
    assert!(detail.contains(&server.login_url()), "the detail should say where to get a token: {detail}");

    // A rejected token is a 401 too (cargo prints "token rejected").
    for bad in ["rkt_thisisnotavalidtoken0000000000", "garbage"] {
        let resp = c.index("config.json", Some(bad), &[]);
        assert_cargo_error(&resp, 401);
        assert!(resp.header("www-authenticate").is_some_and(|v| v.starts_with("Cargo login_url=")), "{resp}");
    }
    // Index files, downloads and searches need the token too.
    for path in ["/index/3/a/abc", "/api/v1/crates?q=a", "/api/v1/crates/abc/1.0.0/download"] {
        let resp = c.get(path, None);
        assert_cargo_error(&resp, 401);
    }
}

#[test]
fn config_json_public_read_mode() {
    let server = TestServer::start_public_read();
    let c = Client::new(&server);
    let config = c.config(None);
    assert!(config.get("auth-required").is_none(), "public-read mode must not send `auth-required`: {config}");
    assert!(config.get("auth_required").is_none(), "{config}");
    assert_eq!(config["api"], json!(server.url), "{config}");
    let dl = config["dl"].as_str().unwrap_or_else(|| panic!("`dl` must be a string: {config}")).to_string();

    // Reads need no token; writes still do (with the challenge).
    let token = server.user_with_token("alice");
    let req = PublishRequest::new("open-crate", "1.0.0");
    c.publish(&req, &token);
    let lines = parse_index_file(&c.index(&index_path("open-crate"), None, &[]));
    assert_eq!(lines[0]["cksum"], json!(req.cksum()));
    let resp = c.request("GET", &dl_url(&dl, "open-crate", "1.0.0", &req.cksum()), None, &[], None);
    resp.assert_status(200);
    assert_eq!(resp.body, req.tarball);
    let resp = c.request(
        "PUT",
        "/api/v1/crates/new",
        None,
        &[("accept", "application/json")],
        Some(PublishRequest::new("open-crate", "1.1.0").body()),
    );
    assert_cargo_error(&resp, 401);
    assert_eq!(resp.header("www-authenticate"), Some(format!("Cargo login_url=\"{}\"", server.login_url())), "{resp}");
    let resp = c.json_call("DELETE", "/api/v1/crates/open-crate/1.0.0/yank", None, None);
    assert_cargo_error(&resp, 401);
}

// ---------------------------------------------------------------------------------------------
// Index files
// ---------------------------------------------------------------------------------------------

#[test]
fn index_file_etags_conditional_requests_and_changes() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let c = Client::new(&server);
    let t = Some(token.as_str());
    c.publish(&PublishRequest::new("foo_bar", "1.0.0"), &token);
    let path = "fo/o_/foo_bar";
    assert_eq!(index_path("foo_bar"), path);

    let resp = c.index(path, t, &[]);
    resp.assert_status(200);
    let lines = parse_index_file(&resp);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], json!("foo_bar"));
    let etag1 = strong_etag(&resp);
    assert!(resp.header("content-encoding").is_none_or(|e| e == "identity"), "{resp}");

    // HEAD carries the same ETag and no body.
    let head = c.request("HEAD", &format!("/index/{path}"), t, &[("cargo-protocol", "version=1")], None);
    head.assert_status(200);
    assert_eq!(strong_etag(&head), etag1, "HEAD must return the GET's ETag");
    assert!(head.body.is_empty(), "HEAD must have no body");

    // Conditional GETs: exact echo, weak form, lists; a stale tag gets the full file.
    for inm in [etag1.clone(), format!("W/{etag1}"), format!("\"other\", {etag1}")] {
        let resp = c.index(path, t, &[("if-none-match", &inm)]);
        assert_eq!(resp.status, 304, "If-None-Match: {inm} must give 304:\n{resp}");
        assert_eq!(strong_etag(&resp), etag1, "a 304 repeats the ETag");
        assert!(resp.body.is_empty(), "a 304 has no body");
    }
    let resp = c.index(path, t, &[("if-none-match", "\"stale\"")]);
    resp.assert_status(200);
    assert_eq!(strong_etag(&resp), etag1);

    // A new version changes the bytes and the ETag.
    c.publish(&PublishRequest::new("foo_bar", "1.1.0"), &token);
    let resp = c.index(path, t, &[("if-none-match", &etag1)]);
    assert_eq!(resp.status, 200, "the old ETag must not match after a publish:\n{resp}");
    let etag2 = strong_etag(&resp);
    assert_ne!(etag2, etag1, "the ETag must change with the file");
    assert_eq!(parse_index_file(&resp).len(), 2);

    // Yank: exactly {"ok":true}; the ETag changes again.
    let resp = c.json_call("DELETE", "/api/v1/crates/foo_bar/1.0.0/yank", t, None);
    resp.assert_status(200);
    assert_eq!(resp.text(), r#"{"ok":true}"#, "the yank response must be exactly {{\"ok\":true}}");
    let resp = c.index(path, t, &[("if-none-match", &etag2)]);
    assert_eq!(resp.status, 200, "the old ETag must not match after a yank:\n{resp}");
    let etag3 = strong_etag(&resp);
    assert_ne!(etag3, etag2);
    let lines = parse_index_file(&resp);
    assert_eq!(lines[0]["yanked"], json!(true), "{lines:?}");
    assert_eq!(lines[1]["yanked"], json!(false), "{lines:?}");
    // The 304 path agrees with the new tag.
    let resp = c.index(path, t, &[("if-none-match", &etag3)]);
    resp.assert_status(304);

    // Unyank: same response, the ETag moves off the yanked state.
    let resp = c.json_call("PUT", "/api/v1/crates/foo_bar/1.0.0/unyank", t, None);
    resp.assert_status(200);
    assert_eq!(resp.text(), r#"{"ok":true}"#);
    let resp = c.index(path, t, &[("if-none-match", &etag3)]);
    resp.assert_status(200);
    assert_ne!(strong_etag(&resp), etag3);
    assert_eq!(parse_index_file(&resp)[0]["yanked"], json!(false));
}

#[test]
fn missing_crates_and_probe_spellings_get_404() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let c = Client::new(&server);
    let t = Some(token.as_str());
    c.publish(&PublishRequest::new("foo_bar", "1.0.0"), &token);
    c.publish(&PublishRequest::new("baz-qux", "1.0.0"), &token);
    c.index("fo/o_/foo_bar", t, &[]).assert_status(200);
    c.index("ba/z-/baz-qux", t, &[]).assert_status(200);

    for path in [
        // cargo's `-`/`_` probes of existing crates under other spellings
        "fo/o-/foo-bar",
        "ba/z_/baz_qux",
        // missing crates of every path shape
        "no/su/nosuchcrate",
        "1/a",
        "2/ab",
        "3/a/abc",
    ] {
        let resp = c.index(path, t, &[]);
        let detail = assert_cargo_error(&resp, 404);
        assert!(!detail.is_empty(), "{resp}");
    }
}

#[test]
fn mixed_case_crate_is_served_at_its_lowercase_path() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let c = Client::new(&server);
    let t = Some(token.as_str());
    c.publish(&PublishRequest::new("BigCrate", "1.0.0"), &token);
    let resp = c.index("bi/gc/bigcrate", t, &[]);
    resp.assert_status(200);
    let lines = parse_index_file(&resp);
    assert_eq!(lines[0]["name"], json!("BigCrate"), "the line keeps the canonical case: {lines:?}");
    assert!(resp.text().contains(r#""name":"BigCrate""#), "{resp}");
    // Never anything but a clean 404 for other spellings.
    for path in ["bi/gc/BigCrate", "BI/GC/BIGCRATE", "bi/gc/big-crate"] {
        let resp = c.index(path, t, &[]);
        assert_eq!(resp.status, 404, "{path}:\n{resp}");
    }
}

#[test]
fn malformed_index_paths_get_404_never_5xx() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let c = Client::new(&server);
    c.publish(&PublishRequest::new("foo_bar", "1.0.0"), &token);
    let h = host(&server);
    let long = "a".repeat(70);
    let paths = [
        "/index/xx/yy/zz".to_string(),
        "/index/1/ab".to_string(),
        "/index/2/a".to_string(),
        "/index/3/b/abc".to_string(),
        "/index/ab/ce/abcd".to_string(),
        "/index/fo/o_/foo_bar/".to_string(),
        "/index/fo/o_/foo_bar/extra".to_string(),
        "/index/fo/foo_bar".to_string(),
        "/index/../etc/passwd".to_string(),
        "/index/../../etc/passwd".to_string(),
        "/index/%2e%2e/etc/passwd".to_string(),
        "/index/fo/o_/..".to_string(),
        "/index/./fo/o_/foo_bar".to_string(),
        "/index//fo/o_/foo_bar".to_string(),
        "/index/fo/o_/foo_bar%00".to_string(),
        "/index/fo/o_/foo%20bar".to_string(),
        "/index/fo/o_/f%C3%B6o".to_string(),
        "/index/config.json/x".to_string(),
        format!("/index/aa/aa/{long}"),
        "/index/1".to_string(),
    ];
    for path in &paths {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {h}\r\nAuthorization: {token}\r\ncargo-protocol: version=1\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        );
        let (status, head, body) = raw_http(&server, req.as_bytes());
        assert_eq!(
            status,
            404,
            "GET {path} must be 404 (never 5xx, never a catch-all 200):\n{head}\n{}",
            String::from_utf8_lossy(&body)
        );
        if !body.is_empty() {
            let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
                panic!("GET {path}: a 404 body must be a cargo error ({e}): {:?}", String::from_utf8_lossy(&body))
            });
            assert!(v["errors"][0]["detail"].is_string(), "GET {path}: {v}");
        }
    }
    // The server is fine afterwards.
    c.index("fo/o_/foo_bar", Some(&token), &[]).assert_status(200);
}

// ---------------------------------------------------------------------------------------------
// Downloads
// ---------------------------------------------------------------------------------------------

#[test]
fn downloads_are_exact_raw_bytes() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let c = Client::new(&server);
    let t = Some(token.as_str());
    let v1 = PublishRequest::new("dl-crate", "1.0.0");
    let v2 = PublishRequest::new("dl-crate", "2.0.0+build.5");
    c.publish(&v1, &token);
    c.publish(&v2, &token);
    let lines = parse_index_file(&c.index(&index_path("dl-crate"), t, &[]));
    let dl = c.config(t)["dl"].as_str().unwrap().to_string();

    for (req, line) in [(&v1, &lines[0]), (&v2, &lines[1])] {
        let vers = req.metadata["vers"].as_str().unwrap();
        let cksum = line["cksum"].as_str().unwrap();
        assert_eq!(line["vers"], json!(vers));
        assert_eq!(cksum, req.cksum(), "the index cksum is the sha256 of the uploaded .crate");
        let template_url = dl_url(&dl, "dl-crate", vers, cksum);
        let api_url = format!("{}/api/v1/crates/dl-crate/{vers}/download", server.url);
        if vers.contains('+') {
            assert!(template_url.contains("2.0.0+build.5") && api_url.contains("2.0.0+build.5"));
        }
        for url in [&template_url, &api_url] {
            let resp = c.request("GET", url, t, &[("accept-encoding", "gzip, deflate")], None);
            assert_eq!(resp.status, 200, "downloads must answer exactly 200:\n{resp}");
            assert_eq!(resp.header("content-type").as_deref(), Some("application/gzip"), "{resp}");
            assert!(resp.header("content-encoding").is_none(), "never Content-Encoding on a .crate:\n{resp}");
            assert_eq!(sha256_hex(&resp.body), cksum, "GET {url}: the body must hash to the cksum");
            assert_eq!(resp.body, req.tarball, "GET {url}: the exact uploaded bytes");
        }
    }

    // Wrong, foreign, uppercase and malformed checksums; missing versions.
    let c1 = lines[0]["cksum"].as_str().unwrap();
    let c2 = lines[1]["cksum"].as_str().unwrap();
    for url in [
        dl_url(&dl, "dl-crate", "1.0.0", &"0".repeat(64)),
        dl_url(&dl, "dl-crate", "1.0.0", c2),
        dl_url(&dl, "dl-crate", "1.0.0", &c1.to_uppercase()),
        dl_url(&dl, "dl-crate", "1.0.0", &c1[..63]),
        dl_url(&dl, "dl-crate", "9.9.9", c1),
        dl_url(&dl, "no-such-crate", "1.0.0", c1),
        format!("{}/api/v1/crates/dl-crate/9.9.9/download", server.url),
        format!("{}/api/v1/crates/no-such-crate/1.0.0/download", server.url),
    ] {
        let resp = c.request("GET", &url, t, &[], None);
        assert_cargo_error(&resp, 404);
    }
    // Anonymous downloads are refused in private mode, with the challenge.
    let resp = c.request("GET", &dl_url(&dl, "dl-crate", "1.0.0", c1), None, &[], None);
    assert_cargo_error(&resp, 401);
    assert!(resp.header("www-authenticate").is_some(), "{resp}");
}

// ---------------------------------------------------------------------------------------------
// Owners, yank, search
// ---------------------------------------------------------------------------------------------

#[test]
fn owners_and_yank_response_shapes() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    server.create_user("bob", false);
    let c = Client::new(&server);
    let t = Some(token.as_str());
    c.publish(&PublishRequest::new("owned", "1.0.0"), &token);

    let check_list = |expected: &[&str]| {
        let resp = c.json_call("GET", "/api/v1/crates/owned/owners", t, None);
        resp.assert_status(200);
        let json = resp.json();
        let users = json["users"].as_array().unwrap_or_else(|| panic!("`users` must be an array:\n{resp}"));
        let mut logins: Vec<&str> = users
            .iter()
            .map(|u| {
                assert!(u["id"].is_u64(), "owner `id` must be a non-negative number: {u}");
                assert!(u["id"].as_u64().unwrap() <= u64::from(u32::MAX), "cargo reads `id` as u32: {u}");
                u["login"].as_str().unwrap_or_else(|| panic!("owner `login` must be a string: {u}"))
            })
            .collect();
        logins.sort_unstable();
        assert_eq!(logins, expected, "{resp}");
    };
    check_list(&["alice"]);

    let resp = c.json_call("PUT", "/api/v1/crates/owned/owners", t, Some(json!({"users": ["bob"]})));
    resp.assert_status(200);
    let json = resp.json();
    assert_eq!(json["ok"], json!(true), "{resp}");
    assert!(json["msg"].as_str().is_some_and(|m| !m.is_empty()), "an owner add needs a `msg`:\n{resp}");
    check_list(&["alice", "bob"]);

    let resp = c.json_call("DELETE", "/api/v1/crates/owned/owners", t, Some(json!({"users": ["bob"]})));
    resp.assert_status(200);
    let json = resp.json();
    assert_eq!(json["ok"], json!(true), "{resp}");
    assert!(json["msg"].as_str().is_some_and(|m| !m.is_empty()), "an owner removal needs a `msg`:\n{resp}");
    check_list(&["alice"]);

    // Yank and unyank with the version verbatim, build metadata included.
    c.publish(&PublishRequest::new("owned", "1.1.0+build.5"), &token);
    for (method, action) in [("DELETE", "yank"), ("PUT", "unyank")] {
        let resp = c.json_call(method, &format!("/api/v1/crates/owned/1.1.0+build.5/{action}"), t, None);
        resp.assert_status(200);
        assert_eq!(resp.text(), r#"{"ok":true}"#, "{action} must answer exactly {{\"ok\":true}}");
    }
    // Errors are cargo errors, never `ok:false`.
    let resp = c.json_call("DELETE", "/api/v1/crates/owned/9.9.9/yank", t, None);
    assert_cargo_error(&resp, 404);
    let resp = c.json_call("GET", "/api/v1/crates/missing-crate/owners", t, None);
    assert_cargo_error(&resp, 404);
}

#[test]
fn search_meta_and_paging() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let c = Client::new(&server);
    let t = Some(token.as_str());
    const N: usize = 105;
    for i in 0..N {
        let req = PublishRequest::new(&format!("findme-{i:03}"), "1.0.0")
            .field("description", json!(format!("crate number {i}")));
        c.publish(&req, &token);
    }
    c.publish(&PublishRequest::new("unrelated", "1.0.0"), &token);

    let search = |query: &str| {
        let resp = c.get(&format!("/api/v1/crates?{query}"), t);
        resp.assert_status(200);
        let json = resp.json();
        assert!(json["meta"]["total"].is_u64(), "search needs meta.total:\n{resp}");
        let crates = json["crates"].as_array().unwrap_or_else(|| panic!("`crates` must be an array:\n{resp}")).clone();
        for k in &crates {
            assert!(k["name"].is_string() && k["max_version"].is_string(), "search hit shape: {k}");
            assert!(k.get("description").is_some(), "search hit needs `description` (string or null): {k}");
        }
        (json["meta"]["total"].as_u64().unwrap(), crates)
    };
    let (total, crates) = search("q=findme&per_page=1000");
    assert_eq!(total, N as u64, "meta.total counts every match");
    assert_eq!(crates.len(), 100, "per_page is capped at 100");
    let (total, crates) = search("q=findme&per_page=100");
    assert_eq!((total, crates.len()), (N as u64, 100));
    let (total, crates) = search("q=findme&per_page=7");
    assert_eq!((total, crates.len()), (N as u64, 7));
    let (_, crates) = search("q=findme-042&per_page=10");
    assert_eq!(crates[0]["name"], json!("findme-042"), "{crates:?}");
    assert_eq!(crates[0]["max_version"], json!("1.0.0"));
    assert_eq!(crates[0]["description"], json!("crate number 42"));
    let (total, crates) = search("q=nothing-matches-this&per_page=10");
    assert_eq!((total, crates.len()), (0, 0));

    for bad in ["q=findme&per_page=abc", "q=findme&per_page=-1", "q=findme&page=abc"] {
        let resp = c.get(&format!("/api/v1/crates?{bad}"), t);
        let detail = assert_cargo_error(&resp, 400);
        assert!(detail.contains("per_page") || detail.contains("page"), "{bad}: {detail}");
    }
}

// ---------------------------------------------------------------------------------------------
// Expect: 100-continue, /me
// ---------------------------------------------------------------------------------------------

#[test]
fn publish_with_expect_100_continue() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let body = PublishRequest::new("continued", "1.0.0").body();
    let mut stream = connect(&server);
    let head = format!(
        "PUT /api/v1/crates/new HTTP/1.1\r\nHost: {}\r\nAuthorization: {token}\r\nAccept: application/json\r\n\
         User-Agent: cargo/1.95.0\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        host(&server),
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();

    // The interim response comes before we send a byte of the body.
    let mut interim = Vec::new();
    let deadline = Instant::now() + BUDGET;
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        assert!(Instant::now() < deadline, "no `100 Continue` within {BUDGET:?}");
        match stream.read(&mut byte) {
            Ok(1) => interim.push(byte[0]),
            Ok(_) => panic!("connection closed before `100 Continue`: {:?}", String::from_utf8_lossy(&interim)),
            Err(e) => panic!("no `100 Continue` ({e}): {:?}", String::from_utf8_lossy(&interim)),
        }
    }
    let interim = String::from_utf8_lossy(&interim).into_owned();
    assert!(interim.starts_with("HTTP/1.1 100 Continue\r\n"), "expected the interim response, got {interim:?}");

    stream.write_all(&body).unwrap();
    let mut rest = Vec::new();
    let started = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        assert!(started.elapsed() < BUDGET, "no final response within {BUDGET:?}");
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the final response failed: {e}"),
        }
    }
    let (status, head, body) = split_response(&rest);
    assert_eq!(status, 200, "{head}\n{}", String::from_utf8_lossy(&body));
    let json: Value = serde_json::from_slice(&body).expect("the publish response is JSON");
    assert!(json.is_object(), "{json}");

    let c = Client::new(&server);
    let lines = parse_index_file(&c.index(&index_path("continued"), Some(&token), &[]));
    assert_eq!(lines[0]["vers"], json!("1.0.0"));
}

/// `/me` is where cargo sends users for a token (`login_url` of the challenge, `cargo login`): a
/// web page, reachable without a token (a browser has none), that leads to sign-in and then shows
/// the token page with the `cargo:token` configuration.
#[test]
fn me_page_explains_tokens() {
    const PASSWORD: &str = "correct horse battery staple";
    let server = TestServer::start();
    server.create_user("alice", false);
    set_password(&server, "alice", PASSWORD);
    let c = Client::new(&server);

    // Anonymous: an HTML page or a redirect to the sign-in page, never a cargo 401/404.
    let resp = c.request("GET", "/me", None, &[("accept", "text/html")], None);
    match resp.status {
        200 => assert!(resp.text().contains("cargo:token"), "/me must mention cargo:token:\n{resp}"),
        302 | 303 | 307 => {
            let to = location(&resp);
            assert!(to.contains("/login"), "/me should lead to the sign-in page:\n{resp}");
            let page = c.request("GET", &to, None, &[("accept", "text/html")], None);
            page.assert_status(200);
            let ct = page.header("content-type").unwrap_or_default();
            assert!(ct.starts_with("text/html"), "the sign-in page must be HTML: {ct:?}");
        }
        _ => panic!("GET /me without a session must be a page or a redirect to sign-in:\n{resp}"),
    }

    // Signed in: the token page, as HTML, with the cargo configuration.
    let browser = Browser::new(&server.url);
    let resp = sign_in(&browser, "alice", PASSWORD);
    assert!((300..400).contains(&resp.status), "sign-in should redirect:\n{resp}");
    let started = Instant::now();
    let resp = browser.get("/me");
    assert!(started.elapsed() < BUDGET, "GET /me took {:?}", started.elapsed());
    resp.assert_status(200);
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "/me must be HTML: {ct:?}");
    let html = resp.text();
    assert!(html.contains("cargo:token"), "/me must mention the cargo:token credential provider:\n{resp}");
    assert!(html.contains(&format!("sparse+{}/index/", server.url)), "/me should show the index URL:\n{resp}");
}

// ---------------------------------------------------------------------------------------------
// Orphan blobs: never served, swept after the grace period
// ---------------------------------------------------------------------------------------------

/// Blobs left by interrupted publishes (a `.crate` and a README no version names, temporary
/// files) are not downloadable, not even through their checksum URL, and `raktar sweep` removes
/// those older than the grace period while keeping referenced and recent blobs.
#[test]
fn orphan_blobs_are_not_served_and_are_swept() {
    let server = TestServer::start();
    if server.aws().is_some() {
        return; // plants files in the data directory
    }
    let token = server.user_with_token("alice");
    let c = Client::new(&server);
    let t = Some(token.as_str());
    let published = PublishRequest::new("swept-crate", "1.0.0");
    c.publish(&published, &token);
    let dl = c.config(t)["dl"].as_str().unwrap().to_string();

    let blobs = server.data_dir().join("blobs");
    let referenced = blobs.join(format!("crates/swept_crate/swept_crate-1.0.0-{}.crate", published.cksum()));
    assert!(referenced.is_file(), "the published .crate: {:?}", server.stored_blobs());
    let orphan_bytes = PublishRequest::new("swept-crate", "2.0.0").tarball;
    let orphan_cksum = sha256_hex(&orphan_bytes);
    let orphan = blobs.join(format!("crates/swept_crate/swept_crate-2.0.0-{orphan_cksum}.crate"));
    let orphan_readme = blobs.join(format!("readmes/swept_crate/2.0.0-{}.md", "a".repeat(64)));
    let temporary = blobs.join("crates/swept_crate/.~tmp-00000000000000ab");
    let fresh = blobs.join(format!("crates/swept_crate/swept_crate-3.0.0-{}.crate", "b".repeat(64)));
    std::fs::create_dir_all(orphan_readme.parent().unwrap()).unwrap();
    std::fs::write(&orphan, &orphan_bytes).unwrap();
    std::fs::write(&orphan_readme, "planted").unwrap();
    std::fs::write(&temporary, "partial").unwrap();
    std::fs::write(&fresh, "recent").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for old in [&referenced, &orphan, &orphan_readme, &temporary] {
        std::fs::File::options().write(true).open(old).unwrap().set_modified(two_hours_ago).unwrap();
    }

    // Not downloadable: the version is not committed (the old code served it by checksum).
    for url in [
        dl_url(&dl, "swept-crate", "2.0.0", &orphan_cksum),
        format!("{}/api/v1/crates/swept-crate/2.0.0/download", server.url),
        // A committed version with the orphan's checksum is no way in either.
        dl_url(&dl, "swept-crate", "1.0.0", &orphan_cksum),
    ] {
        let resp = c.request("GET", &url, t, &[], None);
        assert_cargo_error(&resp, 404);
    }

    let dry = server.cli_ok(&["sweep", "--grace", "1h", "--dry-run"]);
    assert!(dry.contains("would remove crates/swept_crate/swept_crate-2.0.0-"), "{dry}");
    assert!(orphan.exists() && temporary.exists(), "a dry run removes nothing");

    let out = server.cli_ok(&["sweep", "--grace", "1h"]);
    assert!(out.contains("removed 2 orphans") && out.contains("and 1 temporary files"), "{out}");
    assert!(!orphan.exists(), "the old orphan .crate is removed");
    assert!(!orphan_readme.exists(), "the old orphan README is removed");
    assert!(!temporary.exists(), "the stale temporary file is removed");
    assert!(referenced.exists(), "a blob a version refers to is kept, however old");
    assert!(fresh.exists(), "an orphan younger than the grace period is kept");

    // The committed version still downloads.
    let resp = c.request("GET", &dl_url(&dl, "swept-crate", "1.0.0", &published.cksum()), t, &[], None);
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.body, published.tarball);
}

/// `--ui-dir ''` (as documented) serves the API only: the empty value is accepted, `/` is a 404 and
/// the API answers.
#[test]
fn empty_ui_dir_serves_the_api_only() {
    let server = TestServer::start_with_args(&["--ui-dir", ""]);
    server.http().get("/", None).assert_status(404);
    server.http().get("/health", None).assert_status(200);
}

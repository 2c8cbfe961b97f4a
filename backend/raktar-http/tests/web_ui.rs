//! The web UI as the router's fallback (`raktar_http::ui`): API routes keep priority, client-side
//! routes get `index.html`, hashed assets are immutable, every answer has the strict CSP; without a
//! UI directory nothing changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use raktar_core::{Registry, RegistryConfig};
use raktar_http::{AppState, router};
use raktar_store::{FsBlobStore, SqliteItemStore};
use tower::ServiceExt;

struct Env {
    dir: tempfile::TempDir,
    state: AppState,
}

impl Env {
    fn state_ui_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("dist")
    }
}

fn env(with_ui: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let items = SqliteItemStore::open(&dir.path().join("raktar.db")).unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let registry = Arc::new(Registry::new(Arc::new(items), Arc::new(blobs), RegistryConfig::default()));
    let ui = dir.path().join("dist");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), "<!doctype html><title>Raktar</title>").unwrap();
    std::fs::write(ui.join("assets/index-abc123.js"), "console.log(1)").unwrap();
    std::fs::write(ui.join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
    let state = AppState::new(registry, "http://127.0.0.1:3000").with_ui_dir(with_ui.then_some(ui));
    Env { dir, state }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(env: &Env, method: Method, path: &str) -> Reply {
    let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
    let resp = router(env.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned();
    Reply { status, headers, body }
}

fn header(r: &Reply, name: header::HeaderName) -> &str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn client_routes_get_the_shell_with_a_strict_policy() {
    let env = env(true);
    for path in ["/", "/crates/serde", "/crates/serde/1.0.0+build.5", "/tokens", "/users/alice", "/x/../../y"] {
        let r = call(&env, Method::GET, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.body.contains("<title>Raktar</title>"), "{path}");
        assert_eq!(header(&r, header::CACHE_CONTROL), "no-cache");
        assert!(header(&r, header::CONTENT_TYPE).starts_with("text/html"));
        let csp = header(&r, header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(header(&r, header::X_FRAME_OPTIONS), "DENY");
    }
}

#[tokio::test]
async fn assets_are_immutable_and_never_fall_back_to_the_shell() {
    let env = env(true);
    let r = call(&env, Method::GET, "/assets/index-abc123.js").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "console.log(1)");
    assert_eq!(header(&r, header::CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert!(header(&r, header::CONTENT_TYPE).starts_with("text/javascript"));
    assert_eq!(call(&env, Method::GET, "/assets/missing.js").await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&env, Method::GET, "/assets/../secret.txt").await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&env, Method::GET, "/assets/..%2Fsecret.txt").await.status, StatusCode::NOT_FOUND);
    let icon = call(&env, Method::GET, "/favicon.svg").await;
    assert_eq!(icon.body, "<svg/>");
    assert_eq!(header(&icon, header::CACHE_CONTROL), "no-cache");
    let head = call(&env, Method::HEAD, "/crates/x").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(call(&env, Method::POST, "/crates/x").await.status, StatusCode::NOT_FOUND);
}

async fn call_gzip(env: &Env, path: &str, accept: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::builder().uri(path).header(header::ACCEPT_ENCODING, accept).body(Body::empty()).unwrap();
    let resp = router(env.state.clone()).oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

#[tokio::test]
async fn text_files_are_gzipped_for_clients_that_accept_it() {
    let env = env(true);
    for _ in 0..2 {
        // The second answer comes from the in-memory copy.
        let (status, headers, body) = call_gzip(&env, "/assets/index-abc123.js", "gzip, deflate, br").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(headers[header::VARY], "accept-encoding");
        assert_eq!(headers[header::CONTENT_LENGTH], body.len().to_string().as_str());
        assert_eq!(gunzip(&body), "console.log(1)");
    }
    let (_, headers, body) = call_gzip(&env, "/crates/serde", "gzip").await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert!(gunzip(&body).contains("<title>Raktar</title>"));
    // Refused or not offered: the plain bytes.
    for accept in ["gzip;q=0", "br", "identity"] {
        let (_, headers, body) = call_gzip(&env, "/assets/index-abc123.js", accept).await;
        assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{accept}");
        assert_eq!(headers[header::VARY], "accept-encoding");
        assert_eq!(body, b"console.log(1)");
    }
    // A changed file is compressed again (the copy follows the file).
    let ui = env.state_ui_dir();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(ui.join("assets/index-abc123.js"), "console.log(2)").unwrap();
    let (_, _, body) = call_gzip(&env, "/assets/index-abc123.js", "gzip").await;
    assert_eq!(gunzip(&body), "console.log(2)");
}

#[tokio::test]
async fn api_routes_keep_priority() {
    let env = env(true);
    let health = call(&env, Method::GET, "/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(!health.body.contains("<title>Raktar</title>"));
    // The server-rendered sign-in page hands over to the app's (issue 9).
    let login = call(&env, Method::GET, "/login").await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    assert_eq!(header(&login, header::LOCATION), "/signin");
    assert_eq!(call(&env, Method::GET, "/auth/session").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&env, Method::GET, "/api/v1/nothing-here").await.status, StatusCode::NOT_FOUND);
    assert!(!call(&env, Method::GET, "/index/config.json").await.body.contains("<title>"));
}

#[tokio::test]
async fn without_a_ui_directory_unknown_paths_stay_404() {
    let env = env(false);
    let r = call(&env, Method::GET, "/crates/serde").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.body.contains("<title>Raktar</title>"));
    assert_eq!(call(&env, Method::GET, "/").await.status, StatusCode::NOT_FOUND);
}

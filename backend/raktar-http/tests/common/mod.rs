//! The in-process registry for the HTTP edge's fast suites: `raktar_http::router` over a
//! [`TestRegistry`] (in-memory item and blob stores), called with `tower::ServiceExt::oneshot`. No
//! socket, no process, no disk: the routing, extractors, authentication, domain services and error
//! mapping are the ones `raktar serve` runs; only the connection handling (`server.rs`) is not.
//! What needs a real connection (`Expect: 100-continue`, timeouts) stays in `backend/raktar/tests`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use http_body_util::BodyExt;
use raktar_core::testkit::app::{Snapshot, TestRegistry};
use raktar_core::testkit::wire::cargo_error_details;
use raktar_http::{AppState, router};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The public URL the in-process registry believes it has.
pub const PUBLIC_URL: &str = "http://127.0.0.1:3000";

/// `raktar_http::router` over a [`TestRegistry`].
pub struct App {
    pub test: TestRegistry,
    pub state: AppState,
    router: Router,
}

impl App {
    /// The default configuration (private mode), no UI.
    pub fn new() -> Self {
        Self::with(TestRegistry::new(), |state| state)
    }

    /// `test` behind the router, its state finished by `finish` (trusted publishing, ...).
    pub fn with(test: TestRegistry, finish: impl FnOnce(AppState) -> AppState) -> Self {
        let state = finish(AppState::new(test.registry.clone(), PUBLIC_URL));
        let router = router(state.clone());
        Self { test, state, router }
    }

    /// One request through the router, as a client would send it.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        send(&self.router, method, path, token, headers, body).await
    }

    /// The router (a clone: routers are cheap handles).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The router of another registry instance over the same stores (its own caches and per-crate
    /// locks), as a second server process or Lambda instance would be.
    pub fn second_instance(&self) -> Router {
        let registry = self.test.second_instance(self.state.registry.config().clone());
        router(AppState::new(registry, PUBLIC_URL))
    }

    /// `PUT /api/v1/crates/new` with a raw publish body.
    pub async fn put_crate(&self, body: Vec<u8>, token: Option<&str>) -> Reply {
        self.call("PUT", "/api/v1/crates/new", token, &[("accept", "application/json")], Some(body)).await
    }

    /// `POST /graphql` with `query` and no variables.
    pub async fn graphql(&self, token: Option<&str>, query: &str) -> Reply {
        let body = serde_json::to_vec(&json!({ "query": query, "variables": {} })).unwrap();
        self.call("POST", "/graphql", token, &[("content-type", "application/json")], Some(body)).await
    }

    /// The parsed lines of `name`'s sparse index file (none when it answers 404).
    pub async fn index_lines(&self, name: &str, token: Option<&str>) -> Vec<Value> {
        let resp =
            self.call("GET", &format!("/index/{}", raktar_core::domain::index_path(name)), token, &[], None).await;
        if resp.status == 404 {
            return Vec::new();
        }
        assert_eq!(resp.status, 200, "{resp}");
        resp.text().lines().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Every item (token items excepted: any authenticated request may record a token's last use)
    /// and every blob.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = self.test.snapshot();
        snapshot.items.retain(|key, _| !key.pk.starts_with("TOKEN#"));
        snapshot
    }
}

/// One request through `router`, as a client would send it.
pub async fn send(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        req = req.header("authorization", token);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply { method: method.to_owned(), path: path.to_owned(), status, headers, body }
}

/// One answer of the router.
pub struct Reply {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}):\n{self}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status:\n{self}");
        self
    }

    /// Asserts a cargo error body (`{"errors":[{"detail": ...}]}`, non-2xx); returns the details.
    #[track_caller]
    pub fn assert_cargo_error(&self) -> String {
        assert!(self.status >= 400, "expected an error status:\n{self}");
        match cargo_error_details(&self.body) {
            Ok(detail) => detail,
            Err(e) => panic!("{e}\n{self}"),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} -> {}", self.method, self.path, self.status)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {}", value.to_str().unwrap_or("<binary>"))?;
        }
        let text = self.text();
        if text.chars().count() > 1500 {
            write!(f, "\n{}...", text.chars().take(1500).collect::<String>())
        } else {
            write!(f, "\n{text}")
        }
    }
}

//! The web UI's JSON sign-in and sign-out (`/auth/signin`, `/auth/signout`) and the hand-over of
//! the server-rendered pages to the app when the UI is served, through the real router (in
//! process, embedded store).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use raktar_core::domain::Login;
use raktar_core::model::Role;
use raktar_core::{Registry, RegistryConfig};
use raktar_http::{AppState, router};
use raktar_store::{FsBlobStore, SqliteItemStore};
use serde_json::Value;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

struct Env {
    registry: Arc<Registry>,
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let items = SqliteItemStore::open(&dir.path().join("raktar.db")).unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let registry = Arc::new(Registry::new(Arc::new(items), Arc::new(blobs), RegistryConfig::default()));
    let login = Login::parse("alice").unwrap();
    registry.create_user("test", &login, Some("Alice".into()), None, Role::Member).await.unwrap();
    registry.set_password("test", &login, PASSWORD).await.unwrap();
    let state = AppState::new(registry.clone(), "http://raktar.test");
    Env { registry, state, _dir: dir }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The value of the session cookie this reply sets (empty when it clears it).
    fn session_cookie(&self) -> Option<String> {
        self.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
            c.strip_prefix("raktar_session=").map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
        })
    }
}

async fn call(state: &AppState, req: Request<Body>) -> Reply {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

fn signin(body: &str, content_type: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/auth/signin").header(header::CONTENT_TYPE, content_type);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

fn signout(cookie: Option<&str>, csrf: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/auth/signout");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    if let Some(t) = csrf {
        b = b.header("x-csrf-token", t);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn json_sign_in_opens_a_session_and_sign_out_ends_it() {
    let env = env().await;
    let ok =
        call(&env.state, signin(r#"{"login":"alice","password":"correct horse battery"}"#, "application/json", None))
            .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let body = ok.json();
    assert_eq!(body["login"], "alice");
    assert_eq!(body["name"], "Alice");
    assert_eq!(body["role"], "member");
    let secret = ok.session_cookie().unwrap();
    assert!(!secret.is_empty());
    let flags = ok.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(flags.contains("HttpOnly") && flags.contains("SameSite=Lax"), "{flags}");
    assert_eq!(body["csrfToken"], raktar_core::services::sessions::csrf_token_for(&secret));
    assert!(env.registry.resolve_session(&secret).await.is_ok());

    let cookie = format!("raktar_session={secret}");
    // A live session needs its CSRF token to sign out.
    let refused = call(&env.state, signout(Some(&cookie), None)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(env.registry.resolve_session(&secret).await.is_ok(), "a refused sign-out ends nothing");
    let wrong = call(&env.state, signout(Some(&cookie), Some("not-the-token"))).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);

    let token = body["csrfToken"].as_str().unwrap();
    let out = call(&env.state, signout(Some(&cookie), Some(token))).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    assert_eq!(out.session_cookie().as_deref(), Some(""), "the cookie is cleared");
    assert!(env.registry.resolve_session(&secret).await.is_err());

    // A dead cookie is cleared without a token (nothing left to protect), and does not stop a
    // new sign-in.
    let dead = call(&env.state, signout(Some(&cookie), None)).await;
    assert_eq!(dead.status, StatusCode::NO_CONTENT);
    assert_eq!(dead.session_cookie().as_deref(), Some(""));
    let again = call(
        &env.state,
        signin(r#"{"login":"alice","password":"correct horse battery"}"#, "application/json", Some(&cookie)),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);

    // Signing in again with a live session replaces it.
    let live = again.session_cookie().unwrap();
    let replaced = call(
        &env.state,
        signin(
            r#"{"login":"alice","password":"correct horse battery"}"#,
            "application/json",
            Some(&format!("raktar_session={live}")),
        ),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert!(env.registry.resolve_session(&live).await.is_err(), "the old session ended");
    assert!(env.registry.resolve_session(&replaced.session_cookie().unwrap()).await.is_ok());
}

#[tokio::test]
async fn bad_sign_ins_are_json_errors_without_a_session() {
    let env = env().await;
    let wrong =
        call(&env.state, signin(r#"{"login":"alice","password":"wrong password!!"}"#, "application/json", None)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert_eq!(wrong.json()["errors"][0]["detail"], "invalid login or password");
    assert!(wrong.session_cookie().is_none());
    let unknown =
        call(&env.state, signin(r#"{"login":"nobody","password":"wrong password!!"}"#, "application/json", None)).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.json()["errors"][0]["detail"], "invalid login or password");

    // A form (what a cross-site page could send) is refused.
    let form = call(
        &env.state,
        signin("login=alice&password=correct+horse+battery", "application/x-www-form-urlencoded", None),
    )
    .await;
    assert_eq!(form.status, StatusCode::BAD_REQUEST, "{}", form.body);
    assert!(form.session_cookie().is_none());
    let garbage = call(&env.state, signin("{\"login\":", "application/json", None)).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);

    // Password sign-in switched off: not found.
    let state = env.state.clone().with_web(raktar_http::web::WebSettings { local_login: false, ..Default::default() });
    let off =
        call(&state, signin(r#"{"login":"alice","password":"correct horse battery"}"#, "application/json", None)).await;
    assert_eq!(off.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn json_sign_in_shares_the_rate_limit_of_the_form() {
    let env = env().await;
    let limit = RegistryConfig::default().sessions.attempts_per_login.max_attempts;
    for _ in 0..limit {
        let r =
            call(&env.state, signin(r#"{"login":"alice","password":"wrong password!!"}"#, "application/json", None))
                .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let limited =
        call(&env.state, signin(r#"{"login":"alice","password":"correct horse battery"}"#, "application/json", None))
            .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{}", limited.body);
    assert!(limited.session_cookie().is_none());
}

#[tokio::test]
async fn with_the_ui_served_the_server_pages_lead_to_the_app() {
    let env = env().await;
    let ui = tempfile::tempdir().unwrap();
    std::fs::write(ui.path().join("index.html"), "<!doctype html><title>app</title>").unwrap();
    let with_ui = env.state.clone().with_ui_dir(Some(ui.path().to_path_buf()));
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();

    let login = call(&with_ui, get("/login?next=%2Fcrates%2Fdemo")).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.headers.get(header::LOCATION).unwrap(), "/signin?next=%2Fcrates%2Fdemo");
    let me = call(&with_ui, get("/me")).await;
    assert_eq!(me.headers.get(header::LOCATION).unwrap(), "/tokens");
    assert_eq!(with_ui.login_url(), "http://raktar.test/tokens");

    // Without a UI the pages stay.
    assert_eq!(call(&env.state, get("/login")).await.status, StatusCode::OK);
    assert_eq!(env.state.login_url(), "http://raktar.test/me");
}

fn graphql(cookie: &str, csrf: &str, query: &str) -> Request<Body> {
    let body = serde_json::json!({ "query": query }).to_string();
    Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, cookie)
        .header("x-csrf-token", csrf)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn graphql_knows_the_session_of_the_request() {
    let env = env().await;
    let sign_in = || signin(r#"{"login":"alice","password":"correct horse battery"}"#, "application/json", None);
    let first = call(&env.state, sign_in()).await;
    let second = call(&env.state, sign_in()).await;
    let (secret, csrf) = (first.session_cookie().unwrap(), first.json()["csrfToken"].as_str().unwrap().to_owned());
    let other = second.session_cookie().unwrap();
    let cookie = format!("raktar_session={secret}");

    let list = call(&env.state, graphql(&cookie, &csrf, "{ mySessions { current } }")).await;
    let sessions = list.json()["data"]["mySessions"].clone();
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{}", list.body);
    assert_eq!(sessions.as_array().unwrap().iter().filter(|s| s["current"] == true).count(), 1, "{}", list.body);

    let change = call(
        &env.state,
        graphql(
            &cookie,
            &csrf,
            "mutation { changePassword(current: \"correct horse battery\", new: \"another good password\") }",
        ),
    )
    .await;
    assert_eq!(change.json()["data"]["changePassword"], true, "{}", change.body);
    assert!(env.registry.resolve_session(&secret).await.is_ok(), "the request's session stays");
    assert!(env.registry.resolve_session(&other).await.is_err(), "the other one ends");

    let registry = call(&env.state, graphql(&cookie, &csrf, "{ registry { indexUrl apiUrl registryName } }")).await;
    assert_eq!(
        registry.json()["data"]["registry"],
        serde_json::json!({"indexUrl": "sparse+http://raktar.test/index/", "apiUrl": "http://raktar.test", "registryName": "raktar"})
    );
}

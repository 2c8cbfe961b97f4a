//! Web sessions through the real router (in process, embedded store): expiry, disabled users,
//! revocation, cookie names and flags on https, the CSRF layer on every route, and `/me` handing
//! over to the web UI's token page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use raktar_core::domain::Login;
use raktar_core::model::{Role, keys};
use raktar_core::services::Principal;
use raktar_core::services::auth::hash_token;
use raktar_core::services::sessions::{SessionMethod, csrf_token_for};
use raktar_core::store::Update;
use raktar_core::{Registry, RegistryConfig};
use raktar_http::web::WebSettings;
use raktar_http::{AppState, router};
use raktar_store::{FsBlobStore, SqliteItemStore};
use tower::ServiceExt;

struct Env {
    registry: Arc<Registry>,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    env_with(RegistryConfig::default())
}

fn env_with(config: RegistryConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let items = SqliteItemStore::open(&dir.path().join("raktar.db")).unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let registry = Arc::new(Registry::new(Arc::new(items), Arc::new(blobs), config));
    Env { registry, _dir: dir }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(state: &AppState, req: Request<Body>) -> Reply {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

async fn user_with_session(registry: &Registry, login: &str) -> (Login, String) {
    let login = Login::parse(login).unwrap();
    registry.create_user("test", &login, None, None, Role::Member).await.unwrap();
    let session = registry.create_session(&login, SessionMethod::Password).await.unwrap();
    (login, session.secret.expose().to_owned())
}

#[tokio::test]
async fn expired_sessions_are_refused_and_removed() {
    let env = env();
    let state = AppState::new(env.registry.clone(), "http://raktar.test");
    let (_login, secret) = user_with_session(&env.registry, "alice").await;
    let cookie = format!("raktar_session={secret}");
    assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::OK);

    // Move the expiry into the past (as time passing would).
    let key = keys::session(&hash_token(&secret));
    let past = raktar_core::services::clock::unix_now() - 1;
    env.registry.items().update(&key, Update::new().set("expires_unix", past), None).await.unwrap();

    let err = env.registry.resolve_session(&secret).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    // The embedded store has no TTL: the expired item was deleted on sight.
    assert!(env.registry.items().get(&key).await.unwrap().is_none());
    let reply = call(&state, get("/auth/session", Some(&cookie))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    // /me sends the browser to the sign-in.
    let reply = call(&state, get("/me", Some(&cookie))).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "http://raktar.test/login?next=/me");
}

#[tokio::test]
async fn a_disabled_user_is_checked_on_every_use() {
    let env = env();
    let state = AppState::new(env.registry.clone(), "http://raktar.test");
    let (login, secret) = user_with_session(&env.registry, "alice").await;
    let cookie = format!("raktar_session={secret}");
    assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::OK);

    // Disabling does not touch the session item: the check on use alone must stop it.
    env.registry.set_user_disabled(Some(&Principal::operator()), &login, true).await.unwrap();
    assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::UNAUTHORIZED);
    assert!(env.registry.resolve_session(&secret).await.unwrap_err().to_string().contains("disabled"));
    assert!(env.registry.create_session(&login, SessionMethod::Password).await.is_err());

    env.registry.set_user_disabled(Some(&Principal::operator()), &login, false).await.unwrap();
    assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn sessions_are_revocable_one_by_one_and_all_at_once() {
    let env = env();
    let state = AppState::new(env.registry.clone(), "http://raktar.test");
    let (login, first) = user_with_session(&env.registry, "alice").await;
    let second = env.registry.create_session(&login, SessionMethod::Oidc).await.unwrap();
    let third = env.registry.create_session(&login, SessionMethod::Password).await.unwrap();
    env.registry.revoke_session(&first).await.unwrap();
    assert!(env.registry.resolve_session(&first).await.is_err());
    assert!(env.registry.resolve_session(second.secret.expose()).await.is_ok());
    let ended = env.registry.revoke_user_sessions("test", &login).await.unwrap();
    assert_eq!(ended, 2);
    for s in [&second, &third] {
        let cookie = format!("raktar_session={}", s.secret.expose());
        assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::UNAUTHORIZED);
    }
    // Garbage cookies are just anonymous.
    for junk in ["raktar_session=", "raktar_session=short", "raktar_session=%00%01"] {
        assert_eq!(call(&state, get("/auth/session", Some(junk))).await.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn https_deployments_use_secure_host_only_cookies() {
    let env = env();
    let state = AppState::new(env.registry.clone(), "https://raktar.example");
    let login = Login::parse("alice").unwrap();
    env.registry.create_user("test", &login, None, None, Role::Member).await.unwrap();
    env.registry.set_password("test", &login, "correct horse battery staple").await.unwrap();

    // The sign-in form's cookie is Secure.
    let form = call(&state, get("/login", None)).await;
    assert_eq!(form.status, StatusCode::OK);
    let login_cookie = form.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(login_cookie.starts_with("raktar_login_csrf=") && login_cookie.ends_with("; Secure"), "{login_cookie}");
    let login_csrf = login_cookie.split(';').next().unwrap().trim_start_matches("raktar_login_csrf=").to_owned();

    let body = format!("login=alice&password=correct+horse+battery+staple&next=%2Fme&login_csrf={login_csrf}");
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("raktar_login_csrf={login_csrf}"))
        .body(Body::from(body))
        .unwrap();
    let reply = call(&state, req).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.headers[header::LOCATION], "https://raktar.example/me");
    let session_cookie = reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-raktar_session="))
        .unwrap_or_else(|| panic!("no __Host- session cookie: {:?}", reply.headers));
    assert!(session_cookie.contains("; Path=/; "), "{session_cookie}");
    assert!(session_cookie.contains("; HttpOnly; SameSite=Lax; Secure"), "{session_cookie}");
    let secret = session_cookie.split(';').next().unwrap().trim_start_matches("__Host-raktar_session=").to_owned();

    // Only the __Host- cookie counts on https.
    let ok = call(&state, get("/auth/session", Some(&format!("__Host-raktar_session={secret}")))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let plain = call(&state, get("/auth/session", Some(&format!("raktar_session={secret}")))).await;
    assert_eq!(plain.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_csrf_layer_covers_every_route() {
    let env = env();
    let state = AppState::new(env.registry.clone(), "http://raktar.test");
    let (_login, secret) = user_with_session(&env.registry, "alice").await;
    let cookie = format!("raktar_session={secret}");
    for (method, path) in [("POST", "/no/such/route"), ("DELETE", "/api/v1/crates/x/1.0.0/yank"), ("POST", "/graphql")]
    {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let reply = call(&state, req).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}: {}", reply.body);
        let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(json["errors"][0]["extensions"]["code"], "FORBIDDEN");
        assert!(json["errors"][0]["detail"].as_str().unwrap().contains("CSRF"));
    }
    // With the header the request gets through to the route.
    let req = Request::post("/no/such/route")
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", csrf_token_for(&secret))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&state, req).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn me_hands_over_to_the_web_ui_once_configured() {
    let env = env();
    let web = WebSettings { token_page_url: Some("/ui/tokens".into()), ..WebSettings::default() };
    let state = AppState::new(env.registry.clone(), "http://raktar.test/registry").with_web(web);
    let reply = call(&state, get("/me", None)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "http://raktar.test/registry/ui/tokens");
}

/// A password sign-in through the router with a matching login-CSRF cookie and field.
async fn post_login(state: &AppState, login: &str, password: &str, forwarded_for: Option<&str>) -> Reply {
    let body = format!("login={login}&password={password}&next=%2Fme&login_csrf=abc");
    let mut req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, "raktar_login_csrf=abc");
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    call(state, req.body(Body::from(body)).unwrap()).await
}

#[tokio::test]
async fn the_address_limit_uses_a_trusted_forwarded_for_only() {
    let mut config = RegistryConfig::default();
    config.sessions.attempts_per_address.max_attempts = 2;
    let env = env_with(config);
    let login = Login::parse("alice").unwrap();
    env.registry.create_user("test", &login, None, None, Role::Member).await.unwrap();
    env.registry.set_password("test", &login, "correct horse battery staple").await.unwrap();

    // Behind a trusted proxy: the last X-Forwarded-For entry is the address.
    let web = WebSettings { trust_forwarded_for: true, ..WebSettings::default() };
    let state = AppState::new(env.registry.clone(), "http://raktar.test").with_web(web);
    for _ in 0..2 {
        let r = post_login(&state, "alice", "wrong", Some("9.9.9.9, 1.2.3.4")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    let r = post_login(&state, "alice", "wrong", Some("8.8.8.8, 1.2.3.4")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("this address"), "{}", r.body);
    let r = post_login(&state, "alice", "wrong", Some("1.2.3.4, 5.6.7.8")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "another address has its own allowance: {}", r.body);

    // Not trusted, and no peer address (as on Lambda): the header is ignored and only the
    // per-login limit applies; nobody can lock everybody out through a shared counter.
    let state = AppState::new(env.registry.clone(), "http://raktar.test");
    for _ in 0..3 {
        let r = post_login(&state, "alice", "wrong", Some("1.2.3.4")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    let r = post_login(&state, "alice", "correct+horse+battery+staple", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

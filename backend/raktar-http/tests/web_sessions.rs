//! Web sessions through the real router (in process, embedded store): expiry, disabled users,
//! revocation, cookie names and flags on https, the CSRF layer on every route, and `/me` handing
//! over to the web UI's token page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
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
use raktar_http::client_addr::TrustedProxies;
use raktar_http::web::WebSettings;
use raktar_http::{AppState, ClientAddr, router};
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

    // A session the disable could not see (an item written behind its back) is still stopped by
    // the check on use.
    let late = env.registry.create_session(&login, SessionMethod::Password).await.unwrap();
    let key = keys::session(&hash_token(late.secret.expose()));
    let late_item = env.registry.items().get(&key).await.unwrap().unwrap();
    env.registry.set_user_disabled(Some(&Principal::operator()), &login, true).await.unwrap();
    env.registry.items().put(late_item, None).await.unwrap();
    assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::UNAUTHORIZED);
    assert!(env.registry.resolve_session(late.secret.expose()).await.unwrap_err().to_string().contains("disabled"));
    assert!(env.registry.create_session(&login, SessionMethod::Password).await.is_err());

    // Disabling ended the sessions: enabling the account again does not bring them back.
    env.registry.set_user_disabled(Some(&Principal::operator()), &login, false).await.unwrap();
    assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::UNAUTHORIZED);
}

/// A GraphQL request with a session cookie and its CSRF token.
fn graphql(secret: &str, query: &str) -> Request<Body> {
    Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, format!("raktar_session={secret}"))
        .header("x-csrf-token", csrf_token_for(secret))
        .body(Body::from(serde_json::json!({ "query": query }).to_string()))
        .unwrap()
}

#[tokio::test]
async fn disabling_through_graphql_ends_the_sessions() {
    let env = env();
    let state = AppState::new(env.registry.clone(), "http://raktar.test");
    let admin = Login::parse("root").unwrap();
    env.registry.create_user("test", &admin, None, None, Role::Admin).await.unwrap();
    let admin_secret = env.registry.create_session(&admin, SessionMethod::Password).await.unwrap();
    let admin_secret = admin_secret.secret.expose().to_owned();
    let (_login, secret) = user_with_session(&env.registry, "alice").await;
    let cookie = format!("raktar_session={secret}");
    assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::OK);

    let r =
        call(&state, graphql(&admin_secret, r#"mutation { disableUser(login: "alice") { login disabled } }"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains(r#""disabled":true"#), "{}", r.body);
    assert_eq!(call(&state, get("/auth/session", Some(&cookie))).await.status, StatusCode::UNAUTHORIZED);

    let r = call(&state, graphql(&admin_secret, r#"mutation { enableUser(login: "alice") { login disabled } }"#)).await;
    assert!(r.body.contains(r#""disabled":false"#), "{}", r.body);
    assert_eq!(
        call(&state, get("/auth/session", Some(&cookie))).await.status,
        StatusCode::UNAUTHORIZED,
        "re-enabling must not bring the old session back"
    );
}

#[tokio::test]
async fn administrators_link_identities_through_graphql() {
    let env = env();
    let state = AppState::new(env.registry.clone(), "http://raktar.test");
    let admin = Login::parse("root").unwrap();
    env.registry.create_user("test", &admin, None, None, Role::Admin).await.unwrap();
    let admin_secret = env.registry.create_session(&admin, SessionMethod::Password).await.unwrap();
    let admin_secret = admin_secret.secret.expose().to_owned();
    let (_alice, alice_secret) = user_with_session(&env.registry, "alice").await;
    let link = r#"mutation { linkIdentity(login: "alice", issuer: "https://idp.test", subject: "s-1") { login } }"#;

    // Members may not.
    let r = call(&state, graphql(&alice_secret, link)).await;
    assert!(r.body.contains("FORBIDDEN"), "{}", r.body);
    let r = call(&state, graphql(&admin_secret, link)).await;
    assert!(r.body.contains(r#""linkIdentity":{"login":"alice"}"#), "{}", r.body);
    let identities = env.registry.user_identities(&Login::parse("alice").unwrap()).await.unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!((identities[0].issuer.as_str(), identities[0].subject.as_str()), ("https://idp.test", "s-1"));

    let unlink = r#"mutation { unlinkIdentity(login: "alice", issuer: "https://idp.test", subject: "s-1") { login } }"#;
    let r = call(&state, graphql(&admin_secret, unlink)).await;
    assert!(r.body.contains(r#""unlinkIdentity":{"login":"alice"}"#), "{}", r.body);
    assert!(env.registry.user_identities(&Login::parse("alice").unwrap()).await.unwrap().is_empty());
    let r = call(&state, graphql(&admin_secret, unlink)).await;
    assert!(r.body.contains("NOT_FOUND"), "{}", r.body);
}

#[tokio::test]
async fn html_answers_may_not_be_framed() {
    let env = env();
    let (_login, secret) = user_with_session(&env.registry, "alice").await;
    let state = AppState::new(env.registry.clone(), "http://raktar.test").with_graphiql(true);
    let cookie = format!("raktar_session={secret}");
    for (path, cookie) in [("/login", None), ("/me", Some(cookie.as_str())), ("/graphql", None)] {
        let r = call(&state, get(path, cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert!(r.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
        assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
    // The CSRF refusal page too.
    let req = Request::post("/me/tokens")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &cookie)
        .body(Body::from("name=x"))
        .unwrap();
    let r = call(&state, req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
}

#[tokio::test]
async fn the_oidc_callback_never_shows_the_providers_error_text() {
    use raktar_http::oidc::{ClaimMapping, OidcClient, OidcConfig};
    let env = env();
    let config = OidcConfig {
        issuer: "https://idp.example.test".into(),
        client_id: "raktar".into(),
        client_secret: None,
        scopes: vec![],
        claims: ClaimMapping::default(),
        display_name: "IdP".into(),
    };
    let client = OidcClient::new(config, "http://raktar.test/auth/oidc/callback".into()).unwrap();
    let web = WebSettings { oidc: Some(Arc::new(client)), ..WebSettings::default() };
    let state = AppState::new(env.registry.clone(), "http://raktar.test").with_web(web);
    let lure = "Your+account+is+locked.+Call+%2B1-555-0100+or+visit+evil.example+to+unlock";
    let r = call(&state, get(&format!("/auth/oidc/callback?error=access_denied&error_description={lure}"), None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.body.contains("evil.example") && !r.body.contains("555"), "{}", r.body);
    assert!(r.body.contains("access was denied"), "{}", r.body);
    let r =
        call(&state, get(&format!("/auth/oidc/callback?error=made_up%3Cb%3E&error_description={lure}"), None)).await;
    assert!(!r.body.contains("evil.example") && !r.body.contains("made_up"), "{}", r.body);
    assert!(r.body.contains("did not sign you in"), "{}", r.body);
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

    // The sign-in form's cookie is Secure and host-only (`__Host-`, path /).
    let form = call(&state, get("/login", None)).await;
    assert_eq!(form.status, StatusCode::OK);
    let login_cookie = form.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(login_cookie.starts_with("__Host-raktar_login_csrf="), "{login_cookie}");
    assert!(login_cookie.contains("; Path=/; ") && login_cookie.ends_with("; Secure"), "{login_cookie}");
    let login_csrf = login_cookie.split(';').next().unwrap().trim_start_matches("__Host-raktar_login_csrf=").to_owned();

    let post = |cookie: String| {
        let body = format!("login=alice&password=correct+horse+battery+staple&next=%2Fme&login_csrf={login_csrf}");
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap()
    };
    // A cookie without the prefix (which a sibling subdomain could plant) does not count on https.
    let planted = call(&state, post(format!("raktar_login_csrf={login_csrf}"))).await;
    assert_eq!(planted.status, StatusCode::FORBIDDEN, "{}", planted.body);
    let reply = call(&state, post(format!("__Host-raktar_login_csrf={login_csrf}"))).await;
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

/// A password sign-in through the router with a matching login-CSRF cookie and field, from the TCP
/// peer `peer` (the [`ClientAddr`] the serve loop inserts).
async fn post_login(state: &AppState, peer: &str, login: &str, password: &str, forwarded_for: Option<&str>) -> Reply {
    let body = format!("login={login}&password={password}&next=%2Fme&login_csrf=abc");
    let mut req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, "raktar_login_csrf=abc");
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    let mut req = req.body(Body::from(body)).unwrap();
    req.extensions_mut().insert(ClientAddr(SocketAddr::new(peer.parse().unwrap(), 40000)));
    call(state, req).await
}

async fn alice_with_password(config: RegistryConfig) -> Env {
    let env = env_with(config);
    let login = Login::parse("alice").unwrap();
    env.registry.create_user("test", &login, None, None, Role::Member).await.unwrap();
    env.registry.set_password("test", &login, "correct horse battery staple").await.unwrap();
    env
}

fn behind_proxy(env: &Env, proxies: &[&str]) -> AppState {
    let web = WebSettings { trusted_proxies: TrustedProxies::parse(proxies).unwrap(), ..WebSettings::default() };
    AppState::new(env.registry.clone(), "http://raktar.test").with_web(web)
}

#[tokio::test]
async fn forwarded_for_is_honoured_only_from_a_trusted_proxy() {
    let mut config = RegistryConfig::default();
    config.sessions.attempts_per_address.max_attempts = 2;
    let env = alice_with_password(config).await;

    // Behind the trusted proxy 127.0.0.1: the rightmost untrusted X-Forwarded-For entry counts.
    let state = behind_proxy(&env, &["127.0.0.1/32"]);
    for _ in 0..2 {
        let r = post_login(&state, "127.0.0.1", "alice", "wrong", Some("6.6.6.6, 9.9.9.9")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    // A client-chosen prefix does not give a fresh allowance.
    let r = post_login(&state, "127.0.0.1", "alice", "wrong", Some("7.7.7.7, 9.9.9.9")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("this address"), "{}", r.body);
    let r = post_login(&state, "127.0.0.1", "alice", "wrong", Some("9.9.9.9, 5.6.7.8")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "another address has its own allowance: {}", r.body);

    // The same header from a peer that is not a trusted proxy is ignored: the peer is the address.
    for _ in 0..2 {
        let r = post_login(&state, "203.0.113.5", "alice", "wrong", Some("1.1.1.1")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    let r = post_login(&state, "203.0.113.5", "alice", "wrong", Some("2.2.2.2")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "a forged header must not reset the count: {}", r.body);

    // No trusted proxies configured (the default): never honoured, even from loopback.
    let state = AppState::new(env.registry.clone(), "http://raktar.test");
    for _ in 0..2 {
        let r = post_login(&state, "127.0.0.2", "alice", "wrong", Some("3.3.3.3")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    let r = post_login(&state, "127.0.0.2", "alice", "wrong", Some("4.4.4.4")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
}

#[tokio::test]
async fn a_guesser_behind_the_proxy_does_not_lock_out_the_real_user() {
    let env = alice_with_password(RegistryConfig::default()).await;
    let state = behind_proxy(&env, &["127.0.0.1/32"]);
    // 51 bad sign-ins from one client address (through the documented proxy).
    let mut refused = 0;
    for _ in 0..51 {
        let r = post_login(&state, "127.0.0.1", "alice", "wrong", Some("198.51.100.66")).await;
        assert!(matches!(r.status.as_u16(), 401 | 429), "{}", r.body);
        refused += usize::from(r.status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(refused >= 40, "the guesser is stopped: {refused} refused");
    // The real user, from another address through the same proxy, signs in at once.
    let r = post_login(&state, "127.0.0.1", "alice", "correct+horse+battery+staple", Some("192.0.2.10")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // And so do other users from other addresses.
    let r = post_login(&state, "127.0.0.1", "bob", "wrong", Some("192.0.2.11")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn many_guesses_for_one_login_are_slowed_down_not_refused() {
    let mut config = RegistryConfig::default();
    config.sessions.login_slowdown_after = 2;
    let env = alice_with_password(config).await;
    let state = behind_proxy(&env, &["127.0.0.1/32"]);
    for i in 0..2 {
        let r = post_login(&state, "127.0.0.1", "alice", "wrong", Some(&format!("198.51.100.{i}"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    // The third attempt in the window (from yet another address) waits about a second, then works.
    let started = std::time::Instant::now();
    let r = post_login(&state, "127.0.0.1", "alice", "correct+horse+battery+staple", Some("192.0.2.10")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "{:?}", started.elapsed());
}

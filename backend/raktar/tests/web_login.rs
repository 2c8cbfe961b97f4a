//! The web sign-in of local accounts over real HTTP against a real `raktar serve`: password
//! sign-in, session cookie attributes, the token page (`/me`), tokens created there working with the
//! cargo API, logout, rate limits, CSRF, and disabled users.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use common::web::{Browser, cli_with_stdin, hidden_field, location, set_cookie_for, set_password, sign_in};

const PASSWORD: &str = "correct horse battery staple";

/// A server with `[auth]` settings from `toml` (kept alive with the server).
fn server_with_auth(toml: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raktar.toml");
    std::fs::write(&path, toml).unwrap();
    let server = TestServer::start_with_args(&["--config", path.to_str().unwrap()]);
    (server, dir)
}

/// A signed-in browser for a fresh user.
fn signed_in(server: &TestServer, login: &str) -> Browser {
    server.create_user(login, false);
    set_password(server, login, PASSWORD);
    let browser = Browser::new(&server.url);
    let resp = sign_in(&browser, login, PASSWORD);
    assert_eq!(resp.status, 303, "sign-in must redirect:\n{resp}\n{}", server.logs());
    browser
}

/// The CSRF token embedded in the token page.
fn page_csrf(browser: &Browser) -> String {
    let page = browser.get("/me");
    page.assert_status(200);
    hidden_field(&page.text(), "csrf_token").unwrap_or_else(|| panic!("no csrf_token on the token page:\n{page}"))
}

#[test]
fn password_sign_in_token_page_and_logout() {
    let server = TestServer::start();
    server.create_user("alice", false);
    set_password(&server, "alice", PASSWORD);
    let browser = Browser::new(&server.url);

    // /me without a session leads to the sign-in, which comes back to /me.
    let resp = browser.get("/me");
    assert_eq!(resp.status, 303, "{resp}");
    assert_eq!(location(&resp), format!("{}/login?next=/me", server.url));

    // A wrong password: 401 and the form again, no session.
    let resp = sign_in(&browser, "alice", "wrong password!");
    assert_eq!(resp.status, 401, "{resp}");
    assert!(resp.text().contains("invalid login or password"), "{resp}");
    assert!(set_cookie_for(&resp, "raktar_session").is_none(), "no session on failure:\n{resp}");
    // An unknown login reads the same.
    let resp = sign_in(&browser, "nobody", PASSWORD);
    assert_eq!(resp.status, 401, "{resp}");
    assert!(resp.text().contains("invalid login or password"), "{resp}");

    // The right password: a session cookie (HttpOnly, SameSite=Lax, not Secure on http) and /me.
    let resp = sign_in(&browser, "alice", PASSWORD);
    assert_eq!(resp.status, 303, "{resp}");
    assert_eq!(location(&resp), format!("{}/me", server.url));
    let cookie = set_cookie_for(&resp, "raktar_session").unwrap_or_else(|| panic!("no session cookie:\n{resp}"));
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("; Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http must not set Secure: {cookie}");
    assert!(cookie.contains("Max-Age=43200"), "12 hours by default: {cookie}");
    let session_value = browser.cookie("/", "raktar_session").unwrap();
    assert!(!server.logs().contains(&session_value), "the session secret must never be logged");
    assert!(!server.logs().contains(PASSWORD), "the password must never be logged");

    // The token page.
    let page = browser.get("/me");
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains("Cargo tokens") && html.contains("alice"), "{page}");
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    assert!(page.header("content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")));
    let csrf = hidden_field(&html, "csrf_token").unwrap();

    // The session JSON for scripts carries the same CSRF token.
    let info = browser.get("/auth/session");
    info.assert_status(200);
    let json = info.json();
    assert_eq!(json["login"], "alice");
    assert_eq!(json["role"], "member");
    assert_eq!(json["csrfToken"], csrf.as_str());

    // Create a token through the form: shown once, with the cargo configuration.
    let resp = browser.post_form(
        "/me/tokens",
        &[
            ("csrf_token", &csrf),
            ("name", "laptop"),
            ("scope", "read"),
            ("scope", "publish-new"),
            ("scope", "publish-update"),
            ("crates", ""),
            ("expires", "30"),
        ],
    );
    assert_eq!(resp.status, 201, "{resp}");
    let html = resp.text();
    assert!(html.contains("global-credential-providers = [&quot;cargo:token&quot;]"), "{resp}");
    assert!(html.contains(&format!("sparse+{}/index/", server.url)), "{resp}");
    let token = html
        .split("<pre class=\"secret\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("no token on the page:\n{resp}"))
        .to_string();
    assert!(token.starts_with("rkt_"), "{token}");
    assert!(!server.logs().contains(&token), "the token must never be logged");

    // The token works with the cargo API (private registry: config.json needs it).
    let http = server.http();
    http.get_index("config.json", None, &[]).assert_status(401);
    http.get_index("config.json", Some(&token), &[]).assert_status(200);

    // Listed (never the secret), then revoked from the page.
    let page = browser.get("/me");
    assert!(page.text().contains("laptop") && !page.text().contains(&token), "{page}");
    let resp = browser.post_form("/me/tokens/revoke", &[("csrf_token", &csrf), ("name", "laptop")]);
    assert_eq!(resp.status, 303, "{resp}");
    http.get_index("config.json", Some(&token), &[]).assert_status(401);

    // A token with a bad form is refused with a message, not a 500.
    let resp = browser.post_form("/me/tokens", &[("csrf_token", &csrf), ("name", "x"), ("expires", "never")]);
    assert_eq!(resp.status, 400, "{resp}");
    assert!(resp.text().contains("at least one scope"), "{resp}");

    // Logout ends the session server-side: the old cookie value no longer works.
    let resp = browser.post_form("/logout", &[("csrf_token", &csrf)]);
    assert_eq!(resp.status, 303, "{resp}");
    assert!(set_cookie_for(&resp, "raktar_session").is_some_and(|c| c.contains("Max-Age=0")), "{resp}");
    let stolen = Browser::new(&server.url);
    stolen.set_cookie("/", &format!("raktar_session={session_value}; Path=/"));
    stolen.get("/auth/session").assert_status(401);
    assert_eq!(stolen.get("/me").status, 303);
}

#[test]
fn sign_in_is_rate_limited_per_login_and_per_address() {
    // A day-long window: a window boundary in the middle of the test would reset the counters.
    let (server, _dir) = server_with_auth(
        "[auth]\nlogin_attempts_per_login = 3\nlogin_attempts_per_address = 6\nlogin_attempt_window = \"1d\"\n",
    );
    server.create_user("alice", false);
    set_password(&server, "alice", PASSWORD);
    let browser = Browser::new(&server.url);

    // A successful sign-in does not use up the allowance.
    for _ in 0..4 {
        assert_eq!(sign_in(&Browser::new(&server.url), "alice", PASSWORD).status, 303);
    }
    for i in 0..3 {
        let resp = sign_in(&browser, "alice", "wrong password!");
        assert_eq!(resp.status, 401, "attempt {i}:\n{resp}");
    }
    // Over the per-login limit: 429 with a clear message, even with the right password.
    let resp = sign_in(&browser, "alice", "wrong password!");
    assert_eq!(resp.status, 429, "{resp}");
    assert!(resp.text().contains("too many sign-in attempts for this account"), "{resp}");
    let resp = sign_in(&browser, "alice", PASSWORD);
    assert_eq!(resp.status, 429, "{resp}");

    // Per address: attempts for other logins from the same address add up (5 counted so far; the
    // limit is 6).
    let resp = sign_in(&browser, "bob", "wrong password!");
    assert_eq!(resp.status, 401, "{resp}");
    let resp = sign_in(&browser, "bob", "wrong password!");
    assert_eq!(resp.status, 429, "{resp}");
    assert!(resp.text().contains("too many sign-in attempts for this address"), "{resp}");
}

#[test]
fn cookie_authenticated_changes_need_the_csrf_token() {
    let server = TestServer::start();
    let browser = signed_in(&server, "alice");
    let csrf = page_csrf(&browser);

    // A form without the token, or with a wrong one: refused, nothing created.
    let resp = browser.post_form("/me/tokens", &[("name", "evil"), ("scope", "read"), ("expires", "7")]);
    assert_eq!(resp.status, 403, "{resp}");
    assert!(resp.text().contains("CSRF"), "{resp}");
    let resp = browser.post_form("/me/tokens", &[("csrf_token", "forged"), ("name", "evil"), ("scope", "read")]);
    assert_eq!(resp.status, 403, "{resp}");

    // Another session's token does not fit this session.
    server.create_user("mallory", false);
    set_password(&server, "mallory", PASSWORD);
    let other = Browser::new(&server.url);
    assert_eq!(sign_in(&other, "mallory", PASSWORD).status, 303);
    let other_csrf = page_csrf(&other);
    let resp = browser.post_form("/me/tokens", &[("csrf_token", &other_csrf), ("name", "evil"), ("scope", "read")]);
    assert_eq!(resp.status, 403, "{resp}");
    assert!(!browser.get("/me").text().contains("evil"));

    // Scripts: JSON with the cookie but no X-CSRF-Token header is refused (GraphQL included).
    let body = br#"{"query":"mutation { createToken(name: \"evil\") { token } }"}"#.to_vec();
    let resp = browser.request("POST", "/graphql", &[("content-type", "application/json")], Some(body.clone()));
    assert_eq!(resp.status, 403, "{resp}");
    assert!(resp.cargo_error_details().contains("CSRF"), "{resp}");
    let resp = browser.request(
        "POST",
        "/graphql",
        &[("content-type", "application/json"), ("x-csrf-token", "forged")],
        Some(body.clone()),
    );
    assert_eq!(resp.status, 403, "{resp}");
    // With the right header the request reaches the route (whatever it answers).
    let resp = browser.request(
        "POST",
        "/graphql",
        &[("content-type", "application/json"), ("x-csrf-token", &csrf)],
        Some(br#"{"query":"{ __typename }"}"#.to_vec()),
    );
    assert_ne!(resp.status, 403, "{resp}");

    // Logout without the token is refused too; the session stays.
    let resp = browser.post_form("/logout", &[]);
    assert_eq!(resp.status, 403, "{resp}");
    browser.get("/auth/session").assert_status(200);

    // Cargo clients (token in Authorization) are exempt even if a cookie rides along.
    let token = server.create_token("alice", "cli-token");
    let resp = browser.request("PUT", "/api/v1/crates/new", &[("authorization", &token)], Some(vec![0, 0]));
    assert_ne!(resp.status, 403, "{resp}");

    // The sign-in form itself needs its double-submit token (against login CSRF).
    let fresh = Browser::new(&server.url);
    let resp = fresh.post_form("/login", &[("login", "alice"), ("password", PASSWORD), ("next", "/me")]);
    assert_eq!(resp.status, 403, "{resp}");
    assert!(set_cookie_for(&resp, "raktar_session").is_none());
}

#[test]
fn a_disabled_users_session_stops_working() {
    let server = TestServer::start();
    let browser = signed_in(&server, "alice");
    browser.get("/auth/session").assert_status(200);

    server.cli_ok(&["user", "disable", "alice"]);
    browser.get("/auth/session").assert_status(401);
    let resp = browser.get("/me");
    assert_eq!(resp.status, 303, "{resp}");
    // Disabled users cannot sign in again either.
    let resp = sign_in(&browser, "alice", PASSWORD);
    assert_eq!(resp.status, 401, "{resp}");
    assert!(resp.text().contains("disabled"), "{resp}");

    server.cli_ok(&["user", "enable", "alice"]);
    assert_eq!(sign_in(&browser, "alice", PASSWORD).status, 303);
    browser.get("/auth/session").assert_status(200);
}

#[test]
fn set_password_checks_its_input() {
    let server = TestServer::start();
    server.create_user("alice", false);
    let out = cli_with_stdin(&server, &["user", "set-password", "alice"], "short\n");
    out.assert_failure().assert_output_contains("at least 12 characters");
    let out = cli_with_stdin(&server, &["user", "set-password", "alice"], "");
    out.assert_failure().assert_output_contains("no password on standard input");
    let out = cli_with_stdin(&server, &["user", "set-password", "nobody"], "long enough password\n");
    out.assert_failure().assert_output_contains("no user with login `nobody`");
    // Changing the password ends the user's sessions.
    set_password(&server, "alice", PASSWORD);
    let browser = Browser::new(&server.url);
    assert_eq!(sign_in(&browser, "alice", PASSWORD).status, 303);
    set_password(&server, "alice", "another long password");
    browser.get("/auth/session").assert_status(401);
    assert_eq!(sign_in(&browser, "alice", "another long password").status, 303);
}

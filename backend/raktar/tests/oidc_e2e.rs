//! Single sign-on end to end: a real OpenID Connect provider (npm `oidc-provider`, started from
//! `tests/oidc/provider.mjs` on 127.0.0.1) and a real `raktar serve` configured against it.
//!
//! Covered: discovery, the authorization code flow with PKCE, state and nonce, the code exchange
//! with a client secret, ID-token verification against the provider's JWKS, the user upsert from
//! claims (login, name, e-mail, admin group; updated on the next sign-in), the session cookie and
//! `/me`, and refusals of replayed or foreign callbacks. The verifier's rejections (wrong audience,
//! wrong issuer, expiry, tampered signature, wrong nonce, unknown key) are unit tests in
//! `backend/raktar-http/src/oidc.rs`, with tokens signed by the tests' own keys.
//!
//! Needs `node` and `npm ci --prefix backend/raktar/tests/oidc` (`.ci/oidc-setup`); without them the
//! test fails with that instruction instead of passing silently.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::web::{Browser, hidden_field, location, set_cookie_for};
use common::{HttpResponse, TestServer};
use serde_json::json;

const CLIENT_ID: &str = "raktar-test";
const CLIENT_SECRET: &str = "raktar-test-client-secret";
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Fails (never skips) when the provider cannot run here.
fn require_provider_install() {
    let module = oidc_dir().join("node_modules/oidc-provider/package.json");
    assert!(
        module.is_file(),
        "the test OIDC provider is not installed ({} is missing).\n\
         Run `.ci/oidc-setup` (or `npm ci --prefix backend/raktar/tests/oidc`) first.",
        module.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is needed to run the test OIDC provider: {node:?}"
    );
}

/// The running provider; killed on drop.
struct Provider {
    child: Child,
    stdin: Option<ChildStdin>,
    issuer: String,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<String>>,
    accounts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Provider {
    /// Starts the provider with these accounts; returns once it printed its issuer.
    fn start(accounts: &serde_json::Value) -> Self {
        require_provider_install();
        let dir = tempfile::tempdir().unwrap();
        let accounts_path = dir.path().join("accounts.json");
        std::fs::write(&accounts_path, accounts.to_string()).unwrap();
        let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/oidc/test-signing-key.pem");
        let mut child = Command::new("node")
            .arg(oidc_dir().join("provider.mjs"))
            .current_dir(oidc_dir())
            .env("OIDC_KEY_PEM", key)
            .env("OIDC_ACCOUNTS", &accounts_path)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node provider.mjs");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        {
            let out = child.stdout.take().unwrap();
            let log = log.clone();
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            });
        }
        {
            let err = child.stderr.take().unwrap();
            let log = log.clone();
            thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push_str(&format!("[stderr] {line}\n"));
                }
            });
        }
        let stdin = child.stdin.take();
        let mut provider =
            Provider { child, stdin, issuer: String::new(), lines, log, accounts: accounts_path, _dir: dir };
        let line = provider.wait_for("ISSUER ");
        provider.issuer = line.trim_start_matches("ISSUER ").trim().to_string();
        provider
    }

    fn wait_for(&self, prefix: &str) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!("the OIDC provider did not print `{prefix}` ({e:?}):\n{}", self.log.lock().unwrap()),
            }
        }
    }

    /// Registers Raktar's callback and waits until the provider serves requests.
    fn ready(&mut self, redirect_uri: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "REDIRECT {redirect_uri}").unwrap();
        stdin.flush().unwrap();
        self.wait_for("READY");
    }

    fn set_accounts(&self, accounts: &serde_json::Value) {
        std::fs::write(&self.accounts, accounts.to_string()).unwrap();
    }

    fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("==== OIDC provider at {} ====\n{}", self.issuer, self.logs());
        }
    }
}

fn accounts(alice_name: &str, alice_groups: &[&str]) -> serde_json::Value {
    json!({
        "alice": {
            "password": "alice-password",
            "claims": {
                "preferred_username": "alice",
                "name": alice_name,
                "email": "alice@example.com",
                "email_verified": true,
                "groups": alice_groups,
            }
        },
        // No preferred_username: Raktar falls back to the e-mail's local part.
        "bob-subject": {
            "password": "bob-password",
            "claims": { "name": "Bob Builder", "email": "bob@example.com", "groups": ["dev"] }
        },
        // Claims the login `alice` from another subject: gets its own account, never alice's.
        "impostor": {
            "password": "impostor-password",
            "claims": { "preferred_username": "alice", "name": "Not Alice" }
        }
    })
}

/// Raktar with `[oidc]` pointing at the provider.
fn raktar_for(provider: &mut Provider) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("raktar.toml");
    std::fs::write(
        &config,
        format!(
            "[oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             scopes = [\"openid\", \"profile\", \"email\", \"groups\"]\nadmin_group = \"raktar-admins\"\n\
             display_name = \"Test IdP\"\n",
            provider.issuer
        ),
    )
    .unwrap();
    let server = TestServer::start_with_args(&["--config", config.to_str().unwrap()]);
    provider.ready(&format!("{}/auth/oidc/callback", server.url));
    (server, dir)
}

/// A query parameter of a URL.
fn query_param(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Runs the sign-in from `/auth/oidc/start` through the provider's form up to Raktar's callback
/// (not followed); returns the callback URL.
fn to_callback(browser: &Browser, server: &TestServer, provider: &Provider, login: &str, password: &str) -> String {
    let start = browser.get("/auth/oidc/start?next=/me");
    assert_eq!(start.status, 303, "{start}\n{}", server.logs());
    let auth_url = location(&start);
    assert!(auth_url.starts_with(&format!("{}/auth?", provider.issuer)), "{auth_url}");
    assert_eq!(query_param(&auth_url, "code_challenge_method").as_deref(), Some("S256"), "{auth_url}");
    assert_eq!(query_param(&auth_url, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        query_param(&auth_url, "redirect_uri").as_deref(),
        Some(format!("{}/auth/oidc/callback", server.url).as_str())
    );
    for p in ["state", "nonce", "code_challenge"] {
        assert!(query_param(&auth_url, p).is_some_and(|v| v.len() >= 43), "{p} missing or short in {auth_url}");
    }
    let state_cookie = set_cookie_for(&start, "raktar_oidc_state").expect("state cookie");
    assert!(state_cookie.contains("HttpOnly") && state_cookie.contains("SameSite=Lax"), "{state_cookie}");

    let callback_prefix = format!("{}/auth/oidc/callback", server.url);
    let mut resp = browser.get(&auth_url);
    let mut posted = false;
    for _ in 0..12 {
        match resp.status {
            300..=399 => {
                let next = location(&resp);
                if next.starts_with(&callback_prefix) {
                    return next;
                }
                resp = browser.get(&next);
            }
            200 if !posted => {
                let html = resp.text();
                assert!(html.contains("Test provider sign-in"), "expected the provider's form:\n{resp}");
                let action = html.split("action=\"").nth(1).and_then(|s| s.split('"').next()).expect("form action");
                let action = reqwest::Url::parse(&resp.url).unwrap().join(action).unwrap().to_string();
                resp = browser.post_form(&action, &[("login", login), ("password", password)]);
                posted = true;
            }
            _ => panic!("unexpected step in the provider flow:\n{resp}\n{}", provider.logs()),
        }
    }
    panic!("the sign-in did not reach Raktar's callback:\n{resp}\n{}", provider.logs());
}

/// The whole sign-in; returns the callback's response (a redirect to /me with the session cookie).
fn sso_sign_in(
    browser: &Browser,
    server: &TestServer,
    provider: &Provider,
    login: &str,
    password: &str,
) -> HttpResponse {
    let callback = to_callback(browser, server, provider, login, password);
    browser.get(&callback)
}

#[test]
fn oidc_code_flow_end_to_end() {
    let mut provider = Provider::start(&accounts("Alice Adams", &["dev", "raktar-admins"]));
    let (server, _config) = raktar_for(&mut provider);

    // The sign-in page offers single sign-on.
    let browser = Browser::new(&server.url);
    let page = browser.get("/login?next=/me");
    page.assert_status(200);
    assert!(page.text().contains("Sign in with Test IdP"), "{page}");

    // Code flow: start -> provider form -> callback -> session -> /me.
    let callback = to_callback(&browser, &server, &provider, "alice", "alice-password");
    let resp = browser.get(&callback);
    assert_eq!(resp.status, 303, "{resp}\n{}", server.logs());
    assert_eq!(location(&resp), format!("{}/me", server.url));
    let cookie = set_cookie_for(&resp, "raktar_session").unwrap_or_else(|| panic!("no session cookie:\n{resp}"));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(set_cookie_for(&resp, "raktar_oidc_state").is_some_and(|c| c.contains("Max-Age=0")), "{resp}");

    let me = browser.get("/me");
    me.assert_status(200);
    assert!(me.text().contains("Alice Adams (alice)"), "{me}");

    // The user was created from the claims; the admin group made it an administrator.
    let info = browser.get("/auth/session");
    info.assert_status(200);
    let info = info.json();
    assert_eq!(info["login"], "alice");
    assert_eq!(info["name"], "Alice Adams");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["role"], "admin");

    // The session is a real one: a token made on the page works with the cargo API.
    let csrf = hidden_field(&me.text(), "csrf_token").unwrap();
    let created = browser
        .post_form("/me/tokens", &[("csrf_token", &csrf), ("name", "sso-laptop"), ("scope", "read"), ("expires", "7")]);
    assert_eq!(created.status, 201, "{created}");
    let token =
        created.text().split("<pre class=\"secret\">").nth(1).unwrap().split("</pre>").next().unwrap().to_string();
    server.http().get_index("config.json", Some(&token), &[]).assert_status(200);

    // Replaying the callback fails: the state cookie is gone, and even with it planted again the
    // in-flight sign-in was consumed.
    let replay = browser.get(&callback);
    assert_eq!(replay.status, 400, "{replay}");
    let state = query_param(&callback, "state").unwrap();
    browser.set_cookie("/auth/oidc", &format!("raktar_oidc_state={state}; Path=/auth/oidc"));
    let replay = browser.get(&callback);
    assert_eq!(replay.status, 401, "{replay}");
    assert!(replay.text().contains("expired or was already used"), "{replay}");

    // A callback for a sign-in started in another browser is refused (login CSRF).
    let victim = Browser::new(&server.url);
    let attacker = Browser::new(&server.url);
    let foreign = to_callback(&attacker, &server, &provider, "bob-subject", "bob-password");
    let resp = victim.get(&foreign);
    assert_eq!(resp.status, 400, "{resp}");
    assert!(set_cookie_for(&resp, "raktar_session").is_none());
    victim.get("/auth/session").assert_status(401);

    // Login from the e-mail's local part when there is no preferred_username; not an admin.
    let bob = Browser::new(&server.url);
    assert_eq!(sso_sign_in(&bob, &server, &provider, "bob-subject", "bob-password").status, 303);
    let info = bob.get("/auth/session").json();
    assert_eq!((info["login"].as_str(), info["role"].as_str()), (Some("bob"), Some("member")), "{info}");

    // Another subject claiming the login `alice` gets a distinct account, not alice's.
    let impostor = Browser::new(&server.url);
    let resp = sso_sign_in(&impostor, &server, &provider, "impostor", "impostor-password");
    assert_eq!(resp.status, 303, "{resp}");
    let info = impostor.get("/auth/session").json();
    assert_eq!((info["login"].as_str(), info["role"].as_str()), (Some("alice-2"), Some("member")), "{info}");

    // The next sign-in updates the user from the claims: new name, no longer in the admin group.
    provider.set_accounts(&accounts("Alice B. Adams", &["dev"]));
    let again = Browser::new(&server.url);
    assert_eq!(sso_sign_in(&again, &server, &provider, "alice", "alice-password").status, 303);
    let info = again.get("/auth/session").json();
    assert_eq!(info["name"], "Alice B. Adams");
    assert_eq!(info["role"], "member");
    // Her first session sees the change at once (the user is read on every request).
    assert_eq!(browser.get("/auth/session").json()["role"], "member");

    // Nothing secret in the logs.
    let logs = server.logs();
    assert!(!logs.contains(CLIENT_SECRET), "the client secret must never be logged");
    assert!(!logs.contains(&token));
    if let Some(session) = browser.cookie("/", "raktar_session") {
        assert!(!logs.contains(&session), "the session secret must never be logged");
    }
}

#[test]
fn sso_without_configuration_is_not_offered() {
    let server = TestServer::start();
    let browser = Browser::new(&server.url);
    let page = browser.get("/login");
    page.assert_status(200);
    assert!(!page.text().contains("Sign in with"), "{page}");
    browser.get("/auth/oidc/start").assert_status(404);
    browser.get("/auth/oidc/callback?code=x&state=y").assert_status(404);
}

/// Issue 8: a provider user `alice@evil.example` must not become the local administrator `alice`;
/// an administrator's link does bind an identity to the existing account.
#[test]
fn a_colliding_provider_user_never_takes_over_a_local_account() {
    let accounts = json!({
        "evil": {
            "password": "evil-password",
            "claims": { "email": "alice@evil.example", "email_verified": true, "name": "Mallory" }
        },
        "corp-alice": {
            "password": "corp-password",
            "claims": {
                "preferred_username": "alice.corp",
                "email": "alice@corp.example",
                "email_verified": true,
                "groups": ["raktar-admins"],
            }
        }
    });
    let mut provider = Provider::start(&accounts);
    let (server, _config) = raktar_for(&mut provider);
    // The provider manages roles here (admin_group): the local administrator `alice` exists first.
    server.create_user("alice", true);

    let evil = Browser::new(&server.url);
    let resp = sso_sign_in(&evil, &server, &provider, "evil", "evil-password");
    assert_eq!(resp.status, 303, "{resp}\n{}", server.logs());
    let info = evil.get("/auth/session").json();
    assert_eq!(info["login"], "alice-2", "{info}");
    assert_eq!(info["role"], "member", "{info}");
    // Signing in again (even with another e-mail) opens the same new account.
    let mut changed = accounts.clone();
    changed["evil"]["claims"]["email"] = json!("someone@evil.example");
    provider.set_accounts(&changed);
    let again = Browser::new(&server.url);
    assert_eq!(sso_sign_in(&again, &server, &provider, "evil", "evil-password").status, 303);
    assert_eq!(again.get("/auth/session").json()["login"], "alice-2");

    // The administrator links alice's real identity to the existing account from the CLI.
    server.cli_ok(&["user", "link", "alice", "--issuer", &provider.issuer, "--subject", "corp-alice"]);
    let listed = server.cli_ok(&["user", "identities", "alice"]);
    assert!(listed.contains("corp-alice"), "{listed}");
    let real = Browser::new(&server.url);
    assert_eq!(sso_sign_in(&real, &server, &provider, "corp-alice", "corp-password").status, 303);
    let info = real.get("/auth/session").json();
    assert_eq!((info["login"].as_str(), info["role"].as_str()), (Some("alice"), Some("admin")), "{info}");

    // Unlinking ends the sessions and the identity's next sign-in gets an account of its own.
    server.cli_ok(&["user", "unlink", "alice", "--issuer", &provider.issuer, "--subject", "corp-alice"]);
    real.get("/auth/session").assert_status(401);
    let after = Browser::new(&server.url);
    assert_eq!(sso_sign_in(&after, &server, &provider, "corp-alice", "corp-password").status, 303);
    assert_eq!(after.get("/auth/session").json()["login"], "alice.corp");
}

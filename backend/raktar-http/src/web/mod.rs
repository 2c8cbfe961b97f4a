//! The web sign-in (backend-for-frontend) and the minimal server-rendered token page.
//!
//! | route | what | file |
//! |---|---|---|
//! | `GET /login` | sign-in form (local accounts) and the "Sign in with …" link when OIDC is configured | `signin.rs` |
//! | `POST /login` | checks login and password (rate limited), opens a session, redirects to `next` | `signin.rs` |
//! | `POST /logout` | ends the session | `signin.rs` |
//! | `GET /auth/oidc/start` | starts the OIDC code flow (PKCE, state, nonce) and redirects to the provider | `oidc_flow.rs` |
//! | `GET /auth/oidc/callback` | finishes it: code exchange, ID-token verification, user upsert, session | `oidc_flow.rs` |
//! | `GET /auth/session` | JSON about the signed-in user, with the CSRF token for scripts (the web UI) | `signin.rs` |
//! | `GET /me` | where cargo sends users: the token page (or the web UI's, once configured) | `token_page.rs` |
//! | `POST /me/tokens` | creates a token from the form; shows the secret once | `token_page.rs` |
//! | `POST /me/tokens/revoke` | revokes a token | `token_page.rs` |
//!
//! This module holds the settings, the routes and the names of the short-lived sign-in cookies;
//! `helpers.rs` the page framing, escaping, form parsing, redirects and error texts they share.
//!
//! Every form carries the session's CSRF token (checked by [`crate::auth::csrf_guard`]); the sign-in
//! form, which has no session yet, carries a double-submit token bound to a short-lived cookie
//! (against login CSRF).

mod helpers;
mod oidc_flow;
mod signin;
mod token_page;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use self::helpers::{ClientAddress, esc};
pub use self::oidc_flow::CallbackQuery;
use self::oidc_flow::{oidc_callback, oidc_start};
pub use self::signin::NextQuery;
use self::signin::{login_page, login_submit, logout, session_info};
use self::token_page::{create_token, me_page, revoke_token};
use crate::AppState;
use crate::client_addr::TrustedProxies;
use crate::oidc::OidcClient;

/// Cookie binding the sign-in form to the browser that loaded it (double submit, against login CSRF);
/// on plain http (path `/login`).
const LOGIN_CSRF_COOKIE: &str = "raktar_login_csrf";
/// The same on https: the `__Host-` prefix (path `/`, `Secure`, host-only) keeps a sibling
/// subdomain from planting a known value.
const SECURE_LOGIN_CSRF_COOKIE: &str = "__Host-raktar_login_csrf";
/// Form field echoing [`LOGIN_CSRF_COOKIE`].
const LOGIN_CSRF_FIELD: &str = "login_csrf";
/// Cookie binding the OIDC callback to the browser that started the sign-in (holds the `state`);
/// on plain http (path `/auth/oidc`).
const OIDC_STATE_COOKIE: &str = "raktar_oidc_state";
/// The same on https, `__Host-` prefixed (path `/`).
const SECURE_OIDC_STATE_COOKIE: &str = "__Host-raktar_oidc_state";

/// Name and path of a short-lived sign-in cookie: `__Host-` prefixed with path `/` on https.
fn signin_cookie(
    state: &AppState,
    plain: &'static str,
    secure: &'static str,
    path: &'static str,
) -> (&'static str, &'static str) {
    if state.secure_cookies() { (secure, "/") } else { (plain, path) }
}

fn login_csrf_cookie(state: &AppState) -> (&'static str, &'static str) {
    signin_cookie(state, LOGIN_CSRF_COOKIE, SECURE_LOGIN_CSRF_COOKIE, "/login")
}

fn oidc_state_cookie(state: &AppState) -> (&'static str, &'static str) {
    signin_cookie(state, OIDC_STATE_COOKIE, SECURE_OIDC_STATE_COOKIE, "/auth/oidc")
}

/// Web sign-in settings (built by `main` from the config).
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// The OIDC relying party, when single sign-on is configured.
    pub oidc: Option<Arc<OidcClient>>,
    /// Whether local accounts may sign in with a password.
    pub local_login: bool,
    /// Where `/me` leads once the web UI has a token page (absolute URL or local path); until then
    /// `/me` serves the server-rendered page.
    pub token_page_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers give the client address for the
    /// sign-in rate limits (see [`crate::client_addr`]); empty: the peer address is used.
    pub trusted_proxies: TrustedProxies,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self { oidc: None, local_login: true, token_page_url: None, trusted_proxies: TrustedProxies::default() }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/auth/oidc/start", get(oidc_start))
        .route("/auth/oidc/callback", get(oidc_callback))
        .route("/auth/session", get(session_info))
        .route("/me", get(me_page))
        .route("/me/tokens", post(create_token))
        .route("/me/tokens/revoke", post(revoke_token))
}

//! The web sign-in (backend-for-frontend) and the minimal server-rendered token page.
//!
//! | route | what |
//! |---|---|
//! | `GET /login` | sign-in form (local accounts) and the "Sign in with …" link when OIDC is configured |
//! | `POST /login` | checks login and password (rate limited), opens a session, redirects to `next` |
//! | `POST /logout` | ends the session |
//! | `GET /auth/oidc/start` | starts the OIDC code flow (PKCE, state, nonce) and redirects to the provider |
//! | `GET /auth/oidc/callback` | finishes it: code exchange, ID-token verification, user upsert, session |
//! | `GET /auth/session` | JSON about the signed-in user, with the CSRF token for scripts (the web UI) |
//! | `GET /me` | where cargo sends users: the token page (or the web UI's, once configured) |
//! | `POST /me/tokens` | creates a token from the form; shows the secret once |
//! | `POST /me/tokens/revoke` | revokes a token |
//!
//! Every form carries the session's CSRF token (checked by [`crate::auth::csrf_guard`]); the sign-in
//! form, which has no session yet, carries a double-submit token bound to a short-lived cookie
//! (against login CSRF).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use raktar_core::domain::{CratePattern, DomainError, Login, Scope};
use raktar_core::services::Principal;
use raktar_core::services::sessions::{NewSession, SessionMethod, csrf_token_for};
use raktar_core::services::sso::is_local_path;
use raktar_core::services::tokens::{NewToken, TokenView};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::auth::{Auth, CSRF_FIELD, session_clear_cookie, session_cookie, session_set_cookie, set_cookie};
use crate::client_addr::{TrustedProxies, client_ip};
use crate::oidc::{OidcClient, OidcError};

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
/// Token lifetimes offered by the form (days); `never` is offered too.
const EXPIRY_CHOICES: [(&str, &str); 5] =
    [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "never")];

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

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// HTML escaping for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// An urlencoded form body.
struct FormData(Vec<(String, String)>);

impl FormData {
    fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// `next` if it is a local path, else `/me`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_owned(),
        _ => "/me".to_owned(),
    }
}

/// 303 to a path of this server (under the public URL).
fn see_other(state: &AppState, path: &str) -> Response {
    let location = format!("{}{path}", state.public_url);
    redirect_to(&location)
}

fn redirect_to(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// A full HTML page with the headers every auth page gets (no caching, no framing, tight CSP).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Raktar</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}}
pre{{background:#f4f4f4;padding:.75rem;overflow:auto}} code{{background:#f4f4f4;padding:0 .2rem}}
table{{border-collapse:collapse;width:100%;margin:1rem 0}} th,td{{text-align:left;border-bottom:1px solid #ddd;padding:.35rem .5rem;vertical-align:top}}
label{{display:block;margin:.5rem 0 .2rem}} input[type=text],input[type=password],select{{width:100%;max-width:26rem;padding:.35rem}}
fieldset{{border:1px solid #ddd;margin:.75rem 0}} .error{{background:#fde8e8;border:1px solid #e0a0a0;padding:.5rem .75rem}}
.secret{{background:#fff7d6;border:1px solid #e6cf73;padding:.75rem;font-size:1.05rem;word-break:break-all}}
.sso{{display:inline-block;padding:.45rem 1rem;border:1px solid #888;border-radius:4px;text-decoration:none;color:inherit}}
.inline{{display:inline}} button{{padding:.35rem .9rem;cursor:pointer}} header{{display:flex;justify-content:space-between;align-items:center}}
</style></head><body>
{body}
</body></html>"#,
        title = esc(title)
    );
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// A page with a message and a way back to the sign-in.
fn message_page(state: &AppState, status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"{}/login\">Back to sign-in</a></p>",
        esc(title),
        esc(message),
        esc(&state.public_url)
    );
    page(status, title, &body)
}

/// Status and user-facing text of a domain error (internal details are logged, never shown).
fn describe(e: &DomainError) -> (StatusCode, String) {
    let status = crate::error::status_of(e);
    match e {
        DomainError::Internal(msg) => {
            tracing::error!(error = %msg, "internal error");
            (status, "internal server error; the error has been logged".to_owned())
        }
        other => (status, other.to_string()),
    }
}

/// The client address used by the sign-in rate limits ([`client_ip`]: the peer, or behind a
/// trusted proxy the forwarded address); `None` when the server recorded no peer address.
pub struct ClientAddress(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = client_ip(&parts.headers, &parts.extensions, &state.web.trusted_proxies);
        Ok(ClientAddress(ip.map(|ip| ip.to_string())))
    }
}

/// The session secret and principal of a cookie-authenticated request.
fn session_of<'a>(auth: &'a Auth, headers: &'a HeaderMap, state: &AppState) -> Option<(&'a Principal, &'a str)> {
    let principal = auth.principal().filter(|_| auth.via_session())?;
    let secret = session_cookie(headers, state.secure_cookies())?;
    Some((principal, secret))
}

/// Sets the session cookie and redirects to `next`.
fn signed_in(state: &AppState, session: &NewSession, next: &str) -> Response {
    let response = see_other(state, next);
    with_cookie(response, session_set_cookie(session.secret.expose(), session.lifetime_secs, state.secure_cookies()))
}

// ---------------------------------------------------------------------------------------------
// Sign-in and sign-out
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

struct LoginForm<'a> {
    next: &'a str,
    login: &'a str,
    error: Option<&'a str>,
}

/// Renders the sign-in page with a fresh login-CSRF cookie.
fn render_login(state: &AppState, headers: &HeaderMap, status: StatusCode, form: LoginForm<'_>) -> Response {
    let base = esc(&state.public_url);
    let next = esc(form.next);
    let login_csrf = random_token();
    let mut body = String::from("<h1>Sign in to Raktar</h1>");
    if let Some(error) = form.error {
        body.push_str(&format!("<p class=\"error\">{}</p>", esc(error)));
    }
    if let Some(oidc) = &state.web.oidc {
        body.push_str(&format!(
            "<p><a class=\"sso\" href=\"{base}/auth/oidc/start?next={}\">Sign in with {}</a></p>",
            esc(&form_urlencoded::byte_serialize(form.next.as_bytes()).collect::<String>()),
            esc(oidc.display_name())
        ));
    }
    if state.web.local_login {
        // A stale session cookie still needs its CSRF token on this POST.
        let session_csrf = session_cookie(headers, state.secure_cookies())
            .map(|s| format!("<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">", esc(&csrf_token_for(s))))
            .unwrap_or_default();
        body.push_str(&format!(
            r#"<form method="post" action="{base}/login">
<input type="hidden" name="next" value="{next}">
<input type="hidden" name="{LOGIN_CSRF_FIELD}" value="{login_csrf}">{session_csrf}
<label for="login">Login</label><input type="text" id="login" name="login" value="{login}" autocomplete="username" required autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<p><button type="submit">Sign in</button></p>
</form>"#,
            login = esc(form.login)
        ));
    } else if state.web.oidc.is_none() {
        body.push_str("<p>No sign-in method is enabled on this server. Ask an administrator.</p>");
    }
    let response = page(status, "Sign in", &body);
    let (name, path) = login_csrf_cookie(state);
    with_cookie(response, set_cookie(name, &login_csrf, path, 3600, state.secure_cookies()))
}

async fn login_page(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if session_of(&auth, &headers, &state).is_some() {
        return see_other(&state, &next);
    }
    if !state.web.local_login && state.web.oidc.is_some() {
        // Single sign-on only: go straight to the provider.
        let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        return see_other(&state, &format!("/auth/oidc/start?next={encoded}"));
    }
    render_login(&state, &headers, StatusCode::OK, LoginForm { next: &next, login: "", error: None })
}

async fn login_submit(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.web.local_login {
        return message_page(&state, StatusCode::NOT_FOUND, "Sign-in", "password sign-in is disabled on this server");
    }
    let form = FormData::parse(&body);
    let next = safe_next(form.get("next"));
    let login = form.get("login").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let cookie = crate::auth::cookie_value(&headers, login_csrf_cookie(&state).0).unwrap_or_default();
    let field = form.get(LOGIN_CSRF_FIELD).unwrap_or_default();
    if cookie.is_empty() || cookie.len() != field.len() || !bool::from(cookie.as_bytes().ct_eq(field.as_bytes())) {
        let error = "the sign-in form expired or was not loaded from this server; please try again";
        return render_login(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            LoginForm { next: &next, login, error: Some(error) },
        );
    }
    let user = match state.registry.password_login(login, password, address.as_deref()).await {
        Ok(user) => user,
        Err(e) => {
            let (status, message) = describe(&e);
            let shown_login: String = login.chars().take(64).collect();
            let form = LoginForm { next: &next, login: &shown_login, error: Some(&message) };
            return render_login(&state, &headers, status, form);
        }
    };
    let session = match Login::parse(&user.login) {
        Ok(login) => state.registry.create_session(&login, SessionMethod::Password).await,
        Err(e) => Err(e),
    };
    match session {
        Ok(session) => {
            let response = signed_in(&state, &session, &next);
            let (name, path) = login_csrf_cookie(&state);
            with_cookie(response, set_cookie(name, "", path, 0, state.secure_cookies()))
        }
        Err(e) => {
            let (status, message) = describe(&e);
            message_page(&state, status, "Sign-in failed", &message)
        }
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_cookie(&headers, state.secure_cookies())
        && let Err(e) = state.registry.revoke_session(secret).await
    {
        let (status, message) = describe(&e);
        return message_page(&state, status, "Sign-out failed", &message);
    }
    with_cookie(see_other(&state, "/login"), session_clear_cookie(state.secure_cookies()))
}

/// JSON for scripts (the web UI): who is signed in, and the CSRF token to send as `X-CSRF-Token`.
async fn session_info(State(state): State<AppState>, auth: Auth, headers: HeaderMap) -> Response {
    let mut response = match session_of(&auth, &headers, &state) {
        Some((principal, secret)) => {
            let u = &principal.user;
            axum::Json(json!({
                "login": u.login,
                "name": u.name,
                "email": u.email,
                "role": u.role.as_str(),
                "csrfToken": csrf_token_for(secret),
            }))
            .into_response()
        }
        None => crate::error::ApiError::new(DomainError::unauthenticated("not signed in")).into_response(),
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------------
// OIDC
// ---------------------------------------------------------------------------------------------

fn oidc_failure(state: &AppState, e: &OidcError) -> Response {
    match e {
        OidcError::Rejected(msg) => message_page(state, StatusCode::UNAUTHORIZED, "Sign-in refused", msg),
        OidcError::Provider(msg) => {
            tracing::error!(error = %msg, "OIDC provider failure");
            message_page(
                state,
                StatusCode::BAD_GATEWAY,
                "Sign-in unavailable",
                "the sign-in provider could not be reached or answered unexpectedly; try again later",
            )
        }
        OidcError::Config(msg) => {
            tracing::error!(error = %msg, "OIDC configuration error");
            message_page(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in unavailable",
                "single sign-on is misconfigured on this server; the error has been logged",
            )
        }
    }
}

async fn oidc_start(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    let Some(oidc) = state.web.oidc.clone() else {
        return message_page(
            &state,
            StatusCode::NOT_FOUND,
            "Sign-in",
            "single sign-on is not configured on this server",
        );
    };
    let next = safe_next(q.next.as_deref());
    let pending = match state.registry.begin_sso_login(&next).await {
        Ok(p) => p,
        Err(e) => {
            let (status, message) = describe(&e);
            return message_page(&state, status, "Sign-in failed", &message);
        }
    };
    match oidc.authorization_url(&pending).await {
        Ok(url) => {
            let (name, path) = oidc_state_cookie(&state);
            with_cookie(redirect_to(&url), set_cookie(name, &pending.state, path, 600, state.secure_cookies()))
        }
        Err(e) => oidc_failure(&state, &e),
    }
}

/// The fixed text shown for an authorization error code (RFC 6749 4.1.2.1, OpenID Connect 3.1.2.6).
fn provider_error_message(code: &str) -> &'static str {
    match code {
        "access_denied" => "the identity provider did not sign you in: access was denied",
        "login_required" | "interaction_required" | "account_selection_required" | "consent_required" => {
            "the identity provider needs you to sign in there first; start again"
        }
        "temporarily_unavailable" | "server_error" => {
            "the identity provider is unavailable at the moment; try again later"
        }
        "invalid_request"
        | "unauthorized_client"
        | "unsupported_response_type"
        | "invalid_scope"
        | "invalid_request_uri"
        | "invalid_request_object"
        | "request_not_supported"
        | "request_uri_not_supported"
        | "registration_not_supported" => {
            "the identity provider refused the sign-in request; an administrator should check the single sign-on \
             settings (the details are in the server log)"
        }
        _ => "the identity provider did not sign you in (the details are in the server log)",
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

async fn oidc_callback(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<CallbackQuery>) -> Response {
    let Some(oidc) = state.web.oidc.clone() else {
        return message_page(
            &state,
            StatusCode::NOT_FOUND,
            "Sign-in",
            "single sign-on is not configured on this server",
        );
    };
    let secure = state.secure_cookies();
    let (state_cookie, state_path) = oidc_state_cookie(&state);
    let clear_state = set_cookie(state_cookie, "", state_path, 0, secure);
    if let Some(error) = &q.error {
        // The description is provider- (and so attacker-) supplied text: logged, truncated, never shown.
        let printable = |s: &str| s.chars().filter(|c| !c.is_control()).take(200).collect::<String>();
        tracing::warn!(
            error = %printable(error),
            description = %printable(q.error_description.as_deref().unwrap_or("-")),
            "the identity provider returned an error"
        );
        let message = provider_error_message(error);
        return with_cookie(message_page(&state, StatusCode::UNAUTHORIZED, "Sign-in refused", message), clear_state);
    }
    let (Some(code), Some(returned_state)) = (q.code.as_deref(), q.state.as_deref()) else {
        return message_page(&state, StatusCode::BAD_REQUEST, "Sign-in failed", "the callback lacks `code` or `state`");
    };
    let cookie = crate::auth::cookie_value(&headers, state_cookie).unwrap_or_default();
    let bound = !cookie.is_empty()
        && cookie.len() == returned_state.len()
        && bool::from(cookie.as_bytes().ct_eq(returned_state.as_bytes()));
    if !bound {
        tracing::warn!("OIDC callback without the state cookie of this browser");
        let message = "this sign-in was not started in this browser, or it took too long; please start again";
        return with_cookie(message_page(&state, StatusCode::BAD_REQUEST, "Sign-in failed", message), clear_state);
    }
    let pending = match state.registry.finish_sso_login(returned_state).await {
        Ok(p) => p,
        Err(e) => {
            let (status, message) = describe(&e);
            return with_cookie(message_page(&state, status, "Sign-in failed", &message), clear_state);
        }
    };
    if let Err(e) = oidc.check_response_issuer(q.iss.as_deref()) {
        return with_cookie(oidc_failure(&state, &e), clear_state);
    }
    let identity = match oidc.complete(code, &pending).await {
        Ok(identity) => identity,
        Err(e) => return with_cookie(oidc_failure(&state, &e), clear_state),
    };
    let result = async {
        let user = state.registry.upsert_sso_user(&identity).await?;
        let login = Login::parse(&user.login)?;
        state.registry.create_session(&login, SessionMethod::Oidc).await
    }
    .await;
    match result {
        Ok(session) => with_cookie(signed_in(&state, &session, &pending.next), clear_state),
        Err(e) => {
            let (status, message) = describe(&e);
            with_cookie(message_page(&state, status, "Sign-in failed", &message), clear_state)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The token page
// ---------------------------------------------------------------------------------------------

fn cargo_config_snippet(state: &AppState) -> String {
    format!(
        "[registries.raktar]\nindex = \"sparse+{}/index/\"\n\n[registry]\nglobal-credential-providers = [\"cargo:token\"]",
        state.public_url
    )
}

fn token_rows(tokens: &[TokenView], base: &str, csrf: &str) -> String {
    if tokens.is_empty() {
        return "<p>You have no tokens yet.</p>".to_owned();
    }
    let mut rows = String::from(
        "<table><thead><tr><th>Name</th><th>Prefix</th><th>Scopes</th><th>Crates</th><th>Created</th>\
         <th>Expires</th><th>Last used</th><th></th></tr></thead><tbody>",
    );
    for t in tokens {
        let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        let crates = if t.crates.is_empty() { "all".to_owned() } else { t.crates.join(", ") };
        let expires = match (&t.expires_at, t.expired) {
            (Some(e), true) => format!("{e} (expired)"),
            (Some(e), false) => e.clone(),
            (None, _) => "never".to_owned(),
        };
        rows.push_str(&format!(
            "<tr><td>{name}</td><td><code>{hint}…</code></td><td>{scopes}</td><td>{crates}</td><td>{created}</td>\
             <td>{expires}</td><td>{used}</td><td><form class=\"inline\" method=\"post\" action=\"{base}/me/tokens/revoke\">\
             <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{csrf}\"><input type=\"hidden\" name=\"name\" value=\"{name}\">\
             <button type=\"submit\">Revoke</button></form></td></tr>",
            name = esc(&t.name),
            hint = esc(&t.hint),
            scopes = esc(&scopes),
            crates = esc(&crates),
            created = esc(&t.created_at),
            expires = esc(&expires),
            used = esc(t.last_used_at.as_deref().unwrap_or("never")),
        ));
    }
    rows.push_str("</tbody></table>");
    rows
}

/// The token page of a signed-in user, optionally with an error above the form.
async fn render_token_page(
    state: &AppState,
    principal: &Principal,
    secret: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let tokens = match state.registry.own_tokens(Some(principal)).await {
        Ok(t) => t,
        Err(e) => {
            let (status, message) = describe(&e);
            return message_page(state, status, "Tokens", &message);
        }
    };
    let base = esc(&state.public_url);
    let csrf = esc(&csrf_token_for(secret));
    let user = &principal.user;
    let who = match &user.name {
        Some(n) => format!("{} ({})", esc(n), esc(&user.login)),
        None => esc(&user.login),
    };
    let scopes = Scope::ALL
        .iter()
        .map(|s| {
            format!(
                "<label><input type=\"checkbox\" name=\"scope\" value=\"{0}\" checked> <code>{0}</code></label>",
                s.as_str()
            )
        })
        .collect::<String>();
    let expiry = EXPIRY_CHOICES
        .iter()
        .map(|(v, label)| {
            let selected = if *v == "90" { " selected" } else { "" };
            format!("<option value=\"{v}\"{selected}>{label}</option>")
        })
        .collect::<String>();
    let error = error.map(|e| format!("<p class=\"error\">{}</p>", esc(e))).unwrap_or_default();
    let body = format!(
        r#"<header><h1>Cargo tokens</h1>
<form class="inline" method="post" action="{base}/logout"><input type="hidden" name="{CSRF_FIELD}" value="{csrf}">
<span>Signed in as {who} </span><button type="submit">Sign out</button></form></header>
{error}
<h2>Your tokens</h2>
{rows}
<h2>Create a token</h2>
<form method="post" action="{base}/me/tokens">
<input type="hidden" name="{CSRF_FIELD}" value="{csrf}">
<label for="name">Name (e.g. <code>laptop</code>, <code>ci-publish</code>)</label>
<input type="text" id="name" name="name" maxlength="64" required>
<fieldset><legend>Scopes</legend>{scopes}</fieldset>
<label for="crates">Limit to crates (optional; comma-separated names or prefixes ending in <code>*</code>)</label>
<input type="text" id="crates" name="crates" placeholder="acme-*, my-crate">
<label for="expires">Expires after</label><select id="expires" name="expires">{expiry}</select>
<p><button type="submit">Create token</button></p>
</form>
<h2>Configure cargo</h2>
<p>In <code>~/.cargo/config.toml</code>:</p>
<pre>{snippet}</pre>
<p>then <code>cargo login --registry raktar</code> and paste the token.</p>"#,
        rows = token_rows(&tokens, &base, &csrf),
        snippet = esc(&cargo_config_snippet(state)),
    );
    page(status, "Cargo tokens", &body)
}

async fn me_page(State(state): State<AppState>, auth: Auth, headers: HeaderMap) -> Response {
    if let Some(url) = &state.web.token_page_url {
        return if url.starts_with('/') { see_other(&state, url) } else { redirect_to(url) };
    }
    match session_of(&auth, &headers, &state) {
        Some((principal, secret)) => render_token_page(&state, principal, secret, StatusCode::OK, None).await,
        None => see_other(&state, "/login?next=/me"),
    }
}

/// Parses the token form into a new token.
fn parse_token_form(form: &FormData) -> Result<NewToken, DomainError> {
    let name = form.get("name").unwrap_or_default().trim().to_owned();
    let scopes = form.all("scope").into_iter().map(str::parse::<Scope>).collect::<Result<Vec<_>, _>>()?;
    if scopes.is_empty() {
        return Err(DomainError::bad_request("choose at least one scope"));
    }
    let crates = form
        .get("crates")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(CratePattern::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let expires_in_secs = match form.get("expires").unwrap_or("never") {
        "never" => None,
        days => {
            let days: i64 = days.parse().map_err(|_| DomainError::bad_request("choose an expiry from the list"))?;
            if !(1..=3650).contains(&days) {
                return Err(DomainError::bad_request("tokens expire after 1 to 3650 days, or never"));
            }
            Some(days * 86_400)
        }
    };
    Ok(NewToken { name, scopes, crates, expires_in_secs })
}

async fn create_token(State(state): State<AppState>, auth: Auth, headers: HeaderMap, body: Bytes) -> Response {
    let Some((principal, secret)) = session_of(&auth, &headers, &state) else {
        return see_other(&state, "/login?next=/me");
    };
    let form = FormData::parse(&body);
    let created = match parse_token_form(&form) {
        Ok(new) => state.registry.create_own_token(Some(principal), new).await,
        Err(e) => Err(e),
    };
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            let (status, message) = describe(&e);
            return render_token_page(&state, principal, secret, status, Some(&message)).await;
        }
    };
    let base = esc(&state.public_url);
    let body = format!(
        r#"<h1>Token created</h1>
<p>This is the token <strong>{name}</strong>. It is shown <strong>only once</strong>: copy it now.</p>
<pre class="secret">{token}</pre>
<p>Add the registry to <code>~/.cargo/config.toml</code>:</p>
<pre>{snippet}</pre>
<p>Then log in (cargo reads the token from standard input):</p>
<pre>cargo login --registry raktar</pre>
<p>or, in CI, set <code>CARGO_REGISTRIES_RAKTAR_TOKEN</code> to the token.</p>
<p><a href="{base}/me">Back to your tokens</a></p>"#,
        name = esc(&created.record.name),
        token = esc(&created.secret),
        snippet = esc(&cargo_config_snippet(&state)),
    );
    page(StatusCode::CREATED, "Token created", &body)
}

async fn revoke_token(State(state): State<AppState>, auth: Auth, headers: HeaderMap, body: Bytes) -> Response {
    let Some((principal, secret)) = session_of(&auth, &headers, &state) else {
        return see_other(&state, "/login?next=/me");
    };
    let form = FormData::parse(&body);
    let name = form.get("name").unwrap_or_default();
    match state.registry.revoke_own_token(Some(principal), name).await {
        Ok(()) => see_other(&state, "/me"),
        Err(e) => {
            let (status, message) = describe(&e);
            render_token_page(&state, principal, secret, status, Some(&message)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn next_stays_local() {
        assert_eq!(safe_next(Some("/me")), "/me");
        assert_eq!(safe_next(Some("//evil.example")), "/me");
        assert_eq!(safe_next(Some("https://evil.example")), "/me");
        assert_eq!(safe_next(None), "/me");
    }

    #[test]
    fn token_form() {
        let f = FormData::parse(b"name=laptop&scope=read&scope=yank&crates=acme-*%2C+tool&expires=30");
        let t = parse_token_form(&f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.name, "laptop");
        assert_eq!(t.scopes, vec![Scope::Read, Scope::Yank]);
        assert_eq!(t.crates.iter().map(|c| c.as_str()).collect::<Vec<_>>(), ["acme-*", "tool"]);
        assert_eq!(t.expires_in_secs, Some(30 * 86_400));
        assert!(parse_token_form(&FormData::parse(b"name=x&expires=never")).is_err(), "no scope: refused");
        assert!(parse_token_form(&FormData::parse(b"name=x&scope=root")).is_err());
        assert!(parse_token_form(&FormData::parse(b"name=x&scope=read&expires=0")).is_err());
        let never = parse_token_form(&FormData::parse(b"name=x&scope=read&expires=never"));
        assert_eq!(never.map(|t| t.expires_in_secs).ok(), Some(None));
    }
}

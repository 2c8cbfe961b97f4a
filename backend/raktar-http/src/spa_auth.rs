//! Sign-in and sign-out for the web UI (a single-page app) as JSON endpoints:
//!
//! - `POST /auth/signin` with `{"login", "password"}` (`Content-Type: application/json`): the
//!   same password check, rate limits and slow-down as the server-rendered form; on success
//!   `200 {login, name, email, role, csrfToken}` and the session cookie (same name and flags); a
//!   wrong login or password is `401 {"errors":[{"detail"}]}`. A session cookie the browser
//!   already held is ended (the new session replaces it).
//! - `POST /auth/signout`: ends the request's session and clears the cookie (`204`). A live
//!   session needs its CSRF token in `X-CSRF-Token`; a dead or missing session is simply cleared
//!   (nothing changes on the server), so a browser holding a stale cookie can always recover.
//!
//! Both routes sit outside the router's session CSRF guard (a sign-in is not cookie-authenticated,
//! and sign-out checks the token itself). Cross-site requests cannot use them: sign-in takes JSON
//! only (a cross-site form cannot send it and no CORS is allowed), sign-out needs the token.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use raktar_core::domain::{DomainError, Login};
use raktar_core::services::sessions::{SessionMethod, csrf_matches, csrf_token_for};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::{CSRF_HEADER, session_clear_cookie, session_cookie, session_set_cookie};
use crate::error::ApiError;
use crate::web::ClientAddress;

const SIGNIN: &str = "/auth/signin";
const SIGNOUT: &str = "/auth/signout";

pub fn routes() -> Router<AppState> {
    Router::new().route(SIGNIN, post(signin)).route(SIGNOUT, post(signout))
}

/// Whether the route at `path` does its own CSRF checking (the router's guard skips it).
pub fn checks_itself(path: &str) -> bool {
    path == SIGNIN || path == SIGNOUT
}

#[derive(Deserialize)]
struct SignIn {
    login: String,
    password: String,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn fail(e: DomainError) -> Response {
    no_store(ApiError::new(e).into_response())
}

async fn signin(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.web.local_login {
        return fail(DomainError::not_found("password sign-in is disabled on this server"));
    }
    if !is_json(&headers) {
        return fail(DomainError::bad_request("send the sign-in as `Content-Type: application/json`"));
    }
    let Ok(input) = serde_json::from_slice::<SignIn>(&body) else {
        return fail(DomainError::bad_request("the body must be `{\"login\": ..., \"password\": ...}`"));
    };
    let user = match state.registry.password_login(&input.login, &input.password, address.as_deref()).await {
        Ok(user) => user,
        Err(e) => return fail(e),
    };
    let session = match Login::parse(&user.login) {
        Ok(login) => state.registry.create_session(&login, SessionMethod::Password).await,
        Err(e) => Err(e),
    };
    let session = match session {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // A session the browser held before is replaced, not left behind.
    if let Some(old) = session_cookie(&headers, state.secure_cookies())
        && let Err(e) = state.registry.revoke_session(old).await
    {
        tracing::warn!(error = %e, "could not end the session replaced by a sign-in");
    }
    let body = json!({
        "login": user.login,
        "name": user.name,
        "email": user.email,
        "role": user.role.as_str(),
        "csrfToken": csrf_token_for(session.secret.expose()),
    });
    let mut response = no_store(axum::Json(body).into_response());
    response.headers_mut().append(
        header::SET_COOKIE,
        session_set_cookie(session.secret.expose(), session.lifetime_secs, state.secure_cookies()),
    );
    response
}

async fn signout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let secure = state.secure_cookies();
    let cleared = || {
        let mut r = no_store(StatusCode::NO_CONTENT.into_response());
        r.headers_mut().append(header::SET_COOKIE, session_clear_cookie(secure));
        r
    };
    let Some(secret) = session_cookie(&headers, secure) else { return cleared() };
    if state.registry.resolve_session(secret).await.is_err() {
        // Nothing to end: the session is gone already (or the cookie is not one).
        return cleared();
    }
    let token = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !csrf_matches(secret, token.trim()) {
        return fail(DomainError::forbidden("signing out needs the session's CSRF token in `X-CSRF-Token`"));
    }
    if let Err(e) = state.registry.revoke_session(secret).await {
        return fail(e);
    }
    cleared()
}

//! Password sign-in (`GET`/`POST /login`, rate limited, with the double-submit login-CSRF cookie),
//! sign-out (`POST /logout`) and `GET /auth/session` for scripts.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use raktar_core::domain::{DomainError, Login};
use raktar_core::services::sessions::{SessionMethod, csrf_token_for};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::helpers::{
    ClientAddress, FormData, describe, esc, message_page, page, random_token, safe_next, see_other, session_of,
    signed_in, with_cookie,
};
use super::{LOGIN_CSRF_FIELD, login_csrf_cookie};
use crate::AppState;
use crate::auth::{Auth, CSRF_FIELD, session_clear_cookie, session_cookie, set_cookie};

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    pub(super) next: Option<String>,
}

pub(super) struct LoginForm<'a> {
    next: &'a str,
    login: &'a str,
    error: Option<&'a str>,
}

/// Renders the sign-in page with a fresh login-CSRF cookie.
pub(super) fn render_login(state: &AppState, headers: &HeaderMap, status: StatusCode, form: LoginForm<'_>) -> Response {
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

pub(super) async fn login_page(
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

pub(super) async fn login_submit(
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

pub(super) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_cookie(&headers, state.secure_cookies())
        && let Err(e) = state.registry.revoke_session(secret).await
    {
        let (status, message) = describe(&e);
        return message_page(&state, status, "Sign-out failed", &message);
    }
    with_cookie(see_other(&state, "/login"), session_clear_cookie(state.secure_cookies()))
}

/// JSON for scripts (the web UI): who is signed in, and the CSRF token to send as `X-CSRF-Token`.
pub(super) async fn session_info(State(state): State<AppState>, auth: Auth, headers: HeaderMap) -> Response {
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

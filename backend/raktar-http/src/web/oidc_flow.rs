//! The OIDC code flow of the web sign-in: `GET /auth/oidc/start` (PKCE, state, nonce, redirect to the
//! provider) and `GET /auth/oidc/callback` (code exchange, ID-token verification, user, session).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use raktar_core::domain::Login;
use raktar_core::services::sessions::SessionMethod;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::helpers::{describe, message_page, redirect_to, safe_next, signed_in, with_cookie};
use super::oidc_state_cookie;
use super::signin::NextQuery;
use crate::AppState;
use crate::auth::set_cookie;
use crate::oidc::OidcError;

pub(super) fn oidc_failure(state: &AppState, e: &OidcError) -> Response {
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

pub(super) async fn oidc_start(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
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
pub(super) fn provider_error_message(code: &str) -> &'static str {
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

pub(super) async fn oidc_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
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

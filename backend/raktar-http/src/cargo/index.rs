//! `GET /index/config.json` and `GET /index/{dep-path}`.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use raktar_core::domain::{DomainError, parse_index_path};
use raktar_core::services::index::IndexFile;
use serde_json::json;

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiError;

/// `config.json`: `dl`, `api` (no trailing slash), `auth-required` in private mode. In private mode
/// an anonymous request gets the 401 challenge cargo needs to start its token flow.
pub async fn config(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    state.registry.check_read(auth.principal()).map_err(|e| ApiError::new(e).with_login_url(state.login_url()))?;
    let base = &state.public_url;
    let mut body = json!({
        "dl": format!("{base}/api/v1/dl/{{crate}}/{{version}}/{{sha256-checksum}}"),
        "api": base.to_string(),
    });
    if state.registry.config().auth_required {
        body["auth-required"] = json!(true);
    }
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, cache_control(&state))], body.to_string())
        .into_response())
}

pub(super) fn cache_control(state: &AppState) -> &'static str {
    if state.registry.config().auth_required { "private, no-cache" } else { "public, no-cache" }
}

/// One index file, with a strong ETag and `304` on `If-None-Match`.
pub async fn file(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<String>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let login = || state.login_url();
    let Some(name) = parse_index_path(&path) else {
        // Still require auth first so anonymous probes cannot enumerate anything.
        state.registry.check_read(auth.principal()).map_err(|e| ApiError::new(e).with_login_url(login()))?;
        return Err(DomainError::not_found("no such index file").into());
    };
    let inm = if_none_match.as_ref().and_then(|v| v.to_str().ok());
    let file = state
        .registry
        .index_file(auth.principal(), &name, inm)
        .await
        .map_err(|e| ApiError::new(e).with_login_url(login()))?;
    let cc = cache_control(&state);
    Ok(match file {
        IndexFile::NotModified { etag } => {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            set_etag(&mut r, &etag, cc);
            r
        }
        IndexFile::Full { etag, body } => {
            let mut r = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
            set_etag(&mut r, &etag, cc);
            r
        }
    })
}

/// The `If-None-Match` header alone (extracting the whole `HeaderMap` would clone every header of
/// every index request, the hottest path of the registry).
pub struct IfNoneMatch(pub Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

pub(super) fn set_etag(r: &mut Response, etag: &str, cache_control: &'static str) {
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
}

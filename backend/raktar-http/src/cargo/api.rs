//! The cargo web API (`/api/v1`).

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures::TryStreamExt;
use http_body_util::{BodyExt, Limited};
use raktar_core::domain::names::truncate_for_message;
use raktar_core::domain::{CrateName, CrateVersion, DomainError};
use raktar_core::services::auth::require;
use raktar_core::services::downloads::Download;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiError;

type ApiResult = Result<Response, ApiError>;

fn json_response(value: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// Requires a principal for a write, with the login hint on 401.
fn need<'a>(state: &AppState, auth: &'a Auth) -> Result<&'a raktar_core::services::Principal, ApiError> {
    require(auth.principal()).map_err(|e| ApiError::new(e).with_login_url(state.login_url()))
}

fn parse_name(raw: &str) -> Result<CrateName, ApiError> {
    CrateName::parse(raw).map_err(ApiError::from)
}

fn parse_version(raw: &str) -> Result<CrateVersion, ApiError> {
    CrateVersion::parse(raw).map_err(ApiError::from)
}

/// `PUT /api/v1/crates/new`: the body is read under the configured limit (413 above it).
pub async fn publish(State(state): State<AppState>, auth: Auth, request: Request) -> ApiResult {
    let principal = need(&state, &auth)?;
    let limit = state.registry.config().limits.max_body_bytes();
    let too_large = || {
        ApiError::new(DomainError::PayloadTooLarge(format!(
            "the publish request is larger than this registry's limit of {limit} bytes (the .crate file may be at most {} bytes)",
            state.registry.config().limits.max_crate_bytes
        )))
    };
    if let Some(len) = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let body = Limited::new(request.into_body(), limit_usize).collect().await.map_err(|e| {
        if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            too_large()
        } else {
            ApiError::new(DomainError::bad_request(format!(
                "could not read the request body: {}",
                truncate_for_message(&e.to_string())
            )))
        }
    })?;
    let outcome = state.registry.publish(principal, body.to_bytes()).await?;
    Ok(json_response(json!({ "warnings": outcome.warnings })))
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

fn parse_count(raw: Option<&str>, what: &str, default: usize) -> Result<usize, ApiError> {
    match raw {
        None | Some("") => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::new(DomainError::bad_request(format!("`{what}` must be a positive integer")))),
    }
}

/// `GET /api/v1/crates?q=&per_page=&page=`
pub async fn search(State(state): State<AppState>, auth: Auth, Query(params): Query<SearchParams>) -> ApiResult {
    let per_page = parse_count(params.per_page.as_deref(), "per_page", 10)?;
    let page = parse_count(params.page.as_deref(), "page", 1)?;
    let q = params.q.unwrap_or_default();
    let results = state
        .registry
        .search(auth.principal(), &q, page, per_page)
        .await
        .map_err(|e| ApiError::new(e).with_login_url(state.login_url()))?;
    Ok(json_response(json!({
        "crates": results.hits.iter().map(|h| json!({
            "name": h.name,
            "max_version": h.max_version,
            "description": h.description,
        })).collect::<Vec<_>>(),
        "meta": { "total": results.total },
    })))
}

/// `DELETE /api/v1/crates/{name}/{version}/yank`
pub async fn yank(
    State(state): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult {
    set_yanked(state, auth, name, version, true).await
}

/// `PUT /api/v1/crates/{name}/{version}/unyank`
pub async fn unyank(
    State(state): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult {
    set_yanked(state, auth, name, version, false).await
}

async fn set_yanked(state: AppState, auth: Auth, name: String, version: String, yanked: bool) -> ApiResult {
    let principal = need(&state, &auth)?;
    let name = parse_name(&name)?;
    let version = parse_version(&version)?;
    state.registry.set_yanked(principal, &name, &version, yanked).await?;
    Ok(json_response(json!({ "ok": true })))
}

/// `GET /api/v1/crates/{name}/owners`
pub async fn list_owners(State(state): State<AppState>, auth: Auth, Path(name): Path<String>) -> ApiResult {
    let name = parse_name(&name)?;
    let owners = state
        .registry
        .list_owners(auth.principal(), &name)
        .await
        .map_err(|e| ApiError::new(e).with_login_url(state.login_url()))?;
    Ok(json_response(json!({ "users": owners })))
}

#[derive(Debug, Deserialize)]
struct OwnersBody {
    users: Vec<String>,
}

fn parse_owners_body(body: &Bytes) -> Result<Vec<String>, ApiError> {
    serde_json::from_slice::<OwnersBody>(body).map(|b| b.users).map_err(|e| {
        ApiError::new(DomainError::bad_request(format!(
            "expected a JSON body like {{\"users\":[\"login\"]}}: {}",
            truncate_for_message(&e.to_string())
        )))
    })
}

/// `PUT /api/v1/crates/{name}/owners`
pub async fn add_owners(State(state): State<AppState>, auth: Auth, Path(name): Path<String>, body: Bytes) -> ApiResult {
    change_owners(state, auth, name, body, true).await
}

/// `DELETE /api/v1/crates/{name}/owners`
pub async fn remove_owners(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_owners(state, auth, name, body, false).await
}

async fn change_owners(state: AppState, auth: Auth, name: String, body: Bytes, add: bool) -> ApiResult {
    let principal = need(&state, &auth)?;
    let name = parse_name(&name)?;
    let users = parse_owners_body(&body)?;
    let msg = state.registry.change_owners(principal, &name, &users, add).await?;
    Ok(json_response(json!({ "ok": true, "msg": msg })))
}

/// `GET /api/v1/crates/{name}/{version}/download`
pub async fn download(
    State(state): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult {
    serve_download(state, auth, &name, &version, None).await
}

/// `GET /api/v1/dl/{name}/{version}/{cksum}` (the `dl` template of `config.json`).
pub async fn download_by_checksum(
    State(state): State<AppState>,
    auth: Auth,
    Path((name, version, cksum)): Path<(String, String, String)>,
) -> ApiResult {
    serve_download(state, auth, &name, &version, Some(&cksum)).await
}

async fn serve_download(state: AppState, auth: Auth, name: &str, version: &str, cksum: Option<&str>) -> ApiResult {
    let name = parse_name(name)?;
    let version = parse_version(version)?;
    let answer = state
        .registry
        .download(auth.principal(), &name, &version, cksum)
        .await
        .map_err(|e| ApiError::new(e).with_login_url(state.login_url()))?;
    Ok(download_response(answer))
}

/// The answer to a download: the bytes, or a redirect to the blob store.
pub(super) fn download_response(answer: Download) -> Response {
    match answer {
        // Exactly 200, raw bytes, never Content-Encoding (cargo verifies the checksum of the body).
        Download::Bytes(blob) => {
            let len = blob.len;
            let stream = blob.body.map_err(std::io::Error::other);
            let mut r = Response::new(Body::from_stream(stream));
            *r.status_mut() = StatusCode::OK;
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/gzip"));
            h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
            h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, max-age=31536000, immutable"));
            r
        }
        Download::Redirect(url) => Redirect::temporary(&url).into_response(),
    }
}

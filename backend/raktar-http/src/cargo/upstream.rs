//! The pull-through index of the upstream registry: `GET /upstream/index/config.json`,
//! `GET /upstream/index/{dep-path}` and `GET /upstream/crates/{name}/{version}/download`, under
//! the same authentication as `/index/`. cargo uses it in place of crates-io
//! (`[source.crates-io] replace-with`). Every answer says where it came from in
//! `X-Raktar-Upstream` (`hit`, `miss`, `revalidated`, `stale`, `private`); a stale one also
//! carries `Warning: 110`.

use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use raktar_core::domain::{CrateName, CrateVersion, DomainError, parse_index_path};
use raktar_core::services::index::IndexFile;
use raktar_core::services::upstream::CacheStatus;
use serde_json::json;

use super::api::download_response;
use super::index::{IfNoneMatch, cache_control, set_etag};
use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiError;

/// The response header naming where an answer came from.
pub const CACHE_HEADER: HeaderName = HeaderName::from_static("x-raktar-upstream");

fn login_error(state: &AppState) -> impl Fn(DomainError) -> ApiError + '_ {
    move |e| ApiError::new(e).with_login_url(state.login_url())
}

fn mark(mut r: Response, status: CacheStatus) -> Response {
    let h = r.headers_mut();
    h.insert(CACHE_HEADER, HeaderValue::from_static(status.as_str()));
    if status == CacheStatus::Stale {
        h.insert(header::WARNING, HeaderValue::from_static("110 raktar \"Response is Stale\""));
    }
    r
}

/// `config.json` of the pull-through index: downloads go through Raktar; no `api` (cargo never
/// publishes to a replaced source).
pub async fn config(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    state.registry.upstream_index_config(auth.principal()).map_err(login_error(&state))?;
    let base = &state.public_url;
    let mut body = json!({ "dl": format!("{base}/upstream/crates/{{crate}}/{{version}}/download") });
    if state.registry.config().auth_required {
        body["auth-required"] = json!(true);
    }
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, cache_control(&state))], body.to_string())
        .into_response())
}

/// One index file of the pull-through index (ETag and `304` as for `/index/`).
pub async fn file(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<String>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let Some(name) = parse_index_path(&path) else {
        state.registry.upstream_index_config(auth.principal()).map_err(login_error(&state))?;
        return Err(DomainError::not_found("no such index file").into());
    };
    let inm = if_none_match.as_ref().and_then(|v| v.to_str().ok());
    let answer = state.registry.upstream_index_file(auth.principal(), &name, inm).await.map_err(login_error(&state))?;
    let (mut r, etag) = match answer.file {
        IndexFile::NotModified { etag } => (StatusCode::NOT_MODIFIED.into_response(), etag),
        IndexFile::Full { etag, body } => {
            (([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response(), etag)
        }
    };
    set_etag(&mut r, &etag, cache_control(&state));
    Ok(mark(r, answer.status))
}

/// `GET /upstream/crates/{name}/{version}/download`
pub async fn download(
    State(state): State<AppState>,
    auth: Auth,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let name = CrateName::parse(&name)?;
    let version = CrateVersion::parse(&version)?;
    let answer =
        state.registry.upstream_download(auth.principal(), &name, &version).await.map_err(login_error(&state))?;
    Ok(mark(download_response(answer.download), answer.status))
}

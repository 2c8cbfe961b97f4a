//! `/graphql`: the GraphQL API v1. `POST` with a JSON body (`{"query", "variables",
//! "operationName"}`, one operation per request); `GET` serves the GraphiQL explorer when enabled.
//!
//! The caller comes from the same [`Auth`] extractor as the Cargo API (a cargo token in
//! `Authorization`, else the session cookie). Anonymous requests are executed: each field then
//! decides (in the domain services) whether it needs a caller. Every answer is a GraphQL response
//! whose errors carry `extensions.code`, request-level failures included.
//!
//! The serialized answer is bounded ([`raktar_graphql::RaktarSchema::max_response_bytes`]): it is
//! written into a buffer that refuses to grow past the cap, and an answer over it is replaced by
//! a small `RESPONSE_TOO_LARGE` error (the schema stops large fields earlier with the same error).

use async_graphql::{Response as GqlResponse, ServerError};
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use raktar_core::domain::DomainError;
use raktar_graphql::error::{request_error, response_too_large_error};

use crate::AppState;
use crate::auth::{Auth, require_csrf, session_cookie};
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/graphql", post(execute).get(explorer))
}

/// A GraphQL response with only request-level errors.
fn failure(status: StatusCode, error: ServerError) -> Response {
    let mut response = GraphQLResponse::from(GqlResponse::from_errors(vec![error])).into_response();
    *response.status_mut() = status;
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

async fn execute(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The router's CSRF guard enforces this already; repeated where mutations run.
    if let Err(e) = require_csrf(&headers) {
        return failure(StatusCode::FORBIDDEN, request_error(&e.error));
    }
    // JSON only: a cross-site HTML form cannot send it, and it keeps one request format.
    if !is_json(&headers) {
        return failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            request_error(&DomainError::bad_request(
                "send GraphQL requests as POST with `Content-Type: application/json`",
            )),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
                DomainError::PayloadTooLarge("the GraphQL request body is too large".into())
            } else {
                DomainError::bad_request("the GraphQL request body could not be read")
            };
            return failure(status, request_error(&error));
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return failure(
                StatusCode::BAD_REQUEST,
                request_error(&DomainError::bad_request(format!(
                    "the body is not a GraphQL request (`{{\"query\": ..., \"variables\": ...}}`): {e}"
                ))),
            );
        }
    };
    let auth = match auth {
        Ok(auth) => auth,
        Err(e) => return failure(StatusCode::OK, request_error(&e.error)),
    };
    if auth.0.as_ref().is_some_and(raktar_core::services::Principal::is_trusted_publisher) {
        return failure(
            StatusCode::FORBIDDEN,
            request_error(&DomainError::forbidden("a trusted-publishing token only publishes and yanks through cargo")),
        );
    }
    // The session the caller signed in with (none when a token authenticated the request).
    let session = auth
        .via_session()
        .then(|| session_cookie(&headers, state.secure_cookies()).map(str::to_owned))
        .flatten()
        .map(|s| raktar_graphql::SessionSecret(Some(s)));
    let response = state.schema.execute_for(request, auth.0, session).await;
    bounded(response, state.schema.max_response_bytes())
}

/// A writer that keeps at most `cap` bytes and fails past them.
struct CappedBuffer {
    bytes: Vec<u8>,
    cap: usize,
}

impl std::io::Write for CappedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.cap {
            return Err(std::io::Error::other("the response is over the cap"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serializes a response into at most `cap` bytes, or answers `RESPONSE_TOO_LARGE`.
fn bounded(response: GqlResponse, cap: usize) -> Response {
    let cache_control = if response.is_ok() { response.cache_control.value() } else { None };
    let extra_headers = response.http_headers.clone();
    let mut buffer = CappedBuffer { bytes: Vec::new(), cap };
    if let Err(e) = serde_json::to_writer(&mut buffer, &response) {
        drop(buffer);
        drop(response);
        if e.is_io() {
            tracing::warn!(cap, "GraphQL response over the size cap refused");
            return failure(StatusCode::OK, response_too_large_error(cap));
        }
        tracing::error!(error = %e, "a GraphQL response could not be serialized");
        return failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            request_error(&DomainError::internal("a GraphQL response could not be serialized")),
        );
    }
    let mut out = Response::new(axum::body::Body::from(buffer.bytes));
    let headers = out.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/graphql-response+json"));
    if let Some(value) = cache_control.and_then(|v| header::HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.extend(extra_headers);
    out
}

/// The path part of the public URL (`https://host/registry` -> `/registry`).
pub(crate) fn base_path(public_url: &str) -> &str {
    let rest = public_url.split_once("://").map_or(public_url, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}

/// GraphiQL, when enabled. With a session it sends the session's CSRF token on every request.
async fn explorer(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.graphiql {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is disabled on this server; send queries as POST /graphql with a JSON body",
        )
            .into_response();
    }
    let endpoint = format!("{}/graphql", base_path(&state.public_url));
    let csrf = session_cookie(&headers, state.secure_cookies()).map(raktar_core::services::sessions::csrf_token_for);
    let mut source = async_graphql::http::GraphiQLSource::build().endpoint(&endpoint).title("Raktar GraphQL");
    if let Some(token) = &csrf {
        source = source.header(crate::auth::CSRF_HEADER, token);
    }
    ([(header::CACHE_CONTROL, "no-store"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], Html(source.finish()))
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use async_graphql::{Name, Value};
    use axum::body::to_bytes;

    use super::*;

    fn answer(text_len: usize) -> GqlResponse {
        let mut map = async_graphql::indexmap::IndexMap::new();
        map.insert(Name::new("readme"), Value::String("x".repeat(text_len)));
        GqlResponse::new(Value::Object(map))
    }

    #[tokio::test]
    async fn answers_over_the_cap_become_a_small_error() {
        let small = bounded(answer(100), 1000);
        assert_eq!(small.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(small.into_body(), 10_000).await.unwrap()).unwrap();
        assert_eq!(body["data"]["readme"].as_str().map(str::len), Some(100));

        let big = bounded(answer(5000), 1000);
        assert_eq!(big.status(), StatusCode::OK);
        let bytes = to_bytes(big.into_body(), 10_000).await.unwrap();
        assert!(bytes.len() < 1000, "{}", bytes.len());
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "RESPONSE_TOO_LARGE", "{body}");
        assert!(body["data"].is_null(), "{body}");
    }

    #[test]
    fn base_paths() {
        assert_eq!(base_path("http://127.0.0.1:3000"), "");
        assert_eq!(base_path("https://example.com/registry"), "/registry");
    }
}

//! `/graphql`: the GraphQL API v1. `POST` with a JSON body (`{"query", "variables",
//! "operationName"}`, one operation per request); `GET` serves the GraphiQL explorer when enabled.
//!
//! The caller comes from the same [`Auth`] extractor as the Cargo API (a cargo token in
//! `Authorization`, else the session cookie). Anonymous requests are executed: each field then
//! decides (in the domain services) whether it needs a caller. Every answer is a GraphQL response
//! whose errors carry `extensions.code`, request-level failures included.

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
use raktar_graphql::error::request_error;

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
    let principal = match auth {
        Ok(Auth(principal)) => principal,
        Err(e) => return failure(StatusCode::OK, request_error(&e.error)),
    };
    let response = state.schema.execute(request, principal).await;
    GraphQLResponse::from(response).into_response()
}

/// The path part of the public URL (`https://host/registry` -> `/registry`).
fn base_path(public_url: &str) -> &str {
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
mod tests {
    #[test]
    fn base_paths() {
        assert_eq!(super::base_path("http://127.0.0.1:3000"), "");
        assert_eq!(super::base_path("https://example.com/registry"), "/registry");
    }
}

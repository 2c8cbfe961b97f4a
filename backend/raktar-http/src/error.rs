//! The one place where domain errors become HTTP responses (cargo's error shape).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use raktar_core::domain::DomainError;
use serde_json::json;

/// An error answered in cargo's `{"errors":[{"detail": ...}]}` shape.
#[derive(Debug)]
pub struct ApiError {
    pub error: DomainError,
    /// Added to 401 responses: how to get a token, and the `WWW-Authenticate` challenge.
    pub login_url: Option<String>,
}

impl ApiError {
    pub fn new(error: DomainError) -> Self {
        Self { error, login_url: None }
    }

    pub fn with_login_url(mut self, url: String) -> Self {
        self.login_url = Some(url);
        self
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        Self::new(error)
    }
}

pub fn status_of(e: &DomainError) -> StatusCode {
    match e {
        DomainError::BadRequest(_) => StatusCode::BAD_REQUEST,
        DomainError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::Conflict(_) => StatusCode::CONFLICT,
        DomainError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        DomainError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Upstream(_) => StatusCode::BAD_GATEWAY,
        DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Longest error detail sent to a client (bytes). Services quote client input only truncated; this
/// is the last line of defence, so no error body can ever be large.
pub const MAX_DETAIL_BYTES: usize = 1024;

/// `detail` cut to at most [`MAX_DETAIL_BYTES`] bytes (at a character boundary, with `...`).
pub fn cap_detail(detail: &str) -> std::borrow::Cow<'_, str> {
    if detail.len() <= MAX_DETAIL_BYTES {
        return std::borrow::Cow::Borrowed(detail);
    }
    let mut end = MAX_DETAIL_BYTES - 3;
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}...", &detail[..end]))
}

/// A cargo error body with one detail (capped at [`MAX_DETAIL_BYTES`]).
pub fn cargo_error(status: StatusCode, detail: &str) -> Response {
    let body = json!({ "errors": [{ "detail": cap_detail(detail) }] });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.error);
        let detail = match &self.error {
            DomainError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                "internal server error; the error has been logged".to_owned()
            }
            DomainError::Unauthenticated(msg) => match &self.login_url {
                Some(url) => format!(
                    "{msg}. Create a token at {url} and run `cargo login --registry <name>` (and configure \
                     `registry.global-credential-providers = [\"cargo:token\"]`)"
                ),
                None => msg.clone(),
            },
            other => other.to_string(),
        };
        let mut response = cargo_error(status, &detail);
        if status == StatusCode::UNAUTHORIZED
            && let Some(url) = &self.login_url
            && let Ok(v) = HeaderValue::from_str(&format!("Cargo login_url=\"{url}\""))
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// Answer for a handler that panicked: logged, never shown.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    cargo_error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; the error has been logged")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_capped() {
        assert_eq!(cap_detail("short"), "short");
        let long = "\u{e9}".repeat(5000);
        let capped = cap_detail(&long);
        assert!(capped.len() <= MAX_DETAIL_BYTES && capped.ends_with("..."), "{}", capped.len());
    }
}

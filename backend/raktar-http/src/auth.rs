//! The token extractor: every handler receives `Auth` (maybe a principal).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use raktar_core::services::Principal;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller, if a token was sent. An invalid token is rejected with 401 and the
/// login hint (cargo prints "token rejected").
pub struct Auth(pub Option<Principal>);

impl Auth {
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_ref()
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let raw = match parts.headers.get(header::AUTHORIZATION) {
            Some(v) => Some(v.to_str().map_err(|_| {
                ApiError::new(raktar_core::domain::DomainError::unauthenticated(
                    "the Authorization header is not printable ASCII",
                ))
                .with_login_url(state.login_url())
            })?),
            None => None,
        };
        let principal =
            state.registry.authenticate(raw).await.map_err(|e| ApiError::new(e).with_login_url(state.login_url()))?;
        Ok(Auth(principal))
    }
}

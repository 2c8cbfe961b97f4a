//! Trusted publishing endpoints (the request and response shapes of crates-io's):
//! - `POST /api/v1/trusted_publishing/tokens` with `{"jwt": "..."}`: verifies the CI's ID token
//!   and answers `{"token": "..."}` (a short-lived publish/yank token, see
//!   [`raktar_core::services::trustpub`]);
//! - `DELETE /api/v1/trusted_publishing/tokens` with that token in `Authorization`: revokes it
//!   (204).
//!
//! Errors use cargo's shape (`{"errors":[{"detail": ...}]}`), 400 for a refused ID token.
//! Verification: the issuer (peeked from the unverified token only to pick its keys) must be
//! allowed; its JWKS is discovered through `{issuer}/.well-known/openid-configuration`, cached,
//! and fetched again for an unknown `kid` at most every 30 s ([`IdTokenVerifier`]); then the
//! signature (asymmetric algorithms only, the key's algorithm), `iss`, `aud` (the registry's
//! audience) and the time claims with a minute of leeway.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use raktar_core::domain::DomainError;
use raktar_core::services::trustpub::TrustPolicy;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::oidc::{IdTokenVerifier, OidcError, discover_jwks_uri, http_client};

/// Largest ID token accepted (bytes).
const MAX_JWT_BYTES: usize = 16 * 1024;

/// Trusted-publishing settings and the per-issuer key caches.
pub struct TrustedPublishing {
    policy: TrustPolicy,
    audience: String,
    http: reqwest::Client,
    verifiers: tokio::sync::Mutex<HashMap<String, Arc<IdTokenVerifier>>>,
    /// When each issuer's discovery last failed: retried at most every `min_refresh_interval`, so
    /// an unreachable issuer does not hold every exchange for a network timeout.
    failed_discoveries: tokio::sync::Mutex<HashMap<String, Instant>>,
    min_refresh_interval: Duration,
}

impl std::fmt::Debug for TrustedPublishing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedPublishing")
            .field("issuers", &self.policy.issuers)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TrustedPublishing {
    /// `audience`: what the ID tokens' `aud` must be (by default the host of the public URL).
    pub fn new(policy: TrustPolicy, audience: String) -> Result<Self, OidcError> {
        for issuer in &policy.issuers {
            crate::oidc::check_endpoint(issuer, "the trusted-publishing issuer")?;
        }
        if audience.trim().is_empty() {
            return Err(OidcError::Config("the trusted-publishing audience is empty".into()));
        }
        Ok(Self {
            policy,
            audience,
            http: http_client()?,
            verifiers: tokio::sync::Mutex::new(HashMap::new()),
            failed_discoveries: tokio::sync::Mutex::new(HashMap::new()),
            min_refresh_interval: Duration::from_secs(30),
        })
    }

    /// How often an unknown `kid` may make an issuer's JWKS be fetched again (default 30 s).
    pub fn with_min_refresh_interval(mut self, every: Duration) -> Self {
        self.min_refresh_interval = every;
        self
    }

    pub fn policy(&self) -> &TrustPolicy {
        &self.policy
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The verifier of an allowed issuer, discovering its JWKS URI on first use (a failed
    /// discovery is tried again by the next request).
    async fn verifier(&self, issuer: &str) -> Result<Arc<IdTokenVerifier>, OidcError> {
        let mut verifiers = self.verifiers.lock().await;
        if let Some(v) = verifiers.get(issuer) {
            return Ok(v.clone());
        }
        if let Some(at) = self.failed_discoveries.lock().await.get(issuer)
            && at.elapsed() < self.min_refresh_interval
        {
            return Err(OidcError::Provider("its discovery failed moments ago; retrying shortly".into()));
        }
        let jwks_uri = match discover_jwks_uri(&self.http, issuer).await {
            Ok(uri) => uri,
            Err(e) => {
                self.failed_discoveries.lock().await.insert(issuer.to_owned(), Instant::now());
                return Err(e);
            }
        };
        self.failed_discoveries.lock().await.remove(issuer);
        let mut verifier = IdTokenVerifier::new(issuer.to_owned(), self.audience.clone(), jwks_uri, self.http.clone());
        verifier.min_refresh_interval = self.min_refresh_interval;
        let verifier = Arc::new(verifier);
        verifiers.insert(issuer.to_owned(), verifier.clone());
        tracing::info!(issuer, "trusted-publishing issuer discovered");
        Ok(verifier)
    }

    /// Verifies an ID token and returns its claims.
    pub async fn verify(&self, jwt: &str) -> Result<Map<String, Value>, DomainError> {
        let refused = |m: String| DomainError::bad_request(m);
        if jwt.len() > MAX_JWT_BYTES {
            return Err(refused("the ID token is too large".into()));
        }
        let issuer = unverified_issuer(jwt).ok_or_else(|| refused("the `jwt` is not a JSON Web Token".into()))?;
        if !self.policy.issuers.contains(&issuer) {
            tracing::warn!(issuer = %issuer.chars().take(200).collect::<String>(), "trusted publishing: issuer not allowed");
            return Err(refused(format!(
                "the issuer `{}` is not allowed for trusted publishing on this registry",
                raktar_core::domain::names::truncate_for_message(&issuer)
            )));
        }
        let verifier = self.verifier(&issuer).await.map_err(|e| {
            tracing::warn!(issuer = %issuer, error = %e, "trusted publishing: issuer discovery failed");
            DomainError::internal(format!("the issuer `{issuer}` could not be reached: {e}"))
        })?;
        verifier.verify_signed(jwt).await.map_err(|e| match e {
            OidcError::Rejected(m) => refused(m),
            other => {
                tracing::warn!(issuer = %issuer, error = %other, "trusted publishing: key fetch failed");
                DomainError::internal(format!("the keys of `{issuer}` could not be fetched: {other}"))
            }
        })
    }
}

/// The `iss` of a JWT before verification (only to choose the keys to verify it with).
fn unverified_issuer(jwt: &str) -> Option<String> {
    let mut parts = jwt.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss").and_then(Value::as_str).map(str::to_owned)
}

#[derive(Deserialize)]
struct ExchangeRequest {
    jwt: String,
}

fn settings(state: &AppState) -> Result<&Arc<TrustedPublishing>, ApiError> {
    state.trustpub.as_ref().ok_or_else(|| {
        ApiError::new(DomainError::not_found(
            "trusted publishing is not enabled on this registry (an administrator sets `[trusted_publishing] issuers`)",
        ))
    })
}

/// `POST /api/v1/trusted_publishing/tokens`
pub async fn exchange(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let tp = settings(&state)?;
    let request: ExchangeRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(DomainError::bad_request("the body must be JSON: {\"jwt\": \"<the CI's OIDC ID token>\"}"))
    })?;
    let claims = tp.verify(request.jwt.trim()).await?;
    let minted = state.registry.exchange_trusted_token(tp.policy(), &claims).await?;
    let body = json!({ "token": minted.secret });
    Ok(([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
}

/// `DELETE /api/v1/trusted_publishing/tokens` (the token in `Authorization`, raw or `Bearer`).
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    settings(&state)?;
    let raw = match headers.get(header::AUTHORIZATION) {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::new(DomainError::unauthenticated("the Authorization header is not printable ASCII"))
        })?),
        None => None,
    };
    state.registry.revoke_trusted_token(raw).await.map_err(|e| ApiError::new(e).with_login_url(state.login_url()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_issuer_is_peeked_from_the_payload() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(r#"{"iss":"https://ci.example"}"#));
        assert_eq!(super::unverified_issuer(&jwt).as_deref(), Some("https://ci.example"));
        assert_eq!(super::unverified_issuer("not-a-jwt"), None);
        assert_eq!(super::unverified_issuer(&format!("{jwt}.extra")), None);
    }
}

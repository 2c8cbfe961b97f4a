//! HTTP edges of Raktar. [`router`] builds the one `Router` used by `raktar serve`, the Lambda
//! handler and the tests. Handlers parse input into domain types, call a service, map the result.

pub mod auth;
pub mod cargo;
pub mod error;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use raktar_core::Registry;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// Everything handlers need.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    /// The public base URL (scheme, host, optional path), without a trailing slash.
    pub public_url: Arc<str>,
}

impl AppState {
    pub fn new(registry: Arc<Registry>, public_url: &str) -> Self {
        Self { registry, public_url: Arc::from(public_url.trim_end_matches('/')) }
    }

    /// Where users get a token (the `login_url` of the 401 challenge).
    pub fn login_url(&self) -> String {
        format!("{}/me", self.public_url)
    }
}

/// Body limit for every route except publish (which enforces its own, configured limit).
const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Builds the application router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(cargo::routes(&state))
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}

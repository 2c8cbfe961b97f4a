//! HTTP edges of Raktar. [`router`] builds the one `Router` used by `raktar serve`, the Lambda
//! handler and the tests. Handlers parse input into domain types, call a service, map the result.
//!
//! - [`cargo`]: the Cargo registry protocol (`/index/...`, `/api/v1/...`, `/health`).
//! - [`upstream`]: the HTTP client of the upstream registry (the pull-through cache's port);
//!   its routes (`/upstream/...`) are in [`cargo`].
//! - [`trustpub`]: trusted publishing (CI ID tokens exchanged for short-lived tokens).
//! - [`graphql`]: `/graphql`, the transport of the GraphQL API v1 (`raktar-graphql`).
//! - [`web`]: the web sign-in (local passwords, OIDC through [`oidc`]) and the token page `/me`.
//! - [`auth`]: who is calling (a cargo token, else the session cookie) and the one CSRF check;
//!   [`client_addr`]: the client address for the sign-in rate limits.
//! - [`error`]: the one place where domain errors become HTTP responses.

pub mod auth;
pub mod cargo;
pub mod client_addr;
pub mod error;
pub mod graphql;
pub mod oidc;
pub mod server;
pub mod spa_auth;
pub mod trustpub;
pub mod ui;
pub mod ui_redirects;
pub mod upstream;
pub mod web;

use std::sync::Arc;

pub use client_addr::ClientAddr;

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
    /// Web sign-in settings (OIDC client, local accounts).
    pub web: Arc<web::WebSettings>,
    /// The GraphQL schema, built once over `registry`.
    pub schema: raktar_graphql::RaktarSchema,
    /// Whether `GET /graphql` serves the GraphiQL explorer.
    pub graphiql: bool,
    /// The built web UI, served as the fallback route ([`ui`]); `None`: API only.
    pub ui_dir: Option<ui::UiDir>,
    /// Trusted publishing from CI (`None`: disabled, the endpoints answer 404).
    pub trustpub: Option<Arc<trustpub::TrustedPublishing>>,
    /// The name users give this registry in their cargo configuration (`Query.registry`).
    pub registry_name: Arc<str>,
}

impl AppState {
    pub fn new(registry: Arc<Registry>, public_url: &str) -> Self {
        let schema = raktar_graphql::build_schema(registry.clone(), raktar_graphql::GraphqlOptions::default());
        Self {
            registry,
            public_url: Arc::from(public_url.trim_end_matches('/')),
            web: Arc::new(web::WebSettings::default()),
            schema,
            graphiql: false,
            ui_dir: None,
            trustpub: None,
            registry_name: Arc::from("raktar"),
        }
        .with_site()
    }

    /// Tells the GraphQL schema what this site is (`Query.registry`), after a setting changed.
    fn with_site(mut self) -> Self {
        let site = raktar_graphql::SiteInfo {
            name: "Raktar".to_owned(),
            registry_name: self.registry_name.to_string(),
            public_url: self.public_url.to_string(),
            public_read: !self.registry.config().auth_required,
            password_sign_in: self.web.local_login,
            sso_label: self.web.oidc.as_ref().map(|o| o.display_name().to_owned()),
        };
        self.schema = self.schema.clone().with_site(site);
        self
    }

    /// The name users give this registry in their cargo configuration (default `raktar`).
    pub fn with_registry_name(mut self, name: &str) -> Self {
        self.registry_name = Arc::from(name);
        self.with_site()
    }

    /// Serves (or not) the built web UI from this directory.
    pub fn with_ui_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.ui_dir = dir.map(ui::UiDir::new);
        self
    }

    /// Enables (or not) trusted publishing from CI.
    pub fn with_trusted_publishing(mut self, trustpub: Option<trustpub::TrustedPublishing>) -> Self {
        self.trustpub = trustpub.map(Arc::new);
        self
    }

    /// Serves (or not) the GraphiQL explorer on `GET /graphql`.
    pub fn with_graphiql(mut self, enabled: bool) -> Self {
        self.graphiql = enabled;
        self
    }

    /// Replaces the web sign-in settings.
    pub fn with_web(mut self, web: web::WebSettings) -> Self {
        self.web = Arc::new(web);
        self.with_site()
    }

    /// Cookies get `Secure` (and the session cookie the `__Host-` prefix) when served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// Where users get a token (the `login_url` of the 401 challenge): the web UI's tokens page
    /// when the UI is served, else the server-rendered `/me`.
    pub fn login_url(&self) -> String {
        if self.ui_dir.is_some() { format!("{}/tokens", self.public_url) } else { format!("{}/me", self.public_url) }
    }
}

/// Body limit for every route except publish (which enforces its own, configured limit).
const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Builds the application router.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .merge(cargo::routes(&state))
        .merge(web::routes())
        .merge(graphql::routes())
        .merge(spa_auth::routes());
    if let Some(dir) = state.ui_dir.clone() {
        app = app
            .fallback(move |request: axum::extract::Request| ui::serve(dir.clone(), request))
            // With the web UI served, the server-rendered pages lead to the app's (no layer, so
            // no per-request cost, without a UI).
            .layer(axum::middleware::from_fn_with_state(state.clone(), ui_redirects::redirect_pages));
    }
    app
        // One middleware for both edge checks (each `from_fn` layer costs a service clone and a
        // boxed future per request, measurable on index fetches).
        .layer(axum::middleware::from_fn(edge_guard))
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}

/// The edge checks every request goes through: the one CSRF check ([`auth::csrf_guard`]) before
/// any handler runs, on every route but the web UI's sign-in and sign-out, which check what they
/// need themselves ([`spa_auth`]: a browser with a stale session cookie must still be able to sign
/// in, and to clear that cookie); and the framing headers of every HTML answer.
async fn edge_guard(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    if spa_auth::checks_itself(request.uri().path()) {
        return html_security_headers(next.run(request).await);
    }
    html_security_headers(auth::csrf_guard(request, next).await)
}

/// Adds `X-Frame-Options: DENY` and a `Content-Security-Policy` with `frame-ancestors 'none'` to
/// every HTML response (pages that set their own policy keep it, with `frame-ancestors 'none'`
/// added when it lacks one): one place for every page (clickjacking).
fn html_security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().get(..9).is_some_and(|t| t.eq_ignore_ascii_case("text/html")));
    if !is_html {
        return response;
    }
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let csp = match h.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()) {
        Some(existing) if existing.to_ascii_lowercase().contains("frame-ancestors") => None,
        Some(existing) => {
            HeaderValue::from_str(&format!("{}; frame-ancestors 'none'", existing.trim_end_matches(';'))).ok()
        }
        None => Some(HeaderValue::from_static("frame-ancestors 'none'")),
    };
    if let Some(csp) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

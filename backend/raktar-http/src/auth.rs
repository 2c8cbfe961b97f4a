//! Who is calling: the [`Auth`] extractor (a cargo token in `Authorization`, else the web-session
//! cookie), the session cookie itself, and the server's one CSRF check ([`csrf_guard`]).
//!
//! CSRF rules (see `docs/authentication.md`):
//! - The session cookie is `HttpOnly`, `SameSite=Lax`, `Secure` (and `__Host-` prefixed) when the
//!   public URL is https.
//! - A state-changing request (any method but GET/HEAD/OPTIONS/TRACE) that carries a session cookie
//!   and no `Authorization` header must prove it comes from Raktar's own pages or scripts: an
//!   `X-CSRF-Token` header, or for HTML forms a `csrf_token` field, equal to the session's CSRF token
//!   (derived from the session secret; see `raktar_core::services::sessions`). Requests
//!   authenticated by a cargo token in `Authorization` are exempt (a browser never adds that header
//!   cross-site on its own).
//! - [`csrf_guard`] enforces this for every route of the router, `/graphql` included; a handler
//!   needs nothing else. [`require_csrf`] is the same check on headers alone, for handlers that want
//!   to state it explicitly.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use raktar_core::domain::DomainError;
use raktar_core::services::Principal;
use raktar_core::services::sessions::csrf_matches;

use crate::AppState;
use crate::error::ApiError;

/// Name of the session cookie on plain http (local development, tests).
pub const SESSION_COOKIE: &str = "raktar_session";
/// Name of the session cookie when the public URL is https: the `__Host-` prefix makes browsers
/// refuse it unless `Secure`, `Path=/` and host-only (no sibling subdomain can plant one).
pub const SECURE_SESSION_COOKIE: &str = "__Host-raktar_session";
/// Header carrying the CSRF token on script requests (GraphQL).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field carrying the CSRF token on HTML form posts.
pub const CSRF_FIELD: &str = "csrf_token";
/// Largest form body the CSRF check reads to find the token.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The authenticated caller, if any: from a cargo token in `Authorization` (an invalid token is
/// rejected with 401 and the login hint; cargo prints "token rejected"), else from a valid session
/// cookie (a missing, expired or revoked session is simply anonymous).
pub struct Auth(pub Option<Principal>);

impl Auth {
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_ref()
    }

    /// True when the caller was authenticated by the web-session cookie (a browser), not by a
    /// cargo token. State-changing requests of such callers have passed the CSRF check
    /// ([`csrf_guard`]) before any handler runs.
    pub fn via_session(&self) -> bool {
        self.0.as_ref().is_some_and(|p| p.token.is_none())
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let raw = value.to_str().map_err(|_| {
                ApiError::new(DomainError::unauthenticated("the Authorization header is not printable ASCII"))
                    .with_login_url(state.login_url())
            })?;
            let principal = state
                .registry
                .authenticate(Some(raw))
                .await
                .map_err(|e| ApiError::new(e).with_login_url(state.login_url()))?;
            return Ok(Auth(principal));
        }
        let Some(secret) = session_cookie(&parts.headers, state.secure_cookies()) else {
            return Ok(Auth(None));
        };
        match state.registry.resolve_session(secret).await {
            Ok(principal) => Ok(Auth(Some(principal))),
            Err(DomainError::Unauthenticated(_)) => Ok(Auth(None)),
            Err(e) => Err(ApiError::new(e)),
        }
    }
}

/// Every value of the cookie `name` in the request (all `Cookie` headers).
pub fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).filter_map(
        move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        },
    )
}

/// The first value of the cookie `name`.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &'a str) -> Option<&'a str> {
    cookie_values(headers, name).next()
}

/// The session cookie's name for this deployment.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}

/// The session secret the request carries (the cookie of this deployment's name).
pub fn session_cookie(headers: &HeaderMap, secure: bool) -> Option<&str> {
    cookie_value(headers, session_cookie_name(secure)).filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value. `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let raw = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    // Names and values are base64url or fixed ASCII: always a valid header value.
    HeaderValue::from_str(&raw).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// `Set-Cookie` for a new session.
pub fn session_set_cookie(secret: &str, max_age: i64, secure: bool) -> HeaderValue {
    set_cookie(session_cookie_name(secure), secret, "/", max_age, secure)
}

/// `Set-Cookie` that deletes the session cookie.
pub fn session_clear_cookie(secure: bool) -> HeaderValue {
    set_cookie(session_cookie_name(secure), "", "/", 0, secure)
}

/// Whether a method may change state.
fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// Session cookies of either name: the check must hold for each (a stray cookie never lets a
/// request skip it).
fn all_session_cookies(headers: &HeaderMap) -> Vec<String> {
    cookie_values(headers, SECURE_SESSION_COOKIE)
        .chain(cookie_values(headers, SESSION_COOKIE))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What the CSRF check decided about a request's headers.
enum Verdict {
    /// Not cookie-authenticated (no session cookie, or an `Authorization` header), or a safe method.
    Exempt,
    /// The `X-CSRF-Token` header matches every session cookie.
    Valid,
    /// A header was sent and does not match.
    Invalid,
    /// Cookie-authenticated without a header: only a matching form field can still pass.
    Missing(Vec<String>),
}

fn check_headers(method: &Method, headers: &HeaderMap) -> Verdict {
    if !is_unsafe(method) || headers.contains_key(header::AUTHORIZATION) {
        return Verdict::Exempt;
    }
    let cookies = all_session_cookies(headers);
    if cookies.is_empty() {
        return Verdict::Exempt;
    }
    match headers.get(CSRF_HEADER).map(|v| v.to_str()) {
        Some(Ok(token)) if cookies.iter().all(|c| csrf_matches(c, token.trim())) => Verdict::Valid,
        Some(_) => Verdict::Invalid,
        None => Verdict::Missing(cookies),
    }
}

const CSRF_MESSAGE: &str = "this request comes with a Raktar session cookie but without the session's CSRF token \
     (`X-CSRF-Token` header or `csrf_token` form field); reload the page and try again";

fn refusal(html: bool) -> Response {
    tracing::warn!("request refused by the CSRF check");
    if html {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Raktar: request refused</title></head>\
             <body><h1>Request refused</h1><p>{CSRF_MESSAGE}.</p></body></html>"
        );
        (StatusCode::FORBIDDEN, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
    } else {
        // Readable both as a cargo error (`detail`) and as a GraphQL error (`message`, `extensions.code`).
        let body = serde_json::json!({
            "errors": [{ "detail": CSRF_MESSAGE, "message": CSRF_MESSAGE, "extensions": { "code": "FORBIDDEN" } }]
        });
        (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// The CSRF check of the whole server (installed on the router by [`crate::router`]): refuses a
/// cookie-authenticated, state-changing request without the session's CSRF token in the
/// `X-CSRF-Token` header or, for an urlencoded HTML form, in the `csrf_token` field.
pub async fn csrf_guard(request: Request, next: Next) -> Response {
    match check_headers(request.method(), request.headers()) {
        Verdict::Exempt | Verdict::Valid => next.run(request).await,
        Verdict::Invalid => refusal(false),
        Verdict::Missing(cookies) => {
            if !is_form(request.headers()) {
                return refusal(false);
            }
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
                return ApiError::new(DomainError::PayloadTooLarge("the form is too large".into())).into_response();
            };
            let token = form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
            match token {
                Some(t) if cookies.iter().all(|c| csrf_matches(c, t.trim())) => {
                    next.run(Request::from_parts(parts, Body::from(bytes))).await
                }
                _ => refusal(true),
            }
        }
    }
}

/// The CSRF check on headers alone, for a request that may change state: `Ok` unless it is
/// cookie-authenticated (a session cookie and no `Authorization` header) and lacks a matching
/// `X-CSRF-Token` header. [`csrf_guard`] already enforces this on every route; the GraphQL handler
/// (`POST /graphql`) calls it as well, so the rule stays visible where mutations run even if the
/// router is assembled differently.
pub fn require_csrf(headers: &HeaderMap) -> Result<(), ApiError> {
    match check_headers(&Method::POST, headers) {
        Verdict::Exempt | Verdict::Valid => Ok(()),
        Verdict::Invalid | Verdict::Missing(_) => Err(ApiError::new(DomainError::forbidden(CSRF_MESSAGE))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use raktar_core::services::sessions::csrf_token_for;

    use super::*;

    const SECRET: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const OTHER: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookies_parse() {
        let h =
            headers(&[("cookie", "a=1; raktar_session=xyz ; b=2".into()), ("cookie", "raktar_session=second".into())]);
        assert_eq!(cookie_values(&h, SESSION_COOKIE).collect::<Vec<_>>(), ["xyz", "second"]);
        assert_eq!(session_cookie(&h, false), Some("xyz"));
        assert_eq!(session_cookie(&h, true), None, "https deployments read only the __Host- cookie");
    }

    #[test]
    fn cookie_attributes() {
        let c = session_set_cookie("abc", 3600, false).to_str().unwrap().to_owned();
        assert_eq!(c, "raktar_session=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax");
        let c = session_set_cookie("abc", 3600, true).to_str().unwrap().to_owned();
        assert_eq!(c, "__Host-raktar_session=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure");
        assert!(session_clear_cookie(true).to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn csrf_rules() {
        let cookie = ("cookie", format!("raktar_session={SECRET}"));
        let good = ("x-csrf-token", csrf_token_for(SECRET));
        // Safe methods are exempt.
        assert!(matches!(check_headers(&Method::GET, &headers(std::slice::from_ref(&cookie))), Verdict::Exempt));
        assert!(matches!(check_headers(&Method::DELETE, &headers(std::slice::from_ref(&cookie))), Verdict::Missing(_)));
        // Requests without a session cookie are exempt.
        assert!(require_csrf(&headers(&[])).is_ok());
        // A cargo token in Authorization is exempt even with a cookie.
        assert!(require_csrf(&headers(&[cookie.clone(), ("authorization", "rkt_x".into())])).is_ok());
        // Cookie without header: refused; wrong header: refused; matching header: fine.
        assert!(require_csrf(&headers(std::slice::from_ref(&cookie))).is_err());
        assert!(require_csrf(&headers(&[cookie.clone(), ("x-csrf-token", "nope".into())])).is_err());
        assert!(
            require_csrf(&headers(&[cookie.clone(), ("x-csrf-token", csrf_token_for(OTHER))])).is_err(),
            "another session's token must not pass"
        );
        assert!(require_csrf(&headers(&[cookie.clone(), good.clone()])).is_ok());
        // A second (planted) session cookie must match too.
        let planted = ("cookie", format!("__Host-raktar_session={OTHER}"));
        assert!(require_csrf(&headers(&[cookie, planted, good])).is_err());
    }
}

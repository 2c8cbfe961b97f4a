//! Helpers shared by the web pages: HTML escaping and page framing, form bodies, redirects and
//! cookies, the user-facing text of domain errors, the client address and the session of a request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use raktar_core::domain::DomainError;
use raktar_core::services::Principal;
use raktar_core::services::sessions::NewSession;
use raktar_core::services::sso::is_local_path;

use crate::AppState;
use crate::auth::{Auth, session_cookie, session_set_cookie};
use crate::client_addr::client_ip;

/// HTML escaping for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// An urlencoded form body.
pub(super) struct FormData(Vec<(String, String)>);

impl FormData {
    pub(super) fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// `next` if it is a local path, else `/me`.
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_owned(),
        _ => "/me".to_owned(),
    }
}

/// 303 to a path of this server (under the public URL).
pub(super) fn see_other(state: &AppState, path: &str) -> Response {
    let location = format!("{}{path}", state.public_url);
    redirect_to(&location)
}

pub(super) fn redirect_to(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

pub(super) fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// A full HTML page with the headers every auth page gets (no caching, no framing, tight CSP).
pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Raktar</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}}
pre{{background:#f4f4f4;padding:.75rem;overflow:auto}} code{{background:#f4f4f4;padding:0 .2rem}}
table{{border-collapse:collapse;width:100%;margin:1rem 0}} th,td{{text-align:left;border-bottom:1px solid #ddd;padding:.35rem .5rem;vertical-align:top}}
label{{display:block;margin:.5rem 0 .2rem}} input[type=text],input[type=password],select{{width:100%;max-width:26rem;padding:.35rem}}
fieldset{{border:1px solid #ddd;margin:.75rem 0}} .error{{background:#fde8e8;border:1px solid #e0a0a0;padding:.5rem .75rem}}
.secret{{background:#fff7d6;border:1px solid #e6cf73;padding:.75rem;font-size:1.05rem;word-break:break-all}}
.sso{{display:inline-block;padding:.45rem 1rem;border:1px solid #888;border-radius:4px;text-decoration:none;color:inherit}}
.inline{{display:inline}} button{{padding:.35rem .9rem;cursor:pointer}} header{{display:flex;justify-content:space-between;align-items:center}}
</style></head><body>
{body}
</body></html>"#,
        title = esc(title)
    );
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// A page with a message and a way back to the sign-in.
pub(super) fn message_page(state: &AppState, status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"{}/login\">Back to sign-in</a></p>",
        esc(title),
        esc(message),
        esc(&state.public_url)
    );
    page(status, title, &body)
}

/// Status and user-facing text of a domain error (internal details are logged, never shown).
pub(super) fn describe(e: &DomainError) -> (StatusCode, String) {
    let status = crate::error::status_of(e);
    match e {
        DomainError::Internal(msg) => {
            tracing::error!(error = %msg, "internal error");
            (status, "internal server error; the error has been logged".to_owned())
        }
        other => (status, other.to_string()),
    }
}

/// The client address used by the sign-in rate limits ([`client_ip`]: the peer, or behind a
/// trusted proxy the forwarded address); `None` when the server recorded no peer address.
pub struct ClientAddress(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = client_ip(&parts.headers, &parts.extensions, &state.web.trusted_proxies);
        Ok(ClientAddress(ip.map(|ip| ip.to_string())))
    }
}

/// The session secret and principal of a cookie-authenticated request.
pub(super) fn session_of<'a>(
    auth: &'a Auth,
    headers: &'a HeaderMap,
    state: &AppState,
) -> Option<(&'a Principal, &'a str)> {
    let principal = auth.principal().filter(|_| auth.via_session())?;
    let secret = session_cookie(headers, state.secure_cookies())?;
    Some((principal, secret))
}

/// Sets the session cookie and redirects to `next`.
pub(super) fn signed_in(state: &AppState, session: &NewSession, next: &str) -> Response {
    let response = see_other(state, next);
    with_cookie(response, session_set_cookie(session.secret.expose(), session.lifetime_secs, state.secure_cookies()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn next_stays_local() {
        assert_eq!(safe_next(Some("/me")), "/me");
        assert_eq!(safe_next(Some("//evil.example")), "/me");
        assert_eq!(safe_next(Some("https://evil.example")), "/me");
        assert_eq!(safe_next(None), "/me");
    }
}

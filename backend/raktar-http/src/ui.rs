//! The web UI (a built single-page app, `frontend/dist`), served by `raktar serve` as the
//! router's fallback when a UI directory is configured: every route of the API keeps priority.
//!
//! - `/assets/*` (content-hashed file names): `Cache-Control: public, max-age=31536000, immutable`;
//!   a missing asset is a 404, never the app shell.
//! - other files at the top of the directory (`/favicon.svg`): `no-cache`.
//! - every other `GET`/`HEAD` path: `index.html` with `no-cache` (client-side routes), except the
//!   API prefixes (`/api/`, `/index/`), which answer 404.
//!
//! Every answer carries the strict [`CSP`] (no inline script, no remote content) and
//! `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every UI answer.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// Where the built UI lives.
#[derive(Debug, Clone)]
pub struct UiDir(Arc<PathBuf>);

impl UiDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self(Arc::new(root.into()))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// The fallback handler: a file of the UI directory or its `index.html`.
pub async fn serve(dir: UiDir, request: Request) -> Response {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::NOT_FOUND.into_response();
    }
    let head = method == Method::HEAD;
    let path = request.uri().path();
    if path.starts_with("/api/") || path.starts_with("/index/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(segments) = safe_segments(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let root = dir.path();
    if segments.first() == Some(&"assets") {
        let file = segments.iter().fold(root.to_path_buf(), |p, s| p.join(s));
        return match tokio::fs::read(&file).await {
            Ok(bytes) => file_response(&file, bytes, IMMUTABLE, head),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if let [name] = segments.as_slice()
        && name.contains('.')
        && *name != "index.html"
    {
        let file = root.join(name);
        if let Ok(bytes) = tokio::fs::read(&file).await {
            return file_response(&file, bytes, NO_CACHE, head);
        }
    }
    let index = root.join("index.html");
    match tokio::fs::read(&index).await {
        Ok(bytes) => file_response(&index, bytes, NO_CACHE, head),
        Err(e) => {
            tracing::error!(path = %index.display(), error = %e, "the web UI has no index.html");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}

/// The path's segments when every one is a plain file name (letters, digits, `.`, `-`, `_`, not
/// `.` or `..`); `None` otherwise (no traversal, no encoded separators, no hidden files).
fn safe_segments(path: &str) -> Option<Vec<&str>> {
    let trimmed = path.strip_prefix('/')?;
    if trimmed.is_empty() {
        return Some(Vec::new());
    }
    let segments: Vec<&str> = trimmed.split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@' | b'+' | b'~'))
    };
    if segments.iter().all(plain) {
        Some(segments)
    } else if segments.first() == Some(&"assets") {
        None
    } else {
        // Client-side routes may hold any text (`/crates/serde/1.0.0+build`): the shell.
        Some(vec!["__route__"])
    }
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file_response(file: &Path, bytes: Vec<u8>, cache: &'static str, head: bool) -> Response {
    let len = bytes.len();
    let body = if head { Body::empty() } else { Body::from(bytes) };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(file)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_refuse_traversal_and_hidden_files_under_assets() {
        assert_eq!(safe_segments("/assets/index-abc.js"), Some(vec!["assets", "index-abc.js"]));
        assert_eq!(safe_segments("/assets/../secret"), None);
        assert_eq!(safe_segments("/assets/.env"), None);
        assert_eq!(safe_segments("/assets/a%2F..%2Fb"), None);
        assert_eq!(safe_segments("/"), Some(vec![]));
        // A route with odd characters gets the shell, never a file.
        assert_eq!(safe_segments("/../etc/passwd"), Some(vec!["__route__"]));
        assert_eq!(safe_segments("/crates/x/1.0.0"), Some(vec!["crates", "x", "1.0.0"]));
    }
}

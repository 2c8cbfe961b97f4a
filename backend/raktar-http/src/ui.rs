//! The web UI (a built single-page app, `frontend/dist`), served by `raktar serve` as the
//! router's fallback when a UI directory is configured: every route of the API keeps priority.
//!
//! - `/assets/*` (content-hashed file names): `Cache-Control: public, max-age=31536000, immutable`;
//!   a missing asset is a 404, never the app shell.
//! - other files at the top of the directory (`/favicon.svg`): `no-cache`.
//! - every other `GET`/`HEAD` path: `index.html` with `no-cache` (client-side routes), except the
//!   API prefixes (`/api/`, `/index/`), which answer 404.
//!
//! Text files (HTML, JavaScript, CSS, JSON, SVG) are gzipped for clients that accept it; each
//! file is compressed once and kept in memory until it changes on disk.
//!
//! Every answer carries the strict [`CSP`] (no inline script, no remote content) and
//! `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// The Content-Security-Policy of every UI answer.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// Where the built UI lives, and the gzipped copies of its text files made so far.
#[derive(Debug, Clone)]
pub struct UiDir {
    root: Arc<PathBuf>,
    gzipped: Arc<Mutex<HashMap<PathBuf, Gzipped>>>,
}

/// A gzipped file, with what identifies the version of the file it was made from.
#[derive(Debug)]
struct Gzipped {
    modified: Option<SystemTime>,
    len: usize,
    bytes: Bytes,
}

impl UiDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: Arc::new(root.into()), gzipped: Arc::default() }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `file`'s bytes gzipped, made once per version of the file (the cache holds at most one
    /// copy per file of the UI directory: only existing files get here).
    async fn gzip(&self, file: &Path, bytes: &[u8]) -> Option<Bytes> {
        let modified = tokio::fs::metadata(file).await.ok().and_then(|m| m.modified().ok());
        if let Ok(cache) = self.gzipped.lock()
            && let Some(hit) = cache.get(file)
            && hit.modified == modified
            && modified.is_some()
            && hit.len == bytes.len()
        {
            return Some(hit.bytes.clone());
        }
        let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 3), Compression::best());
        encoder.write_all(bytes).ok()?;
        let gz = Bytes::from(encoder.finish().ok()?);
        if let Ok(mut cache) = self.gzipped.lock() {
            cache.insert(file.to_path_buf(), Gzipped { modified, len: bytes.len(), bytes: gz.clone() });
        }
        Some(gz)
    }
}

/// Whether a request's `Accept-Encoding` allows gzip (a `q=0` weight refuses it).
fn accepts_gzip(request: &Request) -> bool {
    request.headers().get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|part| {
            let mut fields = part.split(';').map(str::trim);
            let coding = fields.next().unwrap_or("");
            let refused = fields
                .any(|f| f.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

/// Text files worth compressing (images and fonts already are).
fn compressible(file: &Path) -> bool {
    matches!(
        file.extension().and_then(|e| e.to_str()).unwrap_or(""),
        "html" | "js" | "mjs" | "css" | "json" | "map" | "svg" | "txt"
    )
}

/// The fallback handler: a file of the UI directory or its `index.html`.
pub async fn serve(dir: UiDir, request: Request) -> Response {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::NOT_FOUND.into_response();
    }
    let head = method == Method::HEAD;
    let gzip = accepts_gzip(&request);
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
            Ok(bytes) => file_response(&dir, &file, bytes, IMMUTABLE, head, gzip).await,
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if let [name] = segments.as_slice()
        && name.contains('.')
        && *name != "index.html"
    {
        let file = root.join(name);
        if let Ok(bytes) = tokio::fs::read(&file).await {
            return file_response(&dir, &file, bytes, NO_CACHE, head, gzip).await;
        }
    }
    let index = root.join("index.html");
    match tokio::fs::read(&index).await {
        Ok(bytes) => file_response(&dir, &index, bytes, NO_CACHE, head, gzip).await,
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

/// A file's answer: gzipped when the client accepts it and the file is text (`Vary:
/// Accept-Encoding` on every answer that could have been either).
async fn file_response(
    dir: &UiDir,
    file: &Path,
    bytes: Vec<u8>,
    cache: &'static str,
    head: bool,
    gzip: bool,
) -> Response {
    let compress = compressible(file);
    let gzipped = if compress && gzip { dir.gzip(file, &bytes).await } else { None };
    let (body, len, encoded) = match gzipped {
        Some(gz) => (gz.clone(), gz.len(), true),
        None => {
            let len = bytes.len();
            (Bytes::from(bytes), len, false)
        }
    };
    let mut response = Response::new(if head { Body::empty() } else { Body::from(body) });
    let h = response.headers_mut();
    if encoded {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if compress {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        let req = |v: &str| Request::builder().header(header::ACCEPT_ENCODING, v).body(Body::empty()).unwrap();
        assert!(accepts_gzip(&req("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&req("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&req("*")));
        assert!(!accepts_gzip(&req("gzip;q=0")));
        assert!(!accepts_gzip(&req("br, identity")));
        assert!(!accepts_gzip(&Request::builder().body(Body::empty()).unwrap()));
    }

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

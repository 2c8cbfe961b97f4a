//! The upstream registry over HTTP: the [`UpstreamSource`] port of the pull-through cache, for
//! any sparse registry (crates-io or another Raktar), configured by its sparse index URL.
//!
//! Bounded: timeouts on every request, a size limit on every body (read in chunks, never whole
//! before the check), few redirects (crates-io's downloads redirect once to their file host).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use raktar_core::domain::index_path;
use raktar_core::services::upstream::{UpstreamError, UpstreamFetch, UpstreamSource, Validators};
use reqwest::StatusCode;
use reqwest::header;

/// Largest upstream index file accepted.
pub const MAX_INDEX_BYTES: u64 = 32 * 1024 * 1024;
/// Largest upstream `.crate` accepted.
pub const MAX_CRATE_BYTES: u64 = 128 * 1024 * 1024;
/// How long the upstream's `config.json` (its download template) is kept.
const CONFIG_TTL: Duration = Duration::from_secs(3600);

/// The upstream's sparse index over HTTP.
pub struct HttpUpstream {
    /// `https://.../` (no `sparse+`, with a trailing slash).
    index_url: String,
    http: reqwest::Client,
    /// The `dl` template of the upstream's `config.json` and when it was read.
    dl: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpUpstream").field("index_url", &self.index_url).finish_non_exhaustive()
    }
}

/// Checks and normalizes an upstream sparse index URL (`sparse+` accepted and dropped).
pub fn parse_index_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().strip_prefix("sparse+").unwrap_or(raw.trim());
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid upstream sparse index URL `{url}`: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("the upstream sparse index URL must be http(s)://HOST/...: `{url}`"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(format!("the upstream sparse index URL must not carry a query, fragment or user: `{url}`"));
    }
    let mut s = parsed.to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

impl HttpUpstream {
    /// `index_url`: the sparse index URL (what follows `sparse+` in a cargo configuration).
    pub fn new(index_url: &str) -> Result<Self, String> {
        let index_url = parse_index_url(index_url)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("raktar/", env!("CARGO_PKG_VERSION"), " (pull-through cache)"))
            .build()
            .map_err(|e| format!("cannot build the upstream HTTP client: {e}"))?;
        Ok(Self { index_url, http, dl: Mutex::new(None) })
    }

    /// The `dl` template of the upstream (from its `config.json`, kept an hour).
    async fn dl_template(&self) -> Result<String, UpstreamError> {
        if let Ok(guard) = self.dl.lock()
            && let Some((dl, at)) = guard.as_ref()
            && at.elapsed() < CONFIG_TTL
        {
            return Ok(dl.clone());
        }
        let url = format!("{}config.json", self.index_url);
        let response = self.http.get(&url).send().await.map_err(unreachable)?;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(UpstreamError::Unreachable(format!("{url} answered {status}")));
        }
        if status != StatusCode::OK {
            return Err(UpstreamError::Invalid(format!("{url} answered {status}")));
        }
        let body = read_limited(response, 64 * 1024).await?;
        #[derive(serde::Deserialize)]
        struct Config {
            dl: String,
        }
        let config: Config = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Invalid(format!("{url} is not a registry config.json: {e}")))?;
        if let Ok(mut guard) = self.dl.lock() {
            *guard = Some((config.dl.clone(), Instant::now()));
        }
        Ok(config.dl)
    }
}

/// The download URL of a `.crate` from a `dl` template (cargo's rules: markers replaced, or
/// `/{crate}/{version}/download` appended when the template has none).
pub fn download_url(template: &str, name: &str, vers: &str, cksum: &str) -> String {
    const MARKERS: [&str; 5] = ["{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}"];
    if !MARKERS.iter().any(|m| template.contains(m)) {
        return format!("{}/{name}/{vers}/download", template.trim_end_matches('/'));
    }
    let prefix = prefix_of(name);
    template
        .replace("{crate}", name)
        .replace("{version}", vers)
        .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
        .replace("{prefix}", &prefix)
        .replace("{sha256-checksum}", cksum)
}

/// The index directory of a name (`1`, `2`, `3/a`, `ab/cd`), in the name's own case.
fn prefix_of(name: &str) -> String {
    match name.len() {
        0 => String::new(),
        1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

fn unreachable(e: reqwest::Error) -> UpstreamError {
    // Without the URL's query (none here) and without the body: the error chain only.
    UpstreamError::Unreachable(e.without_url().to_string())
}

/// Reads a body of at most `limit` bytes (checked against `Content-Length` first, then while
/// reading).
async fn read_limited(mut response: reqwest::Response, limit: u64) -> Result<Bytes, UpstreamError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(UpstreamError::Invalid(format!("the file is larger than {limit} bytes")));
    }
    let mut out = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(UpstreamError::Invalid(format!("the file is larger than {limit} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

fn header_string(response: &reqwest::Response, name: header::HeaderName) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[async_trait]
impl UpstreamSource for HttpUpstream {
    async fn index_file(&self, lowercase: &str, validators: Validators<'_>) -> Result<UpstreamFetch, UpstreamError> {
        let url = format!("{}{}", self.index_url, index_path(lowercase));
        let mut request = self.http.get(&url);
        if let Some(etag) = validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, lm);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let etag = header_string(&response, header::ETAG);
        let last_modified = header_string(&response, header::LAST_MODIFIED);
        match status {
            StatusCode::OK => {
                let body = read_limited(response, MAX_INDEX_BYTES).await?;
                Ok(UpstreamFetch::Body { body, etag, last_modified })
            }
            StatusCode::NOT_MODIFIED => Ok(UpstreamFetch::NotModified { etag, last_modified }),
            // cargo's own reading of a sparse index: these mean "no such crate".
            StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => {
                Ok(UpstreamFetch::NotFound)
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                Err(UpstreamError::Unreachable(format!("{url} answered {s}")))
            }
            s => Err(UpstreamError::Invalid(format!("{url} answered {s}"))),
        }
    }

    async fn crate_file(&self, name: &str, vers: &str, cksum: &str) -> Result<Option<Bytes>, UpstreamError> {
        let template = self.dl_template().await?;
        let url = download_url(&template, name, vers, cksum);
        let response = self.http.get(&url).send().await.map_err(unreachable)?;
        match response.status() {
            StatusCode::OK => read_limited(response, MAX_CRATE_BYTES).await.map(Some),
            StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => Ok(None),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                Err(UpstreamError::Unreachable(format!("the download answered {s}")))
            }
            s => Err(UpstreamError::Invalid(format!("the download answered {s}"))),
        }
    }

    fn url(&self) -> &str {
        &self.index_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_index_url("sparse+http://127.0.0.1:1/index").as_deref(), Ok("http://127.0.0.1:1/index/"));
        assert_eq!(parse_index_url("http://127.0.0.1:1/index/").as_deref(), Ok("http://127.0.0.1:1/index/"));
        assert!(parse_index_url("ftp://x/").is_err());
        assert!(parse_index_url("http://x/?a=b").is_err());
        assert!(parse_index_url("not a url").is_err());
    }

    #[test]
    fn download_templates() {
        assert_eq!(
            download_url("http://h/api/v1/crates", "Serde", "1.0.0", "ab"),
            "http://h/api/v1/crates/Serde/1.0.0/download"
        );
        assert_eq!(
            download_url("http://h/dl/{crate}/{version}/{sha256-checksum}", "a", "0.1.0", "ff"),
            "http://h/dl/a/0.1.0/ff"
        );
        assert_eq!(
            download_url("http://h/{prefix}/{lowerprefix}/{crate}", "AbCd", "1.0.0", ""),
            "http://h/Ab/Cd/ab/cd/AbCd"
        );
        assert_eq!(download_url("http://h/{prefix}/{crate}", "abc", "1.0.0", ""), "http://h/3/a/abc");
    }
}

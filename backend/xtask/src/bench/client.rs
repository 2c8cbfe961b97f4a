//! A minimal HTTP client for the registry's cargo API.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use reqwest::StatusCode;
use serde_json::Value;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// `base` is `http://127.0.0.1:PORT` without a trailing slash.
    pub fn new(base: &str, token: Option<&str>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build()
            .context("building the HTTP client")?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), token: token.map(str::to_owned) })
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.header("Authorization", token);
        }
        req
    }

    /// GET returning status and body.
    pub async fn get_raw(&self, path: &str) -> Result<(StatusCode, Vec<u8>)> {
        let resp = self.get(path).send().await.with_context(|| format!("GET {}{path}", self.base))?;
        let status = resp.status();
        let body = resp.bytes().await.with_context(|| format!("reading GET {}{path}", self.base))?;
        Ok((status, body.to_vec()))
    }

    /// GET that must answer 200.
    pub async fn get_ok(&self, path: &str) -> Result<Vec<u8>> {
        let (status, body) = self.get_raw(path).await?;
        if status != StatusCode::OK {
            bail!("GET {}{path}: {status}: {}", self.base, String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// `PUT /api/v1/crates/new`; fails unless the server answers 2xx without `errors`.
    pub async fn publish(&self, body: Vec<u8>) -> Result<()> {
        let mut req =
            self.http.put(format!("{}/api/v1/crates/new", self.base)).header("Accept", "application/json").body(body);
        if let Some(token) = &self.token {
            req = req.header("Authorization", token);
        }
        let resp = req.send().await.context("PUT /api/v1/crates/new")?;
        let status = resp.status();
        let text = resp.text().await.context("reading the publish response")?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        let has_errors = json.as_ref().is_some_and(|j| j.get("errors").is_some());
        if !status.is_success() || has_errors {
            bail!("publish refused: {status}: {text}");
        }
        Ok(())
    }

    /// `GET /api/v1/crates?q=...&per_page=N`: returns (`meta.total`, number of crates returned).
    pub async fn search(&self, query: &str, per_page: u32) -> Result<(u64, usize)> {
        let resp = self
            .http
            .get(format!("{}/api/v1/crates", self.base))
            .query(&[("q", query), ("per_page", &per_page.to_string())])
            .header("Accept", "application/json");
        let resp = match &self.token {
            Some(token) => resp.header("Authorization", token),
            None => resp,
        };
        let resp = resp.send().await.context("GET /api/v1/crates")?;
        let status = resp.status();
        let text = resp.text().await.context("reading the search response")?;
        if status != StatusCode::OK {
            bail!("search {query:?}: {status}: {text}");
        }
        let json: Value = serde_json::from_str(&text).with_context(|| format!("search {query:?}: {text}"))?;
        let total = json
            .pointer("/meta/total")
            .and_then(Value::as_u64)
            .with_context(|| format!("search {query:?}: no meta.total in {text}"))?;
        let n = json
            .get("crates")
            .and_then(Value::as_array)
            .with_context(|| format!("search {query:?}: no crates array in {text}"))?
            .len();
        Ok((total, n))
    }
}

//! A tiny blocking HTTP/1.1 keep-alive client for the sequential latency loops.
//!
//! xtask runs as a debug build; a full client stack (reqwest, hyper, tokio) adds a few hundred
//! microseconds per request there. This client writes one buffer and parses the response with
//! a handful of allocations, so the measured latency is the server's plus loopback.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

pub struct RawClient {
    addr: String,
    token: Option<String>,
    conn: Option<BufReader<TcpStream>>,
}

impl RawClient {
    /// `base` is `http://127.0.0.1:PORT`.
    pub fn new(base: &str, token: Option<&str>) -> Result<Self> {
        let addr = base
            .strip_prefix("http://")
            .with_context(|| format!("{base} is not an http:// URL"))?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self { addr, token: token.map(str::to_owned), conn: None })
    }

    fn connect(&self) -> Result<BufReader<TcpStream>> {
        let stream = TcpStream::connect(&self.addr).with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(BufReader::with_capacity(64 * 1024, stream))
    }

    /// Sends one request and returns (status, body). Retries once on a fresh connection when a
    /// kept-alive connection turns out to be closed.
    pub fn request(&mut self, method: &str, target: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.request_with(method, target, &[], body)
    }

    /// Like [`Self::request`], with extra headers (`Content-Type` for GraphQL).
    pub fn request_with(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>)> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n", self.addr);
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: {token}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if method != "GET" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut buf = head.into_bytes();
        buf.extend_from_slice(body);
        let reused = self.conn.is_some();
        match self.exchange(&buf) {
            Ok(r) => Ok(r),
            Err(_) if reused => {
                self.conn = None;
                self.exchange(&buf)
            }
            Err(e) => Err(e),
        }
    }

    fn exchange(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>)> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        conn.get_mut().write_all(request).context("sending the request")?;
        let mut line = String::new();
        conn.read_line(&mut line).context("reading the status line")?;
        if line.is_empty() {
            bail!("the connection was closed");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        loop {
            line.clear();
            conn.read_line(&mut line).context("reading a header")?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line).context("reading a chunk size")?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .with_context(|| format!("bad chunk size {line:?}"))?;
                let start = body.len();
                body.resize(start + size, 0);
                conn.read_exact(&mut body[start..]).context("reading a chunk")?;
                line.clear();
                conn.read_line(&mut line).context("reading a chunk end")?;
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            conn.read_exact(&mut body).context("reading the body")?;
        } else if status != 204 && status != 304 {
            conn.read_to_end(&mut body).context("reading the body")?;
            close = true;
        }
        if !close {
            self.conn = Some(conn);
        }
        Ok((status, body))
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_queries() {
        assert_eq!(encode("json parser"), "json%20parser");
        assert_eq!(encode("snake_case-x.y~"), "snake_case-x.y~");
        assert_eq!(encode("a&b=c"), "a%26b%3Dc");
    }
}

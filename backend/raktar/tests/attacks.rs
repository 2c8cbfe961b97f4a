//! Memory bound per request: the attacks of the hardening review, one after another against one
//! real `raktar serve`, while a watcher keeps asking `/health`. The server's peak resident memory
//! stays under a fixed budget, every attack gets a short 4xx (or is cut off), and `/health`
//! answers throughout.
//!
//! Attacks: a GNU long-name bomb and a PAX bomb in a publish (with a read-only token, then with a
//! publishing one), a gzip bomb over the unpacked limit, a publish body announced larger than the
//! limit, GraphQL amplification of a 900 KB README by aliases, huge request headers, and 1,100
//! half-sent requests (slowloris) and stalled bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::graphql::post;
use common::publish::{PublishRequest, frame};
use common::{HttpResponse, TestServer};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;

/// The server's peak resident memory under every attack.
const MEMORY_BUDGET: u64 = 256 * 1024 * 1024;
/// The longest an attack's answer may be.
const MAX_ANSWER: usize = 4096;
/// `/health` must answer within this, throughout.
const HEALTH_DEADLINE: Duration = Duration::from_secs(3);

/// Asks `/health` every 100 ms on a fresh connection; counts failures and the slowest answer.
struct HealthWatch {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    slowest_ms: Arc<AtomicU64>,
    checks: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HealthWatch {
    fn start(server: &TestServer) -> Self {
        let addr = server.url.trim_start_matches("http://").to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let slowest_ms = Arc::new(AtomicU64::new(0));
        let checks = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, failures, slowest_ms, checks) =
                (stop.clone(), failures.clone(), slowest_ms.clone(), checks.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let ok = health_once(&addr);
                    let ms = started.elapsed().as_millis() as u64;
                    checks.fetch_add(1, Ordering::Relaxed);
                    slowest_ms.fetch_max(ms, Ordering::Relaxed);
                    if !ok || started.elapsed() > HEALTH_DEADLINE {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(100));
                }
            })
        };
        HealthWatch { stop, failures, slowest_ms, checks, thread: Some(thread) }
    }

    fn finish(mut self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.checks.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
            self.slowest_ms.load(Ordering::Relaxed),
        )
    }
}

fn health_once(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().unwrap(), HEALTH_DEADLINE) else { return false };
    let _ = s.set_read_timeout(Some(HEALTH_DEADLINE));
    let _ = s.set_write_timeout(Some(HEALTH_DEADLINE));
    if s.write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

/// A gzip stream of a tar holding one extension record (`typeflag` `L` or `x`) of `size` bytes
/// of NULs, then a regular file: written in chunks, so the test never holds the bomb unpacked.
fn extension_bomb(typeflag: u8, size: u64) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&raw_header(b"././@LongLink", typeflag, size)).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        gz.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    let pad = (512 - (size % 512) as usize) % 512;
    gz.write_all(&vec![0u8; pad]).unwrap();
    gz.write_all(&raw_header(b"bomb-1.0.0/src/lib.rs", b'0', 0)).unwrap();
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

/// A gzip stream of a tar with one regular file of `size` zero bytes (a decompression bomb).
fn zero_file_bomb(size: u64) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&raw_header(b"bomb-1.0.0/Cargo.toml", b'0', 40)).unwrap();
    let mut manifest = b"[package]\nname=\"bomb\"\nversion=\"1.0.0\"\n\n".to_vec();
    manifest.resize(512, 0);
    gz.write_all(&manifest).unwrap();
    gz.write_all(&raw_header(b"bomb-1.0.0/zeros.bin", b'0', size)).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        gz.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

fn raw_header(name: &[u8], typeflag: u8, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"14414414414");
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn short_refusal(what: &str, resp: &HttpResponse, statuses: &[u16]) {
    assert!(statuses.contains(&resp.status), "{what}: expected one of {statuses:?}, got {resp}");
    assert!(resp.body.len() <= MAX_ANSWER, "{what}: a {}-byte answer (at most {MAX_ANSWER})", resp.body.len());
}

fn publish_body(name: &str, krate: &[u8]) -> Vec<u8> {
    let meta = PublishRequest::new(name, "1.0.0").metadata_bytes();
    frame(&meta, krate)
}

#[test]
fn attacks_stay_within_the_memory_budget_and_health_keeps_answering() {
    // 1024 open files: the common default limit, which 1,100 hanging connections would exhaust.
    let server = TestServer::start_with_fd_limit(1024, &[]);
    let owner = server.user_with_token("alice");
    let reader = server.create_token_with("alice", "alice-read", &["--scope", "read"]);
    let http = server.http();
    // A crate with a 900 KB README, for the amplification attack.
    let readme = "All work and no play makes a large README. ".repeat(900 * 1024 / 44);
    http.put_crate(PublishRequest::new("big", "1.0.0").field("readme", json!(readme)).body(), Some(&owner))
        .assert_status(200);
    let baseline = server.rss_bytes();
    let watch = HealthWatch::start(&server);
    let mut report = Vec::new();

    // 1. Extension-header bombs (100 MB of NULs in a GNU long name / a PAX record, ~100 KB sent).
    for (kind, typeflag) in [("GNU long name", b'L'), ("PAX record", b'x')] {
        let bomb = extension_bomb(typeflag, 100 << 20);
        let body = publish_body("bomb", &bomb);
        for (who, token) in [("read-only", &reader), ("publisher", &owner)] {
            let started = Instant::now();
            let resp = http.put_crate(body.clone(), Some(token));
            let expected: &[u16] = if who == "read-only" { &[403] } else { &[400, 413] };
            short_refusal(&format!("{kind} bomb, {who} token"), &resp, expected);
            report.push(format!(
                "{kind} bomb ({} KB), {who}: {} in {:?}",
                body.len() >> 10,
                resp.status,
                started.elapsed()
            ));
        }
    }

    // 2. A gzip bomb over the unpacked limit (600 MiB of zeros, ~600 KB sent).
    let bomb = zero_file_bomb(600 << 20);
    let resp = http.put_crate(publish_body("bomb", &bomb), Some(&owner));
    short_refusal("gzip bomb", &resp, &[400, 413]);
    report.push(format!("gzip bomb ({} KB): {}", bomb.len() >> 10, resp.status));

    // 3. A publish body announced larger than the limit: refused before it is read.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "PUT /api/v1/crates/new HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {owner}\r\nContent-Length: 10000000000\r\n\r\n")
        .unwrap();
    s.write_all(&[0u8; 4096]).unwrap();
    let mut head = [0u8; 12];
    let n = s.read(&mut head).unwrap_or(0);
    assert!(
        head[..n].starts_with(b"HTTP/1.1 413"),
        "a 10 GB publish body must be refused with 413, got {:?}",
        String::from_utf8_lossy(&head[..n])
    );
    drop(s);

    // 4. GraphQL amplification: the README under 1,000 aliases.
    let aliases: String = (0..1000).map(|i| format!("r{i}: readme ")).collect();
    let query = format!("{{ crate(name: \"big\") {{ defaultVersion {{ {aliases} }} }} }}");
    let started = Instant::now();
    let resp = post(&http, Some(&owner), &query, json!({}));
    assert!(resp.status < 500, "amplification: {resp}");
    assert!(resp.body.len() < 2 << 20, "amplification: a {} MB answer", resp.body.len() >> 20);
    assert!(
        resp.text().contains("\"errors\""),
        "amplification must be refused with an error: {}",
        &resp.text()[..resp.text().len().min(500)]
    );
    report.push(format!("GraphQL 1,000 x README: {} bytes in {:?}", resp.body.len(), started.elapsed()));

    // 5. Huge request headers: 2,000 headers of 4 KB.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(s, "GET /health HTTP/1.1\r\nHost: {addr}\r\n");
    let filler = "x".repeat(4096);
    for i in 0..2000 {
        if write!(s, "X-Filler-{i}: {filler}\r\n").is_err() {
            break;
        }
    }
    let _ = s.write_all(b"\r\n");
    let mut head = [0u8; 12];
    let n = s.read(&mut head).unwrap_or(0);
    assert!(n == 0 || head[..n].starts_with(b"HTTP/1.1 4"), "huge headers: {:?}", String::from_utf8_lossy(&head[..n]));
    drop(s);

    // 6. Slowloris: 1,100 connections that never finish their headers, and stalled bodies.
    let mut idle = Vec::new();
    for i in 0..1100 {
        let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        let _ = s.write_all(format!("GET /index/config.json HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ").as_bytes());
        idle.push(s);
    }
    for _ in 0..20 {
        let mut s = TcpStream::connect(&addr).unwrap();
        let _ = write!(
            s,
            "PUT /api/v1/crates/new HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {owner}\r\nContent-Length: 1000000\r\n\r\nabc"
        );
        idle.push(s);
    }
    let started = Instant::now();
    assert!(health_once(&addr), "/health must answer while 1,100 requests hang half-sent");
    report.push(format!("/health with 1,120 hanging connections: {:?}", started.elapsed()));
    thread::sleep(Duration::from_secs(2));
    assert!(health_once(&addr), "/health must keep answering while requests hang");
    drop(idle);

    let (checks, failures, slowest) = watch.finish();
    let peak = server.peak_rss_bytes();
    report.push(format!(
        "baseline RSS {} MiB, peak RSS {} MiB; /health: {checks} checks, {failures} failed, slowest {slowest} ms",
        baseline >> 20,
        peak >> 20
    ));
    eprintln!("attack report:\n  {}", report.join("\n  "));
    assert_eq!(failures, 0, "/health failed during the attacks (slowest {slowest} ms)\n{}", report.join("\n"));
    assert!(
        peak < MEMORY_BUDGET,
        "peak RSS {} MiB over the {} MiB budget\n{}",
        peak >> 20,
        MEMORY_BUDGET >> 20,
        report.join("\n")
    );
    // Still fully working.
    http.get_index("config.json", Some(&reader), &[]).assert_status(200);
}

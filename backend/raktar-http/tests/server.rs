//! The server loop of `raktar serve` (`raktar_http::server`), in process on 127.0.0.1: a flood of
//! half-sent requests, header, body and idle timeouts, HTTP/2 (prior knowledge and the h2c
//! upgrade cargo offers), the peer address, graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use bytes::Bytes;
use raktar_http::server::{ServerConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn app() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { format!("{} bytes", body.len()) }))
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "slow"
            }),
        )
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServerConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app(), config, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop: Some(stop), task }
}

/// One HTTP/1.1 request on a new connection; the status line and body, within `limit`.
async fn get_once(addr: SocketAddr, path: &str, limit: Duration) -> Result<String, String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| format!("read: {e}"))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    tokio::time::timeout(limit, exchange).await.map_err(|_| format!("no answer within {limit:?}"))?
}

/// Reads until the peer closes the connection (`Ok(bytes)`), within `limit`.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match tokio::time::timeout(limit, s.read_to_end(&mut out)).await {
        Ok(Ok(_)) => Ok(out),
        // A reset is a close too.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(out),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Err(_) => Err(format!("still open after {limit:?}")),
    }
}

/// Opens `count` connections that each send an unfinished request head, checking `/health`
/// every 100 connections; returns the attack connections.
async fn slowloris(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ").await.unwrap();
        held.push(s);
        if i % 100 == 99 {
            let t = Instant::now();
            let answer = get_once(addr, "/health", Duration::from_secs(2)).await;
            let answer = answer.unwrap_or_else(|e| panic!("/health after {} half-sent requests: {e}", i + 1));
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(t.elapsed() < Duration::from_secs(2));
        }
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_through_a_flood_of_half_sent_requests() {
    // Default settings: 1,100 half-sent requests fit under the connection limit.
    let server = start(ServerConfig::default()).await;
    let held = slowloris(server.addr, 1100).await;
    let answer = get_once(server.addr, "/health", Duration::from_secs(2)).await.unwrap();
    assert!(answer.ends_with("ok"), "{answer}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_sheds_the_longest_waiting_connections() {
    // With room for 200 connections, 1,100 half-sent requests: the oldest are closed to make
    // room, and /health still answers.
    let config = ServerConfig { max_connections: 200, ..ServerConfig::default() };
    let server = start(config).await;
    let mut held = slowloris(server.addr, 1100).await;
    let answer = get_once(server.addr, "/health", Duration::from_secs(2)).await.unwrap();
    assert!(answer.ends_with("ok"), "{answer}");
    // The first attack connections were closed by the server, without an answer.
    for s in held.iter_mut().take(100) {
        let rest = read_until_closed(s, Duration::from_secs(2)).await.unwrap();
        assert!(rest.is_empty());
    }
    // The newest are still open.
    let last = held.last_mut().unwrap();
    let mut byte = [0u8; 1];
    assert!(tokio::time::timeout(Duration::from_millis(200), last.read(&mut byte)).await.is_err());
}

#[tokio::test]
async fn an_unfinished_request_head_is_cut_off() {
    let config = ServerConfig { header_read_timeout: Duration::from_secs(1), ..ServerConfig::default() };
    let server = start(config).await;
    // First request of a connection.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n").await.unwrap();
    let t = Instant::now();
    read_until_closed(&mut s, Duration::from_secs(3)).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
    // A later request on a kept-alive connection (checked at most 1.5 timeouts late).
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok"));
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n").await.unwrap();
    let rest = read_until_closed(&mut s, Duration::from_secs(3)).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_the_connection_closes() {
    let config = ServerConfig {
        body_timeout_base: Duration::from_secs(1),
        body_min_rate: 1024 * 1024,
        ..ServerConfig::default()
    };
    let server = start(config).await;
    // A complete body is fine.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .await
        .unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(3)).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).ends_with("5 bytes"));
    // 10 of 100,000 announced bytes, then nothing: 1 s + 0.1 s allowed.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n0123456789").await.unwrap();
    let t = Instant::now();
    let answer = read_until_closed(&mut s, Duration::from_secs(4)).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(t.elapsed() >= Duration::from_millis(1000), "{:?}", t.elapsed());
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let config = ServerConfig { idle_timeout: Duration::from_secs(1), ..ServerConfig::default() };
    let server = start(config).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok"));
    let t = Instant::now();
    let rest = read_until_closed(&mut s, Duration::from_secs(3)).await.unwrap();
    assert!(rest.is_empty());
    assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
}

/// An HTTP/2 frame: (type, flags, stream, payload).
async fn read_frame(s: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut head)).await.unwrap().unwrap();
    let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut payload)).await.unwrap().unwrap();
    (head[3], head[4], stream, payload)
}

#[tokio::test]
async fn h2c_upgrade_answers_the_request_on_stream_one() {
    let server = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // What cargo (libcurl) sends on plain http.
    s.write_all(
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\nConnection: Upgrade, HTTP2-Settings\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    )
    .await
    .unwrap();
    let expected = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    let mut switching = vec![0u8; expected.len()];
    s.read_exact(&mut switching).await.unwrap();
    assert_eq!(switching, expected);
    // Preface and an empty SETTINGS frame.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.unwrap();
    let mut status_ok = false;
    let mut body = Vec::new();
    for _ in 0..10 {
        let (kind, flags, stream, payload) = read_frame(&mut s).await;
        match (kind, stream) {
            // SETTINGS: acknowledge the server's.
            (0x4, 0) if flags & 1 == 0 => s.write_all(b"\0\0\0\x04\x01\0\0\0\0").await.unwrap(),
            // HEADERS on stream 1: `:status: 200` is static table entry 8.
            (0x1, 1) => status_ok = payload.first() == Some(&0x88),
            (0x0, 1) => {
                body.extend_from_slice(&payload);
                if flags & 1 != 0 {
                    break;
                }
            }
            (0x3, _) | (0x7, _) => panic!("stream reset or GOAWAY: {payload:?}"),
            _ => {}
        }
    }
    assert!(status_ok, "no 200 HEADERS frame on stream 1");
    assert_eq!(body, b"ok");
}

#[tokio::test]
async fn an_upgrade_with_a_body_stays_http1() {
    let server = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n\
HTTP2-Settings: AAMAAABk\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(3)).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("3 bytes"), "{answer}");
}

/// `curl ARGS -w '%{http_version}'` against the server: (body + version) or `None` without a
/// curl that speaks HTTP/2.
async fn curl(args: &[&str]) -> Option<String> {
    let version = tokio::process::Command::new("curl").arg("-V").output().await.ok()?;
    if !String::from_utf8_lossy(&version.stdout).contains("HTTP2") {
        eprintln!("curl without HTTP/2 support: skipped");
        return None;
    }
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", " %{http_version}"])
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn curl_speaks_http2_by_upgrade_and_prior_knowledge_and_http1() {
    let server = start(ServerConfig::default()).await;
    let health = format!("http://{}/health", server.addr);
    let peer = format!("http://{}/peer", server.addr);
    let Some(upgraded) = curl(&["--http2", &health, &peer]).await else { return };
    // Both requests answered over HTTP/2, the second on the same connection.
    assert!(upgraded.starts_with("ok 2"), "{upgraded}");
    assert!(upgraded.contains("127.0.0.1:") && upgraded.ends_with(" 2"), "{upgraded}");
    assert_eq!(curl(&["--http2-prior-knowledge", &health]).await.unwrap(), "ok 2");
    assert_eq!(curl(&["--http1.1", &health]).await.unwrap(), "ok 1.1");
    assert!(curl(&["--http1.1", &peer]).await.unwrap().starts_with("127.0.0.1:"));
    // A POST with `Upgrade: h2c` is answered as HTTP/1.1.
    let echo = format!("http://{}/echo", server.addr);
    assert_eq!(curl(&["--http2", "--data-binary", "abcd", &echo]).await.unwrap(), "4 bytes 1.1");
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let mut server = start(ServerConfig::default()).await;
    let addr = server.addr;
    let slow = tokio::spawn(async move { get_once(addr, "/slow", Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.take().unwrap().send(()).unwrap();
    let answer = slow.await.unwrap().unwrap();
    assert!(answer.ends_with("slow"), "{answer}");
    tokio::time::timeout(Duration::from_secs(3), &mut server.task).await.unwrap().unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}

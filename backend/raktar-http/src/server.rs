//! The HTTP server of `raktar serve`: an accept loop on hyper with the protections a server facing
//! clients needs, and HTTP/2 for cargo.
//!
//! - **Header read timeout**: a request head must arrive within [`ServerConfig::header_read_timeout`]
//!   of its first byte (of the accept, for a connection's first request); else the connection is
//!   closed.
//! - **Body read timeout**: a request body must arrive within
//!   `body_timeout_base + length / body_min_rate` (the length declared, else the largest allowed);
//!   a body that stalls is answered `408 Request Timeout` and the connection closed.
//! - **Idle timeout**: a connection with no request in flight for [`ServerConfig::idle_timeout`] is
//!   closed (HTTP/2: GOAWAY).
//! - **Connection limit**: at most [`ServerConfig::max_connections`] at once. When full, a new
//!   connection takes the place of the connection that has waited longest without a request in
//!   flight (idle, or still sending its request head), which is closed. Only when every connection
//!   is busy with a request does a new one wait (up to a second, then it is closed). A flood of
//!   half-sent requests therefore never locks out new clients (`/health` keeps answering).
//! - **HTTP/2** with prior knowledge (the connection preface is detected) and through the
//!   HTTP/1.1 `Upgrade: h2c` exchange that cargo offers (see [`h2c`]).
//! - The peer address reaches handlers as [`ConnectInfo<SocketAddr>`] in each request's extensions,
//!   as with axum's `into_make_service_with_connect_info`.
//! - Graceful shutdown: stop accepting, let requests in flight finish (up to
//!   [`ServerConfig::shutdown_grace`]).

mod h2c;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// Settings of the server loop. `Default` gives the documented defaults (`docs/configuration.md`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Time allowed for a whole request head, from its first byte (from the accept for the first
    /// request of a connection).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Fixed part of the time allowed for a request body.
    pub body_timeout_base: Duration,
    /// Slowest accepted body upload, in bytes per second (the proportional part of the body time).
    pub body_min_rate: u64,
    /// Largest request body any route accepts (the publish limit); the body time of a request of
    /// unknown length is computed for this size.
    pub max_body_bytes: u64,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

/// Defaults of [`ServerConfig`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_BODY_TIMEOUT_BASE: Duration = Duration::from_secs(10);
pub const DEFAULT_BODY_MIN_RATE: u64 = 64 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_timeout_base: DEFAULT_BODY_TIMEOUT_BASE,
            body_min_rate: DEFAULT_BODY_MIN_RATE,
            max_body_bytes: 11 * 1024 * 1024,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl ServerConfig {
    /// Time allowed for a body of `len` bytes (`None`: unknown, the largest allowed).
    pub fn body_timeout(&self, len: Option<u64>) -> Duration {
        let len = len.unwrap_or(self.max_body_bytes).min(self.max_body_bytes);
        let rate = self.body_min_rate.max(1);
        self.body_timeout_base + Duration::from_millis(len.saturating_mul(1000) / rate)
    }
}

/// Largest first request head read before handing the connection to hyper (hyper then applies
/// its own limits and answers 431).
const MAX_FIRST_HEAD: usize = 16 * 1024;
/// How long a new connection waits for a place when every connection is busy with a request.
const FULL_WAIT: Duration = Duration::from_secs(1);
/// After a graceful close of an idle connection, how long before it is dropped outright.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Pause after an accept error such as EMFILE, so that the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
const NONE: u64 = u64::MAX;

/// Serves `app` on `listener` until `shutdown` completes, then waits for requests in flight.
pub async fn serve<F>(listener: TcpListener, app: Router, config: ServerConfig, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own header timeout would also cut idle keep-alive connections; ours is below.
    builder.http1().keep_alive(true);
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        config,
        app,
        builder,
        conns: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // EMFILE and the like: the connection stays in the backlog until a place frees.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                shared.shed_one();
                match tokio::time::timeout(FULL_WAIT, permits.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => {
                        tracing::debug!(%peer, "connection limit reached and every connection busy: closing a new connection");
                        drop(stream);
                        continue;
                    }
                }
            }
        };
        let shared = shared.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            handle_connection(shared, stream, peer, permit, stop).await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(shared.config.max_connections.max(1)).unwrap_or(u32::MAX);
    let grace = shared.config.shutdown_grace;
    if tokio::time::timeout(grace, permits.acquire_many(all)).await.is_err() {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "requests still in flight at the end of the shutdown grace period"
        );
    }
    Ok(())
}

/// Errors of one incoming connection that say nothing about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

struct Shared {
    epoch: Instant,
    config: ServerConfig,
    app: Router,
    builder: auto::Builder<TokioExecutor>,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// Closes the connection that has waited longest without a request in flight.
    fn shed_one(&self) {
        let Ok(conns) = self.conns.lock() else { return };
        let victim = conns
            .values()
            .filter(|c| c.active.load(Ordering::Acquire) == 0 && !c.shed.load(Ordering::Relaxed))
            .min_by_key(|c| c.waiting_since());
        if let Some(c) = victim {
            c.shed.store(true, Ordering::Relaxed);
            c.changed.notify_one();
        }
    }
}

/// What the server knows of one connection.
struct ConnState {
    /// Requests in flight (from the call of the service until the response body is dropped).
    active: AtomicUsize,
    /// When the last request ended (or the connection was accepted), ms since the epoch.
    idle_since: AtomicU64,
    /// When the first byte of the next request head arrived, while no request is in flight
    /// ([`NONE`]: no byte yet). For a new connection: the accept.
    head_started: AtomicU64,
    http2: AtomicBool,
    /// Picked to make room for a new connection.
    shed: AtomicBool,
    /// Wakes the connection's task when it is shed.
    changed: Notify,
}

impl ConnState {
    fn waiting_since(&self) -> u64 {
        match self.head_started.load(Ordering::Relaxed) {
            NONE => self.idle_since.load(Ordering::Relaxed),
            t => t,
        }
    }

    fn on_read(&self, shared: &Shared) {
        if self.active.load(Ordering::Relaxed) == 0 && self.head_started.load(Ordering::Relaxed) == NONE {
            self.head_started.store(shared.now_ms(), Ordering::Relaxed);
        }
    }

    /// When the connection is due to close if nothing changes, and why.
    fn deadline(&self, config: &ServerConfig) -> Option<(u64, Expiry)> {
        if self.active.load(Ordering::Acquire) != 0 {
            return None;
        }
        let head = self.head_started.load(Ordering::Relaxed);
        if head != NONE && !self.http2.load(Ordering::Relaxed) {
            return Some((head + config.header_read_timeout.as_millis() as u64, Expiry::HeaderTimeout));
        }
        Some((self.idle_since.load(Ordering::Relaxed) + config.idle_timeout.as_millis() as u64, Expiry::Idle))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    HeaderTimeout,
    Idle,
}

/// Marks a request in flight on its connection.
struct ActiveGuard {
    conn: Arc<ConnState>,
    shared: Arc<Shared>,
}

impl ActiveGuard {
    fn new(conn: Arc<ConnState>, shared: Arc<Shared>) -> Self {
        conn.active.fetch_add(1, Ordering::AcqRel);
        conn.head_started.store(NONE, Ordering::Relaxed);
        Self { conn, shared }
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.conn.idle_since.store(self.shared.now_ms(), Ordering::Relaxed);
        self.conn.head_started.store(NONE, Ordering::Relaxed);
        // No wake-up here (it would cost a poll per request): the connection's task looks again
        // at its next periodic check.
        self.conn.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Removes a connection from the table when its task ends.
struct Registration {
    id: u64,
    shared: Arc<Shared>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut conns) = self.shared.conns.lock() {
            conns.remove(&self.id);
        }
    }
}

/// How the first bytes of a connection are served.
enum Start {
    /// Hand the bytes read so far to hyper (HTTP/1.1 or HTTP/2 with prior knowledge).
    Hyper(Bytes),
    /// Serve as HTTP/2: bytes for hyper (preface, the client's SETTINGS, the synthesized request
    /// on stream 1, the rest), then the socket.
    Upgraded(Bytes),
    Close,
}

async fn handle_connection(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let accepted = shared.now_ms();
    let conn = Arc::new(ConnState {
        active: AtomicUsize::new(0),
        idle_since: AtomicU64::new(accepted),
        head_started: AtomicU64::new(accepted),
        http2: AtomicBool::new(false),
        shed: AtomicBool::new(false),
        changed: Notify::new(),
    });
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut conns) = shared.conns.lock() {
        conns.insert(id, conn.clone());
    }
    let _registration = Registration { id, shared: shared.clone() };

    let head_deadline = shared.at(accepted) + shared.config.header_read_timeout;
    let start = tokio::select! {
        start = tokio::time::timeout_at(head_deadline, first_request(&mut stream)) => match start {
            Ok(Ok(start)) => start,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "connection failed before its first request");
                Start::Close
            }
            Err(_) => {
                tracing::debug!(%peer, "request head not received in time: closing the connection");
                Start::Close
            }
        },
        () = shed(&conn) => Start::Close,
        _ = stop.wait_for(|s| *s) => Start::Close,
    };
    let prefix = match start {
        Start::Close => return,
        Start::Hyper(prefix) => prefix,
        Start::Upgraded(prefix) => {
            conn.http2.store(true, Ordering::Relaxed);
            prefix
        }
    };
    if prefix.starts_with(h2c::PREFACE) {
        conn.http2.store(true, Ordering::Relaxed);
    }

    let io = ConnIo { inner: stream, prefix, conn: conn.clone(), shared: shared.clone() };
    let service = {
        let shared = shared.clone();
        let conn = conn.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let guard = ActiveGuard::new(conn.clone(), shared.clone());
            respond(shared.clone(), peer, req, guard)
        })
    };
    let mut connection = std::pin::pin!(shared.builder.serve_connection(TokioIo::new(io), service));
    let mut closing: Option<Instant> = None;
    let mut stopping = false;
    loop {
        // Changes (a request head starting, the last request ending) are noticed at the next
        // check, so a deadline is met at most half a header timeout late.
        let check = Instant::now() + (shared.config.header_read_timeout / 2).min(shared.config.idle_timeout);
        let wake = match conn.deadline(&shared.config) {
            Some((at, _)) => shared.at(at).min(check),
            None => check,
        };
        let wake = closing.map_or(wake, |c| wake.min(c));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(wake) => {
                if closing.is_some_and(|c| Instant::now() >= c)
                    || (conn.shed.load(Ordering::Relaxed) && conn.active.load(Ordering::Acquire) == 0)
                {
                    return;
                }
                match conn.deadline(&shared.config) {
                    Some((at, Expiry::HeaderTimeout)) if shared.now_ms() >= at => {
                        tracing::debug!(%peer, "request head not received in time: closing the connection");
                        return;
                    }
                    Some((at, Expiry::Idle)) if shared.now_ms() >= at && closing.is_none() => {
                        connection.as_mut().graceful_shutdown();
                        closing = Some(Instant::now() + CLOSE_GRACE);
                    }
                    _ => {}
                }
            }
            () = conn.changed.notified() => {
                if conn.shed.load(Ordering::Relaxed) && conn.active.load(Ordering::Acquire) == 0 {
                    tracing::debug!(%peer, "closing a waiting connection to make room for a new one");
                    return;
                }
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves when the connection is picked to make room (before its first request).
async fn shed(conn: &ConnState) {
    loop {
        if conn.shed.load(Ordering::Relaxed) {
            return;
        }
        conn.changed.notified().await;
    }
}

/// Reads the start of a connection: the first request head (to take an `Upgrade: h2c`), or
/// enough to see that it is something else.
async fn first_request(stream: &mut TcpStream) -> io::Result<Start> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if buf.len() >= MAX_FIRST_HEAD {
            return Ok(Start::Hyper(buf.freeze()));
        }
        buf.reserve(4096);
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(if buf.is_empty() { Start::Close } else { Start::Hyper(buf.freeze()) });
        }
        let n = buf.len().min(h2c::PREFACE.len());
        if buf[..n] == h2c::PREFACE[..n] {
            if n == h2c::PREFACE.len() {
                return Ok(Start::Hyper(buf.freeze()));
            }
            continue;
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        match httparse::Request::new(&mut headers).parse(&buf) {
            Ok(httparse::Status::Partial) => continue,
            // A malformed head: hyper answers it.
            Err(_) => return Ok(Start::Hyper(buf.freeze())),
            Ok(httparse::Status::Complete(_)) => break,
        }
    }
    let Some(stream_one) = h2c::upgrade_request(&buf) else { return Ok(Start::Hyper(buf.freeze())) };
    stream.write_all(h2c::SWITCHING_PROTOCOLS).await?;
    let mut rest = BytesMut::with_capacity(256);
    let end = loop {
        if stream.read_buf(&mut rest).await? == 0 {
            return Ok(Start::Close);
        }
        match h2c::preface_end(&rest) {
            Ok(Some(end)) => break end,
            Ok(None) if rest.len() <= h2c::PREFACE.len() + 9 + h2c::MAX_SETTINGS_PAYLOAD => {}
            _ => {
                tracing::debug!("no HTTP/2 connection preface after 101 Switching Protocols");
                return Ok(Start::Close);
            }
        }
    };
    let mut prefix = BytesMut::with_capacity(rest.len() + stream_one.len());
    prefix.extend_from_slice(&rest[..end]);
    prefix.extend_from_slice(&stream_one);
    prefix.extend_from_slice(&rest[end..]);
    Ok(Start::Upgraded(prefix.freeze()))
}

/// One request: peer address in, body timer on, the router, 408 if the body stalled.
async fn respond(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
    guard: ActiveGuard,
) -> Result<Response<GuardedBody>, Infallible> {
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let http1 = parts.version < Version::HTTP_2;
    let (body, timed_out) = if body.is_end_stream() {
        (Body::new(body), None)
    } else {
        let len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| body.size_hint().exact());
        let flag = Arc::new(AtomicBool::new(false));
        let sleep = Box::pin(tokio::time::sleep(shared.config.body_timeout(len)));
        (Body::new(TimedBody { inner: body, sleep, timed_out: flag.clone() }), Some(flag))
    };
    let req = Request::from_parts(parts, body);
    let response = match shared.app.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let response = match timed_out {
        Some(flag) if flag.load(Ordering::Relaxed) => {
            tracing::info!(%peer, "request body not received in time: 408");
            let mut r = Response::new(Body::from("request body not received in time\n"));
            *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            if http1 {
                r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            r
        }
        _ => response,
    };
    Ok(response.map(|inner| GuardedBody { inner, _guard: guard }))
}

/// A request body that fails once its time is up.
struct TimedBody {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

/// The error a [`TimedBody`] reports.
#[derive(Debug, thiserror::Error)]
#[error("request body not received in time")]
pub struct BodyTimeout;

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                ready!(self.sleep.as_mut().poll(cx));
                self.timed_out.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(BodyTimeout))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until hyper drops it.
pub struct GuardedBody {
    inner: Body,
    _guard: ActiveGuard,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket as hyper sees it: the bytes read ahead first, then the socket; reads are noted
/// for the header read timeout.
struct ConnIo {
    inner: TcpStream,
    prefix: Bytes,
    conn: Arc<ConnState>,
    shared: Arc<Shared>,
}

impl AsyncRead for ConnIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.conn.on_read(&this.shared);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The most connections that fit the process's open-files limit (Linux: `/proc/self/limits`),
/// keeping `reserve` descriptors for everything else. `None` when the limit is unknown or
/// unlimited.
pub fn connections_within_open_files_limit(reserve: usize) -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft: usize = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(soft.saturating_sub(reserve).max(1))
}

//! A TCP proxy on 127.0.0.1 that adds a fixed delay to every byte in each direction, as a
//! network with a round trip of twice that delay would. Bytes are forwarded as they arrive,
//! each chunk held until its time has come, so the proxy adds latency, not a throughput limit.
//!
//! It runs on a runtime of its own in a thread of its own: the bench drives cargo with blocking
//! calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Chunks in flight per direction (reading pauses when the writer is this far behind).
const QUEUE: usize = 1024;

pub struct DelayProxy {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`, `delay`
    /// late in each direction.
    pub fn start(upstream: SocketAddr, delay: Duration) -> Result<Self> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the delay proxy")?;
        std_listener.set_nonblocking(true).context("making the proxy listener non-blocking")?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the proxy's runtime")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let thread = thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(std_listener) else { return };
                    let accept = async {
                        loop {
                            let Ok((client, _)) = listener.accept().await else { continue };
                            counter.fetch_add(1, Ordering::Relaxed);
                            tokio::spawn(async move {
                                if let Err(e) = relay(client, upstream, delay).await {
                                    eprintln!("bench: delay proxy connection: {e:#}");
                                }
                            });
                        }
                    };
                    tokio::select! {
                        () = accept => {}
                        _ = stopped => {}
                    }
                });
            })
            .context("starting the proxy thread")?;
        Ok(Self { addr, connections, stop: Some(stop), thread: Some(thread) })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, delay: Duration) -> Result<()> {
    client.set_nodelay(true)?;
    // The connection itself takes a round trip too.
    tokio::time::sleep(delay).await;
    let server = TcpStream::connect(upstream).await.with_context(|| format!("connecting to {upstream}"))?;
    server.set_nodelay(true)?;
    tokio::time::sleep(delay).await;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = one_way(client_read, server_write, delay);
    let down = one_way(server_read, client_write, delay);
    let _ = tokio::join!(up, down);
    Ok(())
}

/// Forwards `from` to `to`, each chunk `delay` after it was read; end of stream likewise.
async fn one_way(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // A read error ends the stream like an end of file.
            let n: usize = from.read(&mut buf).await.unwrap_or_default();
            // An empty chunk carries the end of the stream.
            if tx.send((Instant::now() + delay, buf[..n].to_vec())).await.is_err() || n == 0 {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if chunk.is_empty() {
                let _ = to.shutdown().await;
                break;
            }
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
    Ok(())
}

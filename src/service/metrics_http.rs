//! The smallest HTTP/1.1 server Prometheus needs: `GET /metrics`, one
//! request per connection, then close. Anything else is answered with an
//! error status; nothing a client sends can make it allocate more than
//! [`MAX_REQUEST`] bytes or hold a task past [`REQUEST_TIMEOUT`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::metrics;

/// A scrape request is one line and a few headers; more is not a scrape.
pub const MAX_REQUEST: usize = 8 * 1024;
/// A client that has not sent its request (or read the answer) by then is dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Scrapes served at once; more wait in the accept queue.
pub const MAX_CONCURRENT: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum MetricsServerError {
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound metrics endpoint; [`MetricsServer::spawn`] serves it.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    registry: Arc<Registry>,
}

impl MetricsServer {
    pub async fn bind(addr: SocketAddr, registry: Registry) -> Result<Self, MetricsServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsServerError::Bind { addr, source })?;
        Ok(MetricsServer {
            listener,
            registry: Arc::new(registry),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes until the task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(MAX_CONCURRENT));
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match self.listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "metrics: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let registry = self.registry.clone();
                tokio::spawn(async move {
                    let served =
                        tokio::time::timeout(REQUEST_TIMEOUT, serve(stream, &registry)).await;
                    match served {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "metrics: request failed"),
                        Err(_) => tracing::debug!(%peer, "metrics: request timed out"),
                    }
                    drop(permit);
                });
            }
        })
    }
}

async fn serve(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        if request.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => match metrics::render(registry) {
            Ok(body) => respond(&mut stream, "200 OK", metrics::CONTENT_TYPE, &body).await,
            Err(_) => respond(&mut stream, "500 Internal Server Error", "text/plain", "").await,
        },
        (b"GET", b"/") => {
            let body = "officemesh node: metrics at /metrics\n";
            respond(&mut stream, "200 OK", "text/plain; charset=utf-8", body).await
        }
        (b"GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", "").await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

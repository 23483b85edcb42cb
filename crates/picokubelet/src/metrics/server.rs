//! The `/metrics` responder: a minimal HTTP/1.1 server, one request per connection,
//! `Connection: close`, a bounded head read within a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::exposition::{encode, CONTENT_TYPE};
use crate::telemetry::Scrape;

/// Longest request head read; a longer one is answered 431.
const MAX_HEAD: usize = 8 * 1024;
/// A client must send its request head within this time.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` (port 0: any free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `/metrics` for ever; `gather` collects the figures for one scrape.
pub async fn serve<G, F>(listener: TcpListener, gather: G, started: SystemTime)
where
    G: Fn() -> F + Send + Sync + 'static,
    F: Future<Output = Scrape> + Send,
{
    let gather = Arc::new(gather);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let gather = gather.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &*gather, started).await {
                tracing::debug!(%peer, "metrics: {e}");
            }
        });
    }
}

/// What the request line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { head_only: bool },
    NotFound,
    MethodNotAllowed,
    TooLarge,
    BadRequest,
}

fn route(head: &[u8], complete: bool) -> Route {
    if !complete {
        return if head.len() >= MAX_HEAD {
            Route::TooLarge
        } else {
            Route::BadRequest
        };
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return Route::NotFound;
    }
    match method {
        "GET" => Route::Metrics { head_only: false },
        "HEAD" => Route::Metrics { head_only: true },
        _ => Route::MethodNotAllowed,
    }
}

async fn answer<G, F>(mut stream: TcpStream, gather: &G, started: SystemTime) -> std::io::Result<()>
where
    G: Fn() -> F,
    F: Future<Output = Scrape>,
{
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(HEAD_TIMEOUT, async {
        while head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(false);
            }
            head.extend_from_slice(buf.get(..n).unwrap_or_default());
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(true);
            }
        }
        Ok::<_, std::io::Error>(false)
    })
    .await;
    let complete = match read {
        Ok(r) => r?,
        Err(_) => return Err(std::io::Error::other("no request head in time")),
    };
    let (status, content_type, body, head_only, extra) = match route(&head, complete) {
        Route::Metrics { head_only } => {
            let scrape = gather().await;
            (
                "200 OK",
                CONTENT_TYPE,
                encode(&scrape, started),
                head_only,
                "",
            )
        }
        Route::NotFound => (
            "404 Not Found",
            "text/plain",
            "not found; try /metrics\n".into(),
            false,
            "",
        ),
        Route::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            "GET or HEAD only\n".into(),
            false,
            "Allow: GET, HEAD\r\n",
        ),
        Route::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain",
            String::new(),
            false,
            "",
        ),
        Route::BadRequest => ("400 Bad Request", "text/plain", String::new(), false, ""),
    };
    let response_head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(response_head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |s: &str| route(s.as_bytes(), true);
        assert_eq!(
            r("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics { head_only: false }
        );
        assert_eq!(
            r("GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { head_only: false }
        );
        assert_eq!(
            r("HEAD /metrics HTTP/1.1\r\n\r\n"),
            Route::Metrics { head_only: true }
        );
        assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(r("POST /metrics HTTP/1.1\r\n\r\n"), Route::MethodNotAllowed);
        assert_eq!(r("GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(&[b'a'; MAX_HEAD], false), Route::TooLarge);
        assert_eq!(route(b"GET /met", false), Route::BadRequest);
    }
}

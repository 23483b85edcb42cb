//! The path from the namespace to the API server on the host's loopback: a listener bound
//! inside the namespace (on `netns::API_ADDRESS`), each connection copied both ways to a
//! connection the harness opens to `127.0.0.1:PORT` from the host's namespace. A socket stays in
//! the namespace it was made in, so only the listener's creation enters the namespace.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::netns::in_netns;

/// What the forwarder saw.
#[derive(Default)]
pub struct Traffic {
    /// The peers (the board's address at each connect), in order.
    pub peers: Mutex<Vec<SocketAddr>>,
    /// Bytes from the board to the server and back (TCP payload: TLS records).
    pub up: AtomicU64,
    pub down: AtomicU64,
}

impl Traffic {
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Listens on `listen` inside the namespace at `netns` and forwards to `127.0.0.1:port`.
pub fn start(netns: &Path, listen: (Ipv4Addr, u16), port: u16) -> Result<Arc<Traffic>, String> {
    let listener = in_netns(netns, move || TcpListener::bind(listen))?.map_err(|e| {
        format!(
            "the forwarder cannot listen on {}:{}: {e}",
            listen.0, listen.1
        )
    })?;
    let traffic = Arc::new(Traffic::default());
    let seen = traffic.clone();
    std::thread::spawn(move || {
        for board in listener.incoming().map_while(Result::ok) {
            if let Ok(peer) = board.peer_addr() {
                if let Ok(mut peers) = seen.peers.lock() {
                    peers.push(peer);
                }
            }
            let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
                // The board sees a reset, as from a server that is down.
                continue;
            };
            let _ = board.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (Ok(board_tx), Ok(server_tx)) = (board.try_clone(), server.try_clone()) else {
                continue;
            };
            let up = seen.clone();
            std::thread::spawn(move || copy(board, server_tx, &up.up));
            let down = seen.clone();
            std::thread::spawn(move || copy(server, board_tx, &down.down));
        }
    });
    Ok(traffic)
}

/// Copies until `from` ends or fails, counting; then ends the other side's writing half.
fn copy(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

//! The test server holds one descriptor per connection: a fleet run's server needs as many open
//! files as it has boards (plus a margin), so 10,000 boards fit a hard limit of 20,000.
//! Alone in its binary: it counts the process's descriptors, which other tests would change.

#![allow(clippy::unwrap_used)]

mod common;

use common::Harness;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[cfg(target_os = "linux")]
#[test]
fn a_connection_holds_one_descriptor_on_each_side() {
    let h = Harness::new("2026-11-24T13:04:12Z");
    let raw = format!(
        "GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        h.server.admin_token()
    );
    // One connection first, so that whatever the runtime or TLS open once is open before counting.
    let mut first = h.client();
    assert_eq!(first.send(raw.as_bytes()).unwrap().status, 200);
    let before = open_descriptors();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let mut c = h.client();
            // Answered: the server has accepted the connection and serves it.
            assert_eq!(c.send(raw.as_bytes()).unwrap().status, 200);
            c
        })
        .collect();
    // This process is both ends: the client's socket and the server's, nothing more.
    assert_eq!(open_descriptors() - before, 2 * clients.len());
}

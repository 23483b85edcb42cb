//! What the board's TCP socket holds, seen from the wire: a packet socket in the namespace sees
//! every frame through the TAPs (both ways) and writes them to a pcap file. The board's socket
//! buffers (4 + 4 KiB, `firmware/body/src/connector.rs`) show in the TCP headers: its receive
//! buffer holds what its advertised window no longer offers (4096 − window), its send buffer
//! at least what it sent and the server has not acknowledged yet.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::netns::in_netns;

/// The board's TCP buffers (`connector::TCP_RX_BYTES`, `TCP_TX_BYTES`).
pub const BOARD_RX_BYTES: u32 = 4096;

/// The peaks seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketPeaks {
    /// Most bytes the board's receive buffer held (4096 − its smallest window).
    pub rx: u32,
    /// Most bytes the board had sent and the server not yet acknowledged.
    pub tx_unacked: u32,
    /// Frames seen.
    pub frames: u64,
}

/// A TCP segment's facts the peaks need.
#[derive(Debug, PartialEq, Eq)]
struct Segment {
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    window: u16,
    payload: u32,
}

/// An Ethernet frame carrying IPv4/TCP, else `None`.
fn segment(frame: &[u8]) -> Option<Segment> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if ip.get(9)? != &6 || ihl < 20 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b = ip.get(at..at + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let tcp = ip.get(ihl..total.min(ip.len()))?;
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(tcp.get(at..at + 4)?.try_into().ok()?))
    };
    let port =
        |at: usize| -> Option<u16> { Some(u16::from_be_bytes([*tcp.get(at)?, *tcp.get(at + 1)?])) };
    let offset = usize::from(tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    let payload = tcp.len().checked_sub(offset)?;
    Some(Segment {
        src: (addr(12)?, port(0)?),
        dst: (addr(16)?, port(2)?),
        seq: word(4)?,
        ack: (flags & 0x10 != 0).then_some(word(8)?),
        syn: flags & 0x02 != 0,
        window: port(14)?,
        payload: u32::try_from(payload).ok()?,
    })
}

/// Per connection (the board's address and port; a SYN starts it afresh, as a rebooted board
/// reuses ports): the highest sequence end the board sent and the highest
/// acknowledgement the server gave.
#[derive(Default)]
struct Connection {
    sent_end: Option<u32>,
    acked: Option<u32>,
}

/// Folds segments to and from `server` into the peaks.
#[derive(Default)]
struct Tracker {
    connections: HashMap<(Ipv4Addr, u16), Connection>,
    peaks: SocketPeaks,
}

impl Tracker {
    fn see(&mut self, segment: &Segment, server: (Ipv4Addr, u16)) {
        if segment.dst == server {
            if segment.syn {
                self.connections.remove(&segment.src);
            }
            let connection = self.connections.entry(segment.src).or_default();
            if !segment.syn {
                let held = BOARD_RX_BYTES.saturating_sub(u32::from(segment.window));
                self.peaks.rx = self.peaks.rx.max(held);
            }
            let end = segment.seq.wrapping_add(segment.payload);
            if connection.sent_end.is_none_or(|s| after(end, s)) {
                connection.sent_end = Some(end);
            }
        } else if segment.src == server {
            let connection = self.connections.entry(segment.dst).or_default();
            if let Some(ack) = segment.ack {
                if connection.acked.is_none_or(|a| after(ack, a)) {
                    connection.acked = Some(ack);
                }
            }
        } else {
            return;
        }
        for connection in self.connections.values() {
            if let (Some(sent), Some(acked)) = (connection.sent_end, connection.acked) {
                if after(sent, acked) {
                    self.peaks.tx_unacked = self.peaks.tx_unacked.max(sent.wrapping_sub(acked));
                }
            }
        }
    }
}

/// `a` comes after `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Starts capturing in the namespace at `netns` into `pcap`; the peaks for `server`.
pub fn start(
    netns: &Path,
    pcap: &Path,
    server: (Ipv4Addr, u16),
) -> Result<Arc<Mutex<SocketPeaks>>, String> {
    let socket = in_netns(netns, || {
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: a plain socket(2); the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(all),
            )
        };
        if raw < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            // SAFETY: a fresh descriptor owned by nobody else.
            Ok(unsafe { OwnedFd::from_raw_fd(raw) })
        }
    })?
    .map_err(|e| format!("the packet socket: {e}"))?;
    let mut out = BufWriter::new(
        File::create(pcap).map_err(|e| format!("cannot write {}: {e}", pcap.display()))?,
    );
    // pcap global header: magic, version 2.4, zone, sigfigs, snap length, Ethernet.
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    for word in [0u32, 0, 65_535, 1] {
        header.extend_from_slice(&word.to_le_bytes());
    }
    out.write_all(&header).map_err(|e| e.to_string())?;
    let peaks = Arc::new(Mutex::new(SocketPeaks::default()));
    let seen = peaks.clone();
    std::thread::spawn(move || {
        let mut tracker = Tracker::default();
        let mut frame = vec![0u8; 65_536];
        loop {
            // SAFETY: recv(2) into a buffer we own, with its length.
            let n = unsafe {
                libc::recv(
                    socket.as_raw_fd(),
                    frame.as_mut_ptr().cast(),
                    frame.len(),
                    0,
                )
            };
            let Ok(n) = usize::try_from(n) else { break };
            let frame = &frame[..n];
            let at = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            let len = u32::try_from(n).unwrap_or(u32::MAX);
            let secs = u32::try_from(at.as_secs()).unwrap_or(u32::MAX);
            for word in [secs, at.subsec_micros(), len, len] {
                let _ = out.write_all(&word.to_le_bytes());
            }
            let _ = out.write_all(frame);
            let _ = out.flush();
            tracker.peaks.frames += 1;
            if let Some(segment) = segment(frame) {
                tracker.see(&segment, server);
            }
            if let Ok(mut peaks) = seen.lock() {
                *peaks = tracker.peaks;
            }
        }
    });
    Ok(peaks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOARD: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 77, 0, 60), 49152);
    const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 79, 0, 1), 6443);

    fn frame(
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        seq: u32,
        ack: u32,
        window: u16,
        payload: usize,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = 40 + payload;
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            6,
            0,
            0,
        ];
        ip.extend_from_slice(&src.0.octets());
        ip.extend_from_slice(&dst.0.octets());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&src.1.to_be_bytes());
        f.extend_from_slice(&dst.1.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, 0x18]);
        f.extend_from_slice(&window.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend(std::iter::repeat_n(0xab, payload));
        f
    }

    #[test]
    fn windows_and_unacknowledged_bytes_make_the_peaks() {
        let mut tracker = Tracker::default();
        let sent = segment(&frame(BOARD, SERVER, u32::MAX - 99, 1, 3000, 600)).expect("tcp");
        assert_eq!((sent.payload, sent.window, sent.syn), (600, 3000, false));
        tracker.see(&sent, SERVER);
        // The server acknowledges 200 of the 600 (across the sequence wrap).
        let ack = segment(&frame(SERVER, BOARD, 1, 100, 65535, 0)).expect("tcp");
        tracker.see(&ack, SERVER);
        assert_eq!(tracker.peaks.rx, 4096 - 3000);
        assert_eq!(tracker.peaks.tx_unacked, 400);
        // Traffic between others is not the board's.
        let other =
            segment(&frame((Ipv4Addr::new(1, 1, 1, 1), 1), BOARD, 0, 0, 0, 10)).expect("tcp");
        tracker.see(&other, SERVER);
        assert_eq!(tracker.peaks.rx, 4096 - 3000);
        // The same port again after a reboot: a new connection, not 4 GB in flight.
        let mut syn = frame(BOARD, SERVER, 7, 0, 4096, 0);
        syn[14 + 20 + 13] = 0x02;
        tracker.see(&segment(&syn).expect("tcp"), SERVER);
        tracker.see(
            &segment(&frame(SERVER, BOARD, 9, 8, 65535, 0)).expect("tcp"),
            SERVER,
        );
        assert_eq!(tracker.peaks.tx_unacked, 400);
        let mut arp = frame(BOARD, SERVER, 0, 0, 0, 0);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(segment(&arp), None);
        assert_eq!(segment(&arp[..20]), None);
    }
}

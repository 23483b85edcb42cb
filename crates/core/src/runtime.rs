//! The seams between the agent and a body (the ESP32 firmware, the Linux virtual board): time,
//! sockets and board signals. The core calls these traits and nothing else of its platform.
//!
//! A body implements:
//! - [`Clock`]: monotonic time since boot and a timer (embassy-time on the device, `tokio::time`
//!   on the host, so tests get simulated time from tokio's paused clock). Wall time never comes
//!   from here: it comes only from the API server's `Date` ([`crate::time::WallClock`]).
//! - [`Connector`]: a connected byte stream to the API server (TCP; name resolution is its job).
//! - [`crate::client::SessionOpener`]: turns the stream into a session (TLS on every real board).
//! - [`Board`]: heap and Wi-Fi figures for the conditions (DESIGN.md §8), and a wake-up when
//!   they change.
//! - [`crate::agent::log::Log`]: where the agent's typed log events go.
//!
//! The RNG is any `rand_core` 0.6 `RngCore + CryptoRng` (embedded-tls needs a cryptographic one).
use core::fmt::Debug;
use core::future::Future;
use core::net::Ipv4Addr;
use core::time::Duration;

/// A monotonic instant: microseconds since boot. Never goes backward; 2⁶⁴ µs is 584 542 years.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// Boot.
    pub const ZERO: Instant = Instant(0);

    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at the far future.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_micros(d)))
    }

    /// `self + ms`, saturating.
    pub fn add_millis(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms.saturating_mul(1_000)))
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// A duration in whole µs, saturating at `u64::MAX`.
pub fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Monotonic time and a timer.
///
/// `sleep_until` must complete at or after `at` and must be cancel-safe (the agent drops it
/// when another branch of a `select` wins, e.g. a request deadline that did not fire).
pub trait Clock {
    /// Now, in µs since boot.
    fn now(&self) -> Instant;
    /// Completes once `now() >= at` (at once if `at` has passed).
    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()>;
}

/// Opens byte streams to the API server.
///
/// Each call is one TCP connection (or a test's in-memory pipe). The agent calls it only when it
/// has no session (at start, after the server closed the connection, after an error), with its
/// own timeout around the call and backoff between failures.
pub trait Connector {
    type Socket: embedded_io_async::Read + embedded_io_async::Write;
    /// Shown in logs with `Debug`; the agent does not interpret it.
    type Error: Debug;
    /// Completes when this board may start a connection; the connect time-out starts after it.
    /// A host running many boards paces their handshakes here, so a board waiting its turn
    /// does not spend its time-out in the queue (and then hand the server a handshake it
    /// will abandon). A board alone: at once.
    fn admit(&mut self) -> impl Future<Output = ()> {
        core::future::ready(())
    }
    fn connect(&mut self) -> impl Future<Output = Result<Self::Socket, Self::Error>>;
}

/// What the board measured, read by the agent whenever it evaluates the conditions: when
/// [`Board::changed`] says so, and every `condition_check_interval` (10 s by default).
///
/// Wi-Fi figures are running totals since boot: the agent turns them into the rolling window
/// and "since the last push" flags the rules want, so the body only counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoardSnapshot {
    /// Free heap, bytes.
    pub heap_free_bytes: u32,
    /// Total heap, bytes (0 if unknown: the percentage rules then do not fire).
    pub heap_total_bytes: u32,
    /// Wi-Fi associations since boot (0 on Ethernet).
    pub wifi_associations: u32,
    /// Changes of the access point's BSSID since boot.
    pub bssid_changes: u32,
    /// The network link is up (Wi-Fi associated, or Ethernet carrier). Only feeds the LED.
    pub link_up: bool,
    /// The address of the interface in use (its DHCP lease). When it differs from the Node's
    /// `InternalIP`, the next status patch carries the new one; `None` (unknown) keeps what the
    /// Node has.
    pub ipv4: Option<Ipv4Addr>,
}

/// The board's own figures. `&self`: the body keeps them in cells or atomics.
pub trait Board {
    /// The readings as they are now. A pure read: no reading moves because it was read.
    fn snapshot(&self) -> BoardSnapshot;

    /// Completes when the readings changed since the last completion (an embassy `Signal` on
    /// the device, a tokio `Notify` on the host): the status task wakes on it and pushes a flip
    /// at once instead of at its next check. A change while nobody waits must not be lost (the
    /// next call completes at once). Must be cancel-safe. The default never completes: the
    /// agent then sees changes at its `condition_check_interval`.
    fn changed(&self) -> impl Future<Output = ()> {
        core::future::pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_micros(u64::MAX - 1);
        assert_eq!(
            t.saturating_add(Duration::from_secs(1)).as_micros(),
            u64::MAX
        );
        assert_eq!(t.add_millis(u64::MAX).as_micros(), u64::MAX);
        assert_eq!(
            Instant::ZERO.saturating_since(t),
            Duration::ZERO,
            "an earlier instant is zero, not a wrap"
        );
        assert_eq!(
            Instant::from_micros(2_500).saturating_since(Instant::from_micros(500)),
            Duration::from_millis(2)
        );
        assert_eq!(duration_micros(Duration::MAX), u64::MAX);
    }
}

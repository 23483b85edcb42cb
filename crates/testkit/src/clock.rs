//! Injected time: every timestamp, `Date` header, controller tick and fault delay reads a [`Clock`].
//!
//! Three clocks: [`SystemClock`] (wall time, tokio timers), [`SimClock`] (time moves only when the
//! test calls [`SimClock::advance`]) and [`TokioClock`] (wall time anchored once, then driven by
//! tokio's clock, so `tokio::time::pause`/`advance` move it).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A boxed sleep future returned by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of time for the server.
pub trait Clock: Send + Sync + 'static {
    /// Current wall-clock time.
    fn now(&self) -> SystemTime;
    /// A future that completes once [`Clock::now`] has reached `deadline`.
    fn sleep_until(&self, deadline: SystemTime) -> Sleep;
}

/// Real time: `SystemTime::now()` and tokio timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep_until(&self, deadline: SystemTime) -> Sleep {
        let wait = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// Wall time anchored at construction and advanced by tokio's (pausable) clock.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    anchor_wall: SystemTime,
    anchor_instant: tokio::time::Instant,
}

impl TokioClock {
    /// Anchors `wall` to tokio's current instant.
    pub fn new(wall: SystemTime) -> Self {
        TokioClock {
            anchor_wall: wall,
            anchor_instant: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.anchor_wall + self.anchor_instant.elapsed()
    }

    fn sleep_until(&self, deadline: SystemTime) -> Sleep {
        let offset = deadline
            .duration_since(self.anchor_wall)
            .unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep_until(self.anchor_instant + offset))
    }
}

/// Simulated time that moves only when the test says so. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct SimClock {
    inner: Arc<SimInner>,
}

#[derive(Debug)]
struct SimInner {
    now: Mutex<SystemTime>,
    changed: tokio::sync::watch::Sender<SystemTime>,
}

impl SimClock {
    /// A simulated clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        let (changed, _) = tokio::sync::watch::channel(start);
        SimClock {
            inner: Arc::new(SimInner {
                now: Mutex::new(start),
                changed,
            }),
        }
    }

    /// A simulated clock at the recordings' first timestamp, 2026-11-24T13:04:12Z.
    pub fn at_recording_start() -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(1_795_525_452))
    }

    /// Moves time forward by `by` and wakes every sleeper whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        let now = {
            let mut guard = lock(&self.inner.now);
            *guard += by;
            *guard
        };
        self.inner.changed.send_replace(now);
    }

    /// Sets the time (also backwards, as a stepped wall clock would).
    pub fn set(&self, to: SystemTime) {
        *lock(&self.inner.now) = to;
        self.inner.changed.send_replace(to);
    }
}

impl Clock for SimClock {
    fn now(&self) -> SystemTime {
        *lock(&self.inner.now)
    }

    fn sleep_until(&self, deadline: SystemTime) -> Sleep {
        let mut rx = self.inner.changed.subscribe();
        Box::pin(async move {
            loop {
                if *rx.borrow_and_update() >= deadline {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The clock is gone: time will never reach the deadline.
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not hide the state).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Formatting and parsing (UTC only, proleptic Gregorian calendar).

/// Seconds and nanoseconds since the Unix epoch (negative seconds before 1970).
fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let mut secs = -(d.as_secs() as i64);
            let mut nanos = d.subsec_nanos();
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            (secs, nanos)
        }
    }
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    weekday: usize,
}

fn civil(t: SystemTime) -> Civil {
    let (secs, nanos) = split(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
        nanos,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

/// RFC 3339 with second precision, as `metav1.Time` serializes: `2026-11-24T13:04:12Z`.
pub fn format_time(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// RFC 3339 with exactly six fractional digits, as `metav1.MicroTime` serializes.
pub fn format_micro_time(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.nanos / 1000
    )
}

/// IMF-fixdate for the `Date` header: `Tue, 24 Nov 2026 13:04:12 GMT`.
pub fn format_http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// Parses RFC 3339 as Go's `time.Parse(time.RFC3339, …)` accepts it: `Z` or `±hh:mm`, optional
/// fraction of up to nine digits.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    let year = num(0, 4)?;
    if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b't')) && sep(13, b':'))
        || !sep(16, b':')
    {
        return None;
    }
    let (month, day, hour, minute, second) = (
        num(5, 2)?,
        num(8, 2)?,
        num(11, 2)?,
        num(14, 2)?,
        num(17, 2)?,
    );
    if !(1..=12).contains(&month) || day == 0 || day > 31 || hour > 23 || minute > 59 || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        let mut frac: u64 = 0;
        for k in 0..9 {
            let d = if k < digits {
                (b[start + k] - b'0') as u64
            } else {
                0
            };
            frac = frac * 10 + d;
        }
        nanos = frac as u32;
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b':') => {
            let h = num(i + 1, 2)? as i64;
            let m = num(i + 4, 2)? as i64;
            let off = h * 3600 + m * 60;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_secs;
    let base = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    Some(base + Duration::from_nanos(nanos as u64))
}

/// Unix nanoseconds (for event names, which the apiserver's recorder builds from them).
pub(crate) fn unix_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_recordings() {
        let t = parse_rfc3339("2026-11-24T13:04:13.008661Z").unwrap();
        assert_eq!(format_time(t), "2026-11-24T13:04:13Z");
        assert_eq!(format_micro_time(t), "2026-11-24T13:04:13.008661Z");
        assert_eq!(format_http_date(t), "Tue, 24 Nov 2026 13:04:13 GMT");
        assert_eq!(
            format_time(SimClock::at_recording_start().now()),
            "2026-11-24T13:04:12Z"
        );
    }

    #[test]
    fn parses_offsets_and_rejects_garbage() {
        let t = parse_rfc3339("2026-11-24T14:04:13+01:00").unwrap();
        assert_eq!(format_time(t), "2026-11-24T13:04:13Z");
        assert!(parse_rfc3339("2026-11-24 13:04:13Z").is_none());
        assert!(parse_rfc3339("2026-11-24T13:04:13").is_none());
        assert!(parse_rfc3339("2026-13-24T13:04:13Z").is_none());
        assert!(parse_rfc3339("").is_none());
    }

    #[tokio::test]
    async fn sim_clock_wakes_sleepers_only_when_advanced_past_deadline() {
        let clock = SimClock::new(UNIX_EPOCH);
        let deadline = UNIX_EPOCH + Duration::from_secs(10);
        let sleeper = tokio::spawn(clock.sleep_until(deadline));
        clock.advance(Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(5));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_tokio_time() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = TokioClock::new(start);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(clock.now(), start + Duration::from_secs(5));
        // With paused time, sleeping auto-advances to the deadline.
        clock.sleep_until(start + Duration::from_secs(65)).await;
        assert_eq!(clock.now(), start + Duration::from_secs(65));
    }
}

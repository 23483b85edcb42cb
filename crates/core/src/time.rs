//! Wall-clock time as Kubernetes writes it.
//!
//! The board has no RTC worth trusting, so all wall-clock time is [`UnixMicros`] derived from the
//! API server's `Date` header (see the clock anchoring below). Formatting never fails and never
//! panics: the output arrays have the exact size of the format.

/// Microseconds since 1970-01-01T00:00:00Z. Times before the epoch do not occur in this protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMicros(pub u64);

/// The largest instant the RFC 3339 formatters can write: 9999-12-31T23:59:59.999999Z.
pub const MAX_FORMATTABLE: UnixMicros = UnixMicros(253_402_300_799_999_999);

impl UnixMicros {
    pub const fn from_secs(secs: u64) -> Self {
        UnixMicros(secs.saturating_mul(1_000_000))
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
    pub const fn subsec_micros(self) -> u32 {
        (self.0 % 1_000_000) as u32
    }
    pub const fn saturating_add_micros(self, micros: u64) -> Self {
        UnixMicros(self.0.saturating_add(micros))
    }
}

/// Length of `2026-11-24T13:04:12Z` (metav1.Time: whole seconds).
pub const RFC3339_LEN: usize = 20;
/// Length of `2026-11-24T13:04:12.123456Z` (metav1.MicroTime: exactly 6 fractional digits).
pub const MICROTIME_LEN: usize = 27;

/// Calendar date and time of day in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: u32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Days since the epoch → (year, month, day). Howard Hinnant's `civil_from_days`, restricted to
/// non-negative day counts.
pub const fn civil_from_days(days: u64) -> (u32, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y as u32, m as u8, d as u8)
}

/// (year, month, day) → days since the epoch, or `None` before 1970 or for an invalid date.
pub const fn days_from_civil(year: u32, month: u8, day: u8) -> Option<u64> {
    if year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let y = if month <= 2 {
        year as u64 - 1
    } else {
        year as u64
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let m = month as u64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as u64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

pub const fn is_leap_year(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub const fn days_in_month(year: u32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Civil {
    /// Instants after [`MAX_FORMATTABLE`] are clamped to it, so the year always has four digits.
    pub const fn from_unix(t: UnixMicros) -> Self {
        let t = if t.0 > MAX_FORMATTABLE.0 {
            MAX_FORMATTABLE
        } else {
            t
        };
        let secs = t.as_secs();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let sod = secs % 86_400;
        Civil {
            year,
            month,
            day,
            hour: (sod / 3600) as u8,
            minute: (sod / 60 % 60) as u8,
            second: (sod % 60) as u8,
        }
    }

    /// `None` for fields out of range (leap seconds included: Kubernetes never sends them).
    pub const fn to_unix(self) -> Option<UnixMicros> {
        if self.hour > 23 || self.minute > 59 || self.second > 59 {
            return None;
        }
        match days_from_civil(self.year, self.month, self.day) {
            Some(days) => Some(UnixMicros::from_secs(
                days * 86_400
                    + self.hour as u64 * 3600
                    + self.minute as u64 * 60
                    + self.second as u64,
            )),
            None => None,
        }
    }
}

fn put_digits(out: &mut [u8], value: u32) {
    let mut v = value;
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn write_seconds_part(t: UnixMicros, out: &mut [u8]) {
    let c = Civil::from_unix(t);
    let template = b"0000-00-00T00:00:00";
    for (o, tpl) in out.iter_mut().zip(template.iter()) {
        *o = *tpl;
    }
    if let Some(s) = out.get_mut(0..4) {
        put_digits(s, c.year);
    }
    let fields = [
        (5, c.month),
        (8, c.day),
        (11, c.hour),
        (14, c.minute),
        (17, c.second),
    ];
    for (at, v) in fields {
        if let Some(s) = out.get_mut(at..at + 2) {
            put_digits(s, v as u32);
        }
    }
}

fn ascii(bytes: &[u8]) -> &str {
    // The formatters only ever write ASCII digits and punctuation.
    core::str::from_utf8(bytes).unwrap_or("")
}

/// `2026-11-24T13:04:12Z`: metav1.Time (lastTransitionTime, lastHeartbeatTime, Event times).
/// Sub-second digits are truncated, as the API server does.
pub fn format_rfc3339(t: UnixMicros, out: &mut [u8; RFC3339_LEN]) -> &str {
    write_seconds_part(t, out);
    out[19] = b'Z';
    ascii(out)
}

/// `2026-11-24T13:04:12.123456Z`: metav1.MicroTime (Lease renewTime/acquireTime, eventTime).
pub fn format_microtime(t: UnixMicros, out: &mut [u8; MICROTIME_LEN]) -> &str {
    let t = if t.0 > MAX_FORMATTABLE.0 {
        MAX_FORMATTABLE
    } else {
        t
    };
    write_seconds_part(t, out);
    out[19] = b'.';
    put_digits(&mut out[20..26], t.subsec_micros());
    out[26] = b'Z';
    ascii(out)
}

/// Why a timestamp from the network was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeParseError {
    /// Not the expected shape (length, separators, digits, names).
    Malformed,
    /// Well-formed but impossible (month 13, Feb 30, hour 24, before 1970).
    OutOfRange,
}

fn digits(s: &[u8], at: usize, n: usize) -> Result<u32, TimeParseError> {
    let field = s.get(at..at + n).ok_or(TimeParseError::Malformed)?;
    let mut v: u32 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return Err(TimeParseError::Malformed);
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Ok(v)
}

fn expect(s: &[u8], at: usize, what: u8) -> Result<(), TimeParseError> {
    match s.get(at) {
        Some(&b) if b == what => Ok(()),
        _ => Err(TimeParseError::Malformed),
    }
}

fn civil_to_unix(
    year: u32,
    month: u32,
    day: u32,
    h: u32,
    m: u32,
    s: u32,
) -> Result<UnixMicros, TimeParseError> {
    // Every field fits in u8 because `digits` read at most 2 digits for them.
    Civil {
        year,
        month: month as u8,
        day: day as u8,
        hour: h as u8,
        minute: m as u8,
        second: s as u8,
    }
    .to_unix()
    .ok_or(TimeParseError::OutOfRange)
}

/// Parses the RFC 3339 forms the API server writes: `2026-11-24T13:04:12Z` (metav1.Time) and
/// `2026-11-24T13:04:12.123456Z` (metav1.MicroTime; 1 to 9 fractional digits accepted, digits
/// beyond microseconds truncated). Only UTC (`Z`) is accepted: the API server never writes offsets.
pub fn parse_rfc3339(s: &[u8]) -> Result<UnixMicros, TimeParseError> {
    let year = digits(s, 0, 4)?;
    expect(s, 4, b'-')?;
    let month = digits(s, 5, 2)?;
    expect(s, 7, b'-')?;
    let day = digits(s, 8, 2)?;
    expect(s, 10, b'T')?;
    let hour = digits(s, 11, 2)?;
    expect(s, 13, b':')?;
    let minute = digits(s, 14, 2)?;
    expect(s, 16, b':')?;
    let second = digits(s, 17, 2)?;
    let mut micros: u64 = 0;
    let mut at = 19;
    if s.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while let Some(&b) = s.get(at) {
            if !b.is_ascii_digit() {
                break;
            }
            if at - start < 6 {
                micros = micros * 10 + u64::from(b - b'0');
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 || n > 9 {
            return Err(TimeParseError::Malformed);
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    expect(s, at, b'Z')?;
    if s.len() != at + 1 {
        return Err(TimeParseError::Malformed);
    }
    let t = civil_to_unix(year, month, day, hour, minute, second)?;
    Ok(t.saturating_add_micros(micros))
}

/// Length of an IMF-fixdate: `Tue, 24 Nov 2026 13:04:15 GMT`.
pub const IMF_FIXDATE_LEN: usize = 29;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const WEEKDAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];

/// Parses an HTTP `Date:` header value in IMF-fixdate form (RFC 9110 §5.6.7), the only form Go's
/// net/http sends. The weekday must match the date: a mismatch means garbage, not a clock.
pub fn parse_imf_fixdate(s: &[u8]) -> Result<UnixMicros, TimeParseError> {
    if s.len() != IMF_FIXDATE_LEN {
        return Err(TimeParseError::Malformed);
    }
    let weekday = s.get(0..3).ok_or(TimeParseError::Malformed)?;
    expect(s, 3, b',')?;
    expect(s, 4, b' ')?;
    let day = digits(s, 5, 2)?;
    expect(s, 7, b' ')?;
    let month_name = s.get(8..11).ok_or(TimeParseError::Malformed)?;
    let month = MONTHS
        .iter()
        .position(|m| &m[..] == month_name)
        .ok_or(TimeParseError::Malformed)? as u32
        + 1;
    expect(s, 11, b' ')?;
    let year = digits(s, 12, 4)?;
    expect(s, 16, b' ')?;
    let hour = digits(s, 17, 2)?;
    expect(s, 19, b':')?;
    let minute = digits(s, 20, 2)?;
    expect(s, 22, b':')?;
    let second = digits(s, 23, 2)?;
    if s.get(25..29) != Some(b" GMT") {
        return Err(TimeParseError::Malformed);
    }
    let t = civil_to_unix(year, month, day, hour, minute, second)?;
    let expected_weekday = WEEKDAYS
        .get((t.as_secs() / 86_400 % 7) as usize)
        .ok_or(TimeParseError::Malformed)?;
    if &expected_weekday[..] != weekday {
        return Err(TimeParseError::Malformed);
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// The wall clock, anchored to the API server's `Date` header.
//
// The board keeps only a monotonic counter (µs since boot, supplied by the caller: the core owns
// no clock). Every response from the API server carries `Date`, the server's time truncated to
// the second. One request/response exchange bounds the server's time at the moment the response
// head arrived:
//
//   the server stamped `Date` at some instant between our send and our receipt, and its clock
//   then read somewhere in [Date, Date + 1 s). Between stamping and receipt at most one round
//   trip (RTT = received − sent) elapsed, at least none. So at receipt the server's clock read
//   somewhere in the feasible interval [Date, Date + 1 s + RTT).
//
// We take the interval's midpoint, Date + (1 s + RTT) / 2, as the estimate: its error is at most
// half the interval, (1 s + RTT) / 2 — ±0.55 s for a 100 ms round trip. Between anchorings the
// error grows by the drift of the board's oscillator against the server's (a 20 ppm crystal
// drifts 1.7 s a day), which the periodic re-anchoring measures as skew.
// ---------------------------------------------------------------------------------------------

const MICROS_PER_SEC: u64 = 1_000_000;

/// A re-anchoring whose absolute skew exceeds this (2 s) counts as a time slip: the `Haunted`
/// condition's `TimeSlipped` rule (DESIGN.md §8). Two honest estimates each err by at most
/// (1 s + RTT) / 2, so for round trips under 1 s measurement error alone stays within 2 s.
pub const TIME_SLIP_THRESHOLD_MICROS: u64 = 2 * MICROS_PER_SEC;

/// One request/response exchange whose response carried a `Date` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateSample {
    /// Monotonic µs since boot, taken just before the request's first byte was written (after
    /// any connection or TLS set-up, which would only widen the interval).
    pub sent_mono: u64,
    /// Monotonic µs since boot, taken when the response head had been read.
    pub received_mono: u64,
    /// The `Date` header's instant. Only whole seconds count: sub-second digits are dropped, as
    /// the server truncated its own clock to the second.
    pub date: UnixMicros,
}

/// Why a [`DateSample`] could not anchor the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorError {
    /// The `Date` header is not a valid IMF-fixdate.
    Date(TimeParseError),
    /// `received_mono` is earlier than `sent_mono`: the caller's monotonic readings are not.
    ReceivedBeforeSent,
}

impl From<TimeParseError> for AnchorError {
    fn from(e: TimeParseError) -> Self {
        AnchorError::Date(e)
    }
}

impl DateSample {
    /// A sample from the raw `Date` header value (IMF-fixdate, see [`parse_imf_fixdate`]).
    pub fn from_header(
        sent_mono: u64,
        received_mono: u64,
        date_header: &[u8],
    ) -> Result<Self, AnchorError> {
        Ok(DateSample {
            sent_mono,
            received_mono,
            date: parse_imf_fixdate(date_header)?,
        })
    }

    /// Round-trip time in µs: the longest the response could have been under way.
    pub fn round_trip_micros(&self) -> Result<u64, AnchorError> {
        self.received_mono
            .checked_sub(self.sent_mono)
            .ok_or(AnchorError::ReceivedBeforeSent)
    }

    /// The server's time at `received_mono` lies in `[start, end)` (see the module notes).
    pub fn feasible_interval(&self) -> Result<(UnixMicros, UnixMicros), AnchorError> {
        let start = UnixMicros::from_secs(self.date.as_secs());
        let width = MICROS_PER_SEC.saturating_add(self.round_trip_micros()?);
        Ok((start, start.saturating_add_micros(width)))
    }

    /// The midpoint estimate of the server's time at `received_mono` and its error bound in µs
    /// (half the feasible interval).
    pub fn estimate(&self) -> Result<(UnixMicros, u64), AnchorError> {
        let (start, end) = self.feasible_interval()?;
        let half = end.0.saturating_sub(start.0) / 2;
        Ok((start.saturating_add_micros(half), half))
    }
}

/// What a re-anchoring measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reanchoring {
    /// Our clock minus the new estimate at the moment of receipt, in µs: positive when our clock
    /// ran ahead, negative when it lagged. Saturates at the `i64` range.
    pub skew_micros: i64,
    /// Error bound of the new estimate in µs (half its feasible interval).
    pub uncertainty_micros: u64,
}

impl Reanchoring {
    /// `|skew|` exceeds [`TIME_SLIP_THRESHOLD_MICROS`] (exactly 2 s is not a slip).
    pub const fn is_time_slip(&self) -> bool {
        self.skew_micros.unsigned_abs() > TIME_SLIP_THRESHOLD_MICROS
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Anchor {
    mono: u64,
    wall: UnixMicros,
    uncertainty_micros: u64,
}

/// The board's wall clock: monotonic time since boot mapped onto the API server's clock.
///
/// Unset until the first [`anchor`](Self::anchor). Each anchoring replaces the mapping, so
/// `now` may step (forward or back) across a re-anchoring; whatever must only move forward, such
/// as the Lease's `renewTime`, goes through [`next_renew_time`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WallClock {
    anchor: Option<Anchor>,
}

impl WallClock {
    /// A clock that does not know the time yet.
    pub const fn new() -> Self {
        WallClock { anchor: None }
    }

    pub const fn is_anchored(&self) -> bool {
        self.anchor.is_some()
    }

    /// Wall time at monotonic instant `mono` (µs since boot); `None` before the first anchoring.
    /// Instants before the anchor are mapped backwards; the result saturates at the epoch and
    /// at `u64::MAX`.
    pub fn now(&self, mono: u64) -> Option<UnixMicros> {
        let a = self.anchor?;
        Some(if mono >= a.mono {
            a.wall.saturating_add_micros(mono - a.mono)
        } else {
            UnixMicros(a.wall.0.saturating_sub(a.mono - mono))
        })
    }

    /// Error bound in µs of the current anchor at the moment it was taken (oscillator drift since
    /// then not included); `None` before the first anchoring.
    pub fn uncertainty_micros(&self) -> Option<u64> {
        self.anchor.map(|a| a.uncertainty_micros)
    }

    /// µs elapsed since the current anchor was taken (0 if `mono` is earlier); `None` before the
    /// first anchoring. The caller re-anchors when this grows past its period.
    pub fn micros_since_anchor(&self, mono: u64) -> Option<u64> {
        self.anchor.map(|a| mono.saturating_sub(a.mono))
    }

    /// Anchors (or re-anchors) the clock to `sample`. Returns `Ok(None)` for the first anchoring
    /// (nothing to compare with) and the measured skew for every later one. A rejected sample
    /// leaves the clock unchanged.
    pub fn anchor(&mut self, sample: &DateSample) -> Result<Option<Reanchoring>, AnchorError> {
        let (wall, uncertainty_micros) = sample.estimate()?;
        let ours = self.now(sample.received_mono);
        self.anchor = Some(Anchor {
            mono: sample.received_mono,
            wall,
            uncertainty_micros,
        });
        Ok(ours.map(|ours| {
            let skew = i128::from(ours.0) - i128::from(wall.0);
            Reanchoring {
                skew_micros: i64::try_from(skew).unwrap_or(if skew < 0 {
                    i64::MIN
                } else {
                    i64::MAX
                }),
                uncertainty_micros,
            }
        }))
    }
}

/// The `renewTime` to send in a Lease renewal: `max(now, last_sent + 1 µs)`.
///
/// The node lifecycle controller counts a renewal only if its `renewTime` is strictly later than
/// the last one it saw (DESIGN.md §4); a wall clock that stepped back at a re-anchoring or a reboot
/// would make a live node look dead. `last_sent` is the latest `renewTime` known to be on the
/// server: the one we last sent, or after a reboot the one read from the Lease. At `u64::MAX` µs
/// (year 586 524) the result saturates and is no longer strictly later.
pub fn next_renew_time(now: UnixMicros, last_sent: Option<UnixMicros>) -> UnixMicros {
    match last_sent {
        Some(last) => now.max(last.saturating_add_micros(1)),
        None => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_recorded_instants() {
        // 2026-11-24T13:04:12Z from ../shared/k8s/recorded-compact/01-post-node-201
        let t = UnixMicros(1_795_525_452_000_000 + 123_456);
        let mut a = [0; RFC3339_LEN];
        assert_eq!(format_rfc3339(t, &mut a), "2026-11-24T13:04:12Z");
        let mut b = [0; MICROTIME_LEN];
        assert_eq!(format_microtime(t, &mut b), "2026-11-24T13:04:12.123456Z");
    }

    #[test]
    fn epoch_and_leap_day_and_clamp() {
        let mut a = [0; RFC3339_LEN];
        assert_eq!(
            format_rfc3339(UnixMicros(0), &mut a),
            "1970-01-01T00:00:00Z"
        );
        let leap = Civil {
            year: 2028,
            month: 2,
            day: 29,
            hour: 23,
            minute: 59,
            second: 59,
        };
        let t = leap.to_unix().unwrap();
        assert_eq!(format_rfc3339(t, &mut a), "2028-02-29T23:59:59Z");
        assert_eq!(
            format_rfc3339(UnixMicros(u64::MAX), &mut a),
            "9999-12-31T23:59:59Z"
        );
        let mut b = [0; MICROTIME_LEN];
        assert_eq!(
            format_microtime(UnixMicros(u64::MAX), &mut b),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn rejects_impossible_dates() {
        assert_eq!(days_from_civil(2027, 2, 29), None);
        assert_eq!(days_from_civil(1969, 12, 31), None);
        assert_eq!(days_from_civil(2026, 13, 1), None);
        assert_eq!(
            Civil {
                year: 2026,
                month: 1,
                day: 1,
                hour: 24,
                minute: 0,
                second: 0
            }
            .to_unix(),
            None
        );
    }

    #[test]
    fn civil_round_trips_every_day_for_a_millennium() {
        for days in 0..(366 * 1000) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), Some(days), "{y}-{m}-{d}");
        }
    }

    #[test]
    fn parses_the_recorded_date_header_and_times() {
        let t = UnixMicros::from_secs(1_795_525_455);
        assert_eq!(parse_imf_fixdate(b"Tue, 24 Nov 2026 13:04:15 GMT"), Ok(t));
        assert_eq!(parse_rfc3339(b"2026-11-24T13:04:15Z"), Ok(t));
        assert_eq!(
            parse_rfc3339(b"2026-11-24T13:04:15.123456Z"),
            Ok(t.saturating_add_micros(123_456))
        );
        assert_eq!(
            parse_rfc3339(b"2026-11-24T13:04:15.5Z"),
            Ok(t.saturating_add_micros(500_000))
        );
        assert_eq!(
            parse_rfc3339(b"2026-11-24T13:04:15.123456789Z"),
            Ok(t.saturating_add_micros(123_456))
        );
    }

    #[test]
    fn rejects_garbage_dates() {
        use TimeParseError::*;
        for bad in [
            &b""[..],
            b"Wed, 24 Nov 2026 13:04:15 GMT", // wrong weekday
            b"Tue, 24 Nov 2026 13:04:15 UTC",
            b"Tue, 24 Nox 2026 13:04:15 GMT",
            b"Tue, 24 Nov 2026 13:04:15 GMT ",
            b"Tuesday, 24-Nov-26 13:04:15 GMT",
            b"Tue, 2a Nov 2026 13:04:15 GMT",
        ] {
            assert_eq!(
                parse_imf_fixdate(bad),
                Err(Malformed),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
        assert_eq!(
            parse_imf_fixdate(b"Tue, 31 Nov 2026 13:04:15 GMT"),
            Err(OutOfRange)
        );
        assert_eq!(
            parse_imf_fixdate(b"Tue, 24 Nov 2026 24:04:15 GMT"),
            Err(OutOfRange)
        );
        for bad in [
            &b"2026-11-24T13:04:15"[..],
            b"2026-11-24T13:04:15+01:00",
            b"2026-11-24T13:04:15.Z",
            b"2026-11-24T13:04:15.1234567890Z",
            b"2026-11-24 13:04:15Z",
            b"2026-11-24T13:04:15Zjunk",
        ] {
            assert_eq!(
                parse_rfc3339(bad),
                Err(Malformed),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
        assert_eq!(parse_rfc3339(b"2026-02-29T00:00:00Z"), Err(OutOfRange));
        assert_eq!(parse_rfc3339(b"1969-12-31T23:59:59Z"), Err(OutOfRange));
    }

    #[test]
    fn format_then_parse_round_trips() {
        let mut b = [0; MICROTIME_LEN];
        for t in [0u64, 1, 999_999, 1_795_525_455_123_456, MAX_FORMATTABLE.0] {
            let s = format_microtime(UnixMicros(t), &mut b);
            assert_eq!(parse_rfc3339(s.as_bytes()), Ok(UnixMicros(t)));
        }
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    /// `Date: Tue, 24 Nov 2026 13:04:15 GMT` from the recordings.
    const DATE: UnixMicros = UnixMicros(1_795_525_455_000_000);

    fn sample(sent_mono: u64, received_mono: u64, date: UnixMicros) -> DateSample {
        DateSample {
            sent_mono,
            received_mono,
            date,
        }
    }

    #[test]
    fn unanchored_clock_does_not_know_the_time() {
        let c = WallClock::new();
        assert!(!c.is_anchored());
        assert_eq!(c.now(0), None);
        assert_eq!(c.now(u64::MAX), None);
        assert_eq!(c.uncertainty_micros(), None);
        assert_eq!(c.micros_since_anchor(5), None);
    }

    #[test]
    fn first_anchor_uses_the_midpoint_of_the_feasible_interval() {
        let mut c = WallClock::new();
        // 100 ms round trip: the server's time at receipt is in [Date, Date + 1.1 s).
        let s = sample(5_000_000, 5_100_000, DATE);
        assert_eq!(
            s.feasible_interval(),
            Ok((DATE, DATE.saturating_add_micros(1_100_000)))
        );
        assert_eq!(c.anchor(&s), Ok(None));
        assert!(c.is_anchored());
        assert_eq!(c.uncertainty_micros(), Some(550_000));
        assert_eq!(c.now(5_100_000), Some(DATE.saturating_add_micros(550_000)));
        // Later and earlier instants follow the monotonic counter.
        assert_eq!(
            c.now(7_100_000),
            Some(DATE.saturating_add_micros(2_550_000))
        );
        assert_eq!(c.now(5_000_000), Some(DATE.saturating_add_micros(450_000)));
        assert_eq!(c.micros_since_anchor(6_100_000), Some(1_000_000));
        assert_eq!(c.micros_since_anchor(0), Some(0));
    }

    #[test]
    fn the_estimate_is_within_its_bound_of_every_consistent_truth() {
        // Simulate servers whose true clock at receipt is anything consistent with the exchange:
        // stamped at sent + d (0 ≤ d ≤ rtt), true stamp time t in [D, D + 1 s).
        let rtt = 300_000;
        for stamp_delay in [0, 1, 150_000, rtt] {
            for stamp_frac in [0, 1, 500_000, 999_999] {
                let truth_at_receipt = DATE.0 + stamp_frac + (rtt - stamp_delay);
                let mut c = WallClock::new();
                c.anchor(&sample(1_000, 1_000 + rtt, DATE)).unwrap();
                let est = c.now(1_000 + rtt).unwrap().0;
                let bound = c.uncertainty_micros().unwrap();
                assert!(
                    est.abs_diff(truth_at_receipt) <= bound,
                    "{stamp_delay} {stamp_frac}"
                );
            }
        }
    }

    #[test]
    fn sub_second_digits_of_the_date_are_dropped() {
        let s = sample(0, 0, DATE.saturating_add_micros(700_000));
        assert_eq!(
            s.estimate(),
            Ok((DATE.saturating_add_micros(500_000), 500_000))
        );
    }

    #[test]
    fn reanchoring_measures_signed_skew_and_time_slips() {
        let mut c = WallClock::new();
        c.anchor(&sample(0, 0, DATE)).unwrap(); // now(0) = DATE + 0.5 s
                                                // 60 s later by our counter the server says 62 s later: we lag by 2 s exactly.
        let r = c
            .anchor(&sample(
                60_000_000,
                60_000_000,
                UnixMicros::from_secs(DATE.as_secs() + 62),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(r.skew_micros, -2_000_000);
        assert!(!r.is_time_slip(), "exactly 2 s is not a slip");
        assert_eq!(r.uncertainty_micros, 500_000);
        // The clock now follows the new anchor.
        assert_eq!(
            c.now(60_000_000),
            Some(UnixMicros::from_secs(DATE.as_secs() + 62).saturating_add_micros(500_000))
        );
        // Another 60 s on, the server has only advanced 57 s: we ran 3 s ahead.
        let r = c
            .anchor(&sample(
                120_000_000,
                120_000_000,
                UnixMicros::from_secs(DATE.as_secs() + 119),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(r.skew_micros, 3_000_000);
        assert!(r.is_time_slip());
        // One microsecond past 2 s counts.
        let r = Reanchoring {
            skew_micros: -2_000_001,
            uncertainty_micros: 0,
        };
        assert!(r.is_time_slip());
        // The clock may step back: renewTime monotonicity is next_renew_time's job.
        let before = c.now(120_000_000).unwrap();
        let r = c
            .anchor(&sample(120_000_000, 120_000_000, DATE))
            .unwrap()
            .unwrap();
        assert!(r.is_time_slip());
        assert!(c.now(120_000_000).unwrap() < before);
    }

    #[test]
    fn rejected_samples_leave_the_clock_alone() {
        let mut c = WallClock::new();
        assert_eq!(
            c.anchor(&sample(10, 9, DATE)),
            Err(AnchorError::ReceivedBeforeSent)
        );
        assert!(!c.is_anchored());
        c.anchor(&sample(0, 0, DATE)).unwrap();
        let before = c;
        assert_eq!(
            DateSample::from_header(0, 1, b"Wed, 24 Nov 2026 13:04:15 GMT"),
            Err(AnchorError::Date(TimeParseError::Malformed))
        );
        assert_eq!(
            DateSample::from_header(0, 1, b"Tue, 24 Nov 1969 13:04:15 GMT"),
            Err(AnchorError::Date(TimeParseError::OutOfRange))
        );
        assert_eq!(
            c.anchor(&sample(u64::MAX, 0, DATE)),
            Err(AnchorError::ReceivedBeforeSent)
        );
        assert_eq!(c, before);
    }

    #[test]
    fn from_header_parses_the_recorded_date() {
        let s = DateSample::from_header(1, 2, b"Tue, 24 Nov 2026 13:04:15 GMT").unwrap();
        assert_eq!(s.date, DATE);
        assert_eq!(s.round_trip_micros(), Ok(1));
    }

    #[test]
    fn absurd_values_saturate_instead_of_panicking() {
        let mut c = WallClock::new();
        // A round trip of 584 000 years and a date at the end of u64.
        let s = sample(0, u64::MAX, UnixMicros(u64::MAX));
        assert!(c.anchor(&s).unwrap().is_none());
        // The interval is clipped at the end of u64 rather than wrapping.
        assert!(c.uncertainty_micros().unwrap() < MICROS_PER_SEC);
        let at_receipt = c.now(u64::MAX).unwrap();
        assert!(at_receipt >= UnixMicros::from_secs(u64::MAX / MICROS_PER_SEC));
        assert_eq!(c.now(0), Some(UnixMicros(0)));
        // Skew saturates at the i64 range in both directions.
        let mut c = WallClock::new();
        c.anchor(&sample(0, 0, UnixMicros(u64::MAX))).unwrap();
        let r = c.anchor(&sample(0, 0, UnixMicros(0))).unwrap().unwrap();
        assert_eq!(r.skew_micros, i64::MAX);
        let r = c
            .anchor(&sample(0, 0, UnixMicros(u64::MAX)))
            .unwrap()
            .unwrap();
        assert_eq!(r.skew_micros, i64::MIN);
        assert!(r.is_time_slip());
        // The epoch itself is a valid date; instants before the anchor clamp at the epoch.
        let mut c = WallClock::new();
        c.anchor(&sample(10_000_000, 10_000_000, UnixMicros(0)))
            .unwrap();
        assert_eq!(c.now(0), Some(UnixMicros(0)));
    }

    #[test]
    fn renew_time_is_strictly_later_than_the_last_one_sent() {
        let t = DATE;
        assert_eq!(next_renew_time(t, None), t);
        // Clock ahead of the last renewal: use it.
        assert_eq!(next_renew_time(t, Some(UnixMicros(t.0 - 10_000_000))), t);
        // Clock stepped back, or equal: one microsecond past the last one.
        assert_eq!(
            next_renew_time(t, Some(t.saturating_add_micros(3_000_000))),
            t.saturating_add_micros(3_000_001)
        );
        assert_eq!(next_renew_time(t, Some(t)), t.saturating_add_micros(1));
        assert_eq!(
            next_renew_time(UnixMicros(0), Some(UnixMicros(u64::MAX))),
            UnixMicros(u64::MAX)
        );
    }

    proptest::proptest! {
        #[test]
        fn renew_times_strictly_increase(
            steps in proptest::collection::vec(0u64..(1 << 50), 1..50)
        ) {
            // Any sequence of wall readings, however they jump, yields increasing renewTimes.
            let mut last = None;
            for now in steps {
                let next = next_renew_time(UnixMicros(now), last);
                if let Some(l) = last {
                    proptest::prop_assert!(next > l);
                }
                proptest::prop_assert!(next >= UnixMicros(now));
                last = Some(next);
            }
        }

        #[test]
        fn anchoring_never_panics_and_skew_is_consistent(
            a_sent in proptest::num::u64::ANY,
            a_rtt in proptest::num::u64::ANY,
            a_date in proptest::num::u64::ANY,
            b_sent in 0u64..(1 << 60),
            b_rtt in 0u64..(1 << 40),
            b_date in 0u64..(1 << 60),
        ) {
            let mut c = WallClock::new();
            let first = sample(a_sent, a_sent.saturating_add(a_rtt), UnixMicros(a_date));
            let _ = c.anchor(&first);
            let b = sample(b_sent, b_sent + b_rtt, UnixMicros(b_date));
            let ours = c.now(b.received_mono);
            let r = c.anchor(&b).unwrap();
            let new_now = c.now(b.received_mono).unwrap();
            match (ours, r) {
                (Some(o), Some(r)) => proptest::prop_assert_eq!(
                    (i128::from(o.0) - i128::from(new_now.0))
                        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)),
                    i128::from(r.skew_micros)
                ),
                (None, None) => {}
                _ => proptest::prop_assert!(false, "skew reported iff already anchored"),
            }
        }
    }
}

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

//! Strict, minimal DER reader for X.509 path validation: single-byte tags, definite minimal
//! lengths below 64 KiB, every element borrowed from the input (no copies, no alloc).
//!
//! Anything that is not DER (indefinite or non-minimal lengths, high tag numbers) is refused:
//! a certificate is signed over its exact bytes, so there is no reason to be lenient.

/// Why a DER structure was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerError {
    /// Input ended inside a TLV.
    Truncated,
    /// Indefinite, non-minimal or oversized (>= 64 KiB) length.
    BadLength,
    /// A tag other than the expected one (or a multi-byte tag).
    UnexpectedTag,
    /// Bytes left after the last expected element.
    Trailing,
    /// A value that is not valid for its type (e.g. a bad time).
    BadValue,
}

/// Universal tag of BOOLEAN.
pub const BOOLEAN: u8 = 0x01;
/// Universal tag of INTEGER.
pub const INTEGER: u8 = 0x02;
/// Universal tag of BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// Universal tag of OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// Universal tag of OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Universal tag of UTCTime.
pub const UTC_TIME: u8 = 0x17;
/// Universal tag of GeneralizedTime.
pub const GENERALIZED_TIME: u8 = 0x18;
/// Constructed SEQUENCE.
pub const SEQUENCE: u8 = 0x30;

/// A cursor over DER bytes.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

/// One element: its tag, its contents and the whole encoding (tag + length + contents).
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    /// The (single-byte) tag.
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// Tag, length and contents: what a signature or a bytewise name comparison covers.
    pub raw: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// True when every element has been read.
    pub const fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads the next element whatever its tag.
    pub fn read_any(&mut self) -> Result<Tlv<'a>, DerError> {
        let (&tag, rest) = self.buf.split_first().ok_or(DerError::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::UnexpectedTag); // high tag numbers never occur in X.509
        }
        let (&first, rest) = rest.split_first().ok_or(DerError::Truncated)?;
        let (len, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x81 => {
                let (&b, rest) = rest.split_first().ok_or(DerError::Truncated)?;
                if b < 0x80 {
                    return Err(DerError::BadLength);
                }
                (usize::from(b), rest)
            }
            0x82 => {
                let b: [u8; 2] = rest
                    .get(..2)
                    .and_then(|b| b.try_into().ok())
                    .ok_or(DerError::Truncated)?;
                let n = usize::from(u16::from_be_bytes(b));
                if n < 0x100 {
                    return Err(DerError::BadLength);
                }
                (n, rest.get(2..).ok_or(DerError::Truncated)?)
            }
            // 0x80 (indefinite) and anything >= 64 KiB: not DER / not a certificate we accept.
            _ => return Err(DerError::BadLength),
        };
        let value = rest.get(..len).ok_or(DerError::Truncated)?;
        let header_len = self.buf.len().saturating_sub(rest.len());
        let total = header_len.checked_add(len).ok_or(DerError::BadLength)?;
        let raw = self.buf.get(..total).ok_or(DerError::Truncated)?;
        self.buf = self.buf.get(total..).ok_or(DerError::Truncated)?;
        Ok(Tlv { tag, value, raw })
    }

    /// Reads an element that must carry `tag`.
    pub fn read(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.read_any()?;
        if tlv.tag != tag {
            return Err(DerError::UnexpectedTag);
        }
        Ok(tlv)
    }

    /// Reads an element only if the next tag is `tag`.
    pub fn read_optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.read(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a SEQUENCE and returns a reader over its contents.
    pub fn sequence(&mut self) -> Result<Reader<'a>, DerError> {
        Ok(Reader::new(self.read(SEQUENCE)?.value))
    }

    /// Fails if anything is left.
    pub const fn finish(&self) -> Result<(), DerError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DerError::Trailing)
        }
    }
}

/// An OBJECT IDENTIFIER copied out of a certificate, so an error can name it after the
/// handshake buffers are gone. Longer OIDs keep their first [`Oid::MAX`] bytes (shown with a
/// trailing `…`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Oid {
    bytes: [u8; Oid::MAX],
    len: u8,
    truncated: bool,
}

/// Names of algorithm OIDs a server may present that we do not implement (and the ones we do,
/// for messages about a key that does not fit a scheme).
const OID_NAMES: &[(&[u8], &str)] = &[
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
        "rsaEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
        "md5WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        "sha1WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
        "RSASSA-PSS",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0e],
        "sha224WithRSAEncryption",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
        "ecdsa-with-SHA1",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x01],
        "ecdsa-with-SHA224",
    ),
    (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], "DSA"),
    (&[0x2b, 0x65, 0x70], "Ed25519"),
    (&[0x2b, 0x65, 0x71], "Ed448"),
    (&[0x2b, 0x81, 0x04, 0x00, 0x23], "P-521"),
    (&[0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1"),
    (
        &[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07],
        "brainpoolP256r1",
    ),
];

impl Oid {
    /// Bytes kept.
    pub const MAX: usize = 16;

    /// Copies the contents octets of an OID.
    pub fn new(contents: &[u8]) -> Self {
        let mut bytes = [0u8; Self::MAX];
        let len = contents.len().min(Self::MAX);
        if let (Some(dst), Some(src)) = (bytes.get_mut(..len), contents.get(..len)) {
            dst.copy_from_slice(src);
        }
        Oid {
            bytes,
            len: len as u8,
            truncated: contents.len() > Self::MAX,
        }
    }

    /// The contents octets kept.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The algorithm's usual name, if it is one we know.
    pub fn name(&self) -> Option<&'static str> {
        if self.truncated {
            return None;
        }
        OID_NAMES
            .iter()
            .find(|(oid, _)| *oid == self.as_bytes())
            .map(|(_, name)| *name)
    }
}

impl core::fmt::Display for Oid {
    /// `Ed25519 (1.3.101.112)`, or only the dotted form for an OID we have no name for.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if let Some(name) = self.name() {
            write!(f, "{name} (")?;
        }
        let mut arc: u64 = 0;
        let mut first = true;
        for &b in self.as_bytes() {
            arc = (arc << 7) | u64::from(b & 0x7f);
            if b & 0x80 != 0 {
                if arc > u64::MAX >> 7 {
                    return f.write_str("?");
                }
                continue;
            }
            if first {
                let (x, y) = match arc {
                    0..=39 => (0, arc),
                    40..=79 => (1, arc - 40),
                    _ => (2, arc - 80),
                };
                write!(f, "{x}.{y}")?;
                first = false;
            } else {
                write!(f, ".{arc}")?;
            }
            arc = 0;
        }
        if self.truncated {
            f.write_str("…")?;
        }
        if self.name().is_some() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl core::fmt::Debug for Oid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// Contents of a BIT STRING with no unused bits (keys, signatures).
pub fn bit_string_octets(value: &[u8]) -> Result<&[u8], DerError> {
    match value.split_first() {
        Some((0, rest)) => Ok(rest),
        _ => Err(DerError::BadValue),
    }
}

/// Decimal digits (at most 4 here, so no overflow) as a number.
fn digits(b: &[u8]) -> Result<i64, DerError> {
    let mut n: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return Err(DerError::BadValue);
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Ok(n)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), signed:
/// certificates may carry dates before 1970 (UTCTime 50..69 → 1950..1969).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an X.509 Time (UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`) into
/// Unix seconds, as RFC 5280 4.1.2.5 requires them (Z, seconds, no fractions).
pub fn time(tlv: Tlv<'_>) -> Result<i64, DerError> {
    let (year, rest) = match (tlv.tag, tlv.value.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(tlv.value.get(..2).ok_or(DerError::BadValue)?)?;
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                tlv.value.get(2..).ok_or(DerError::BadValue)?,
            )
        }
        (GENERALIZED_TIME, 15) => (
            digits(tlv.value.get(..4).ok_or(DerError::BadValue)?)?,
            tlv.value.get(4..).ok_or(DerError::BadValue)?,
        ),
        _ => return Err(DerError::BadValue),
    };
    // rest = MMDDHHMMSSZ
    if rest.len() != 11 || rest.last() != Some(&b'Z') {
        return Err(DerError::BadValue);
    }
    let two = |i: usize| digits(rest.get(i..i + 2).ok_or(DerError::BadValue)?);
    let (mo, d, h, mi, s) = (two(0)?, two(2)?, two(4)?, two(6)?, two(8)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return Err(DerError::BadValue);
    }
    Ok(days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_minimal_and_indefinite_lengths() {
        let err = |b: &[u8]| Reader::new(b).read_any().err();
        assert_eq!(
            err(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0]),
            Some(DerError::BadLength)
        );
        assert_eq!(err(&[0x30, 0x82, 0x00, 0x80]), Some(DerError::BadLength));
        assert_eq!(err(&[0x30, 0x80, 0, 0]), Some(DerError::BadLength));
        assert_eq!(err(&[0x30, 0x83, 1, 0, 0]), Some(DerError::BadLength));
        assert_eq!(err(&[0x30, 0x05, 0]), Some(DerError::Truncated));
        assert_eq!(err(&[0x1f, 0x01, 0]), Some(DerError::UnexpectedTag));
        assert_eq!(err(&[]), Some(DerError::Truncated));
    }

    #[test]
    fn reads_nested_elements_and_refuses_trailing_bytes() {
        let bytes = [0x30, 0x03, 0x02, 0x01, 0x07, 0x05, 0x00];
        let mut r = Reader::new(&bytes);
        let mut seq = r.sequence().unwrap();
        let int = seq.read(INTEGER).unwrap();
        assert_eq!((int.value, int.raw), (&[7u8][..], &[2u8, 1, 7][..]));
        assert!(seq.finish().is_ok());
        assert_eq!(r.finish(), Err(DerError::Trailing));
        assert_eq!(r.read_optional(SEQUENCE).unwrap().map(|t| t.tag), None);
        assert_eq!(r.read(SEQUENCE).err(), Some(DerError::UnexpectedTag));
    }

    #[test]
    fn oids_print_dotted_and_named() {
        use std::string::ToString;
        assert_eq!(
            Oid::new(&[0x2b, 0x65, 0x70]).to_string(),
            "Ed25519 (1.3.101.112)"
        );
        assert_eq!(
            Oid::new(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04]).to_string(),
            "1.2.840.10045.4.3.4"
        );
        assert_eq!(Oid::new(&[0x81, 0x00]).to_string(), "2.48");
        assert_eq!(
            Oid::new(&[0x55; 20]).to_string(),
            "2.5.85.85.85.85.85.85.85.85.85.85.85.85.85.85.85…"
        );
        assert_eq!(Oid::new(&[0xff; 12]).to_string(), "?");
    }

    #[test]
    fn parses_times() {
        let t = |tag, s: &[u8]| {
            time(Tlv {
                tag,
                value: s,
                raw: s,
            })
        };
        assert_eq!(t(UTC_TIME, b"700101000000Z"), Ok(0));
        assert_eq!(t(GENERALIZED_TIME, b"20380119031408Z"), Ok(2_147_483_648));
        assert_eq!(t(UTC_TIME, b"491231235959Z"), Ok(2_524_607_999));
        assert_eq!(t(UTC_TIME, b"500101000000Z"), Ok(-631_152_000));
        assert!(t(UTC_TIME, b"7001010000Z").is_err());
        assert!(t(UTC_TIME, b"701301000000Z").is_err());
        assert!(t(UTC_TIME, b"700101000000+").is_err());
        assert!(t(GENERALIZED_TIME, b"700101000000Z").is_err());
    }
}

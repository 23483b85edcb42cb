//! The cluster CA as configured → DER for the verifier, without alloc.
//!
//! kubeconfig's `certificate-authority-data` is base64 of the PEM file (so base64 twice);
//! `certificate-authority` points at the PEM file itself. Both are decoded in ONE streaming
//! pass into a caller buffer that only has to hold the DER ([`CA_DER_MAX`] is enough for any
//! CA up to RSA-4096): the outer base64 feeds the PEM reader byte by byte, the PEM body's
//! base64 is written straight to the output.
//!
//! A bundle (several certificates in one PEM) yields its FIRST certificate only: the verifier
//! anchors at one CA. Put the cluster CA first.
//!
//! Why not the `base64` crate: its no-alloc `decode_slice` needs the whole base64 text in one
//! contiguous slice without line breaks, so PEM would need a copy first, and base64-of-PEM a
//! second buffer for the PEM; a 6-bit accumulator is ~40 lines.

use super::x509;

/// Output buffer size that holds any CA certificate we expect: an ECDSA CA (k3s) is ~500
/// bytes, RSA-2048 (kubeadm) ~1.1 KiB, RSA-4096 ~1.8 KiB.
pub const CA_DER_MAX: usize = 2048;

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";
/// Longest text line kept for comparison with the armor lines; longer lines (explanatory
/// text before the certificate) are skipped, never matched.
const LINE_MAX: usize = 80;

/// Why the configured CA could not be turned into DER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaError {
    /// No `-----BEGIN CERTIFICATE-----` line.
    NoPemCertificate,
    /// A BEGIN line without a matching `-----END CERTIFICATE-----` line.
    UnterminatedPem,
    /// A byte that is neither base64 nor whitespace, misplaced `=` padding, or non-zero
    /// trailing bits.
    BadBase64,
    /// The certificate does not fit in the output buffer.
    TooLarge,
    /// The decoded bytes are not one X.509 v3 certificate.
    NotACertificate,
}

/// Decodes a CA in any of the forms a kubeconfig or a config file holds: DER as is, PEM, or
/// base64 of PEM (`certificate-authority-data`). Returns the DER of the first certificate,
/// checked to parse as X.509 v3.
pub fn decode_ca<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CaError> {
    let trimmed = input.trim_ascii();
    if contains(trimmed, b"-----BEGIN") {
        pem_to_der(trimmed, out)
    } else if input.first() == Some(&0x30) {
        // DER as is, never trimmed: its last byte may well be 0x09, 0x0a, 0x0c, 0x0d or 0x20
        // (one certificate in ~50).
        let dst = out.get_mut(..input.len()).ok_or(CaError::TooLarge)?;
        dst.copy_from_slice(input);
        checked_certificate(dst)
    } else {
        base64_pem_to_der(trimmed, out)
    }
}

/// PEM text → DER of its first `CERTIFICATE` block. Text before the BEGIN line is ignored
/// (RFC 7468 5.2); armor lines may have surrounding whitespace, the body any line breaks.
pub fn pem_to_der<'o>(pem: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CaError> {
    let len = pem_certificate(&mut Plain { bytes: pem }, out)?;
    checked_certificate(out.get(..len).ok_or(CaError::TooLarge)?)
}

/// base64 of a PEM file (kubeconfig `certificate-authority-data`) → DER of its first
/// certificate. Whitespace inside the base64 is ignored.
pub fn base64_pem_to_der<'o>(data: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CaError> {
    let mut src = Base64Source {
        text: data,
        decoder: Base64::default(),
        finished: false,
    };
    let len = pem_certificate(&mut src, out)?;
    checked_certificate(out.get(..len).ok_or(CaError::TooLarge)?)
}

fn checked_certificate(der: &[u8]) -> Result<&[u8], CaError> {
    x509::parse(der).map_err(|_| CaError::NotACertificate)?;
    Ok(der)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A stream of bytes that may fail (when it is itself decoded).
trait ByteSource {
    fn next_byte(&mut self) -> Result<Option<u8>, CaError>;
}

struct Plain<'a> {
    bytes: &'a [u8],
}

impl ByteSource for Plain<'_> {
    fn next_byte(&mut self) -> Result<Option<u8>, CaError> {
        let Some((&b, rest)) = self.bytes.split_first() else {
            return Ok(None);
        };
        self.bytes = rest;
        Ok(Some(b))
    }
}

/// Base64 text decoded on the fly.
struct Base64Source<'a> {
    text: &'a [u8],
    decoder: Base64,
    finished: bool,
}

impl ByteSource for Base64Source<'_> {
    fn next_byte(&mut self) -> Result<Option<u8>, CaError> {
        while let Some((&c, rest)) = self.text.split_first() {
            self.text = rest;
            if c.is_ascii_whitespace() {
                continue;
            }
            if let Some(b) = self.decoder.push(c)? {
                return Ok(Some(b));
            }
        }
        if !self.finished {
            self.finished = true;
            self.decoder.finish()?;
        }
        Ok(None)
    }
}

/// Streaming standard-alphabet base64 decoder (RFC 4648 4): `=` padding optional, but if
/// present it must complete the last quantum; trailing bits must be zero (canonical).
#[derive(Default)]
struct Base64 {
    /// Bits not yet emitted (fewer than 8 after each `push`).
    acc: u32,
    bits: u8,
    symbols: usize,
    padding: u8,
}

impl Base64 {
    fn push(&mut self, c: u8) -> Result<Option<u8>, CaError> {
        if c == b'=' {
            if self.symbols % 4 < 2 {
                return Err(CaError::BadBase64);
            }
            self.padding = self.padding.saturating_add(1);
            self.symbols = self.symbols.wrapping_add(1);
            return Ok(None);
        }
        if self.padding > 0 {
            return Err(CaError::BadBase64); // data after padding
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(CaError::BadBase64),
        };
        self.acc = (self.acc << 6) | u32::from(v);
        self.bits += 6;
        self.symbols = self.symbols.wrapping_add(1);
        if self.bits < 8 {
            return Ok(None);
        }
        self.bits -= 8;
        let byte = (self.acc >> self.bits) as u8;
        self.acc &= (1 << self.bits) - 1;
        Ok(Some(byte))
    }

    fn finish(&self) -> Result<(), CaError> {
        let rem = self.symbols % 4;
        if rem == 1 || (self.padding > 0 && rem != 0) || self.acc != 0 {
            return Err(CaError::BadBase64);
        }
        Ok(())
    }
}

/// Reads one text line (without the line break) into `line`; `None` at the end of input.
/// Returns the length kept, or `LINE_MAX + 1` if the line was longer (so it matches nothing).
fn read_line(
    src: &mut impl ByteSource,
    first: Option<u8>,
    line: &mut [u8; LINE_MAX],
) -> Result<Option<usize>, CaError> {
    let mut len = 0usize;
    let mut next = match first {
        Some(b) => Some(b),
        None => src.next_byte()?,
    };
    if next.is_none() {
        return Ok(None);
    }
    while let Some(b) = next {
        if b == b'\n' {
            break;
        }
        if let Some(slot) = line.get_mut(len) {
            *slot = b;
        }
        len = len.saturating_add(1);
        next = src.next_byte()?;
    }
    Ok(Some(len.min(LINE_MAX + 1)))
}

fn line_is(line: &[u8; LINE_MAX], len: usize, want: &[u8]) -> bool {
    line.get(..len).is_some_and(|l| l.trim_ascii() == want)
}

/// Finds the first BEGIN CERTIFICATE block and decodes its body into `out`; returns its length.
fn pem_certificate(src: &mut impl ByteSource, out: &mut [u8]) -> Result<usize, CaError> {
    let mut line = [0u8; LINE_MAX];
    loop {
        let Some(len) = read_line(src, None, &mut line)? else {
            return Err(CaError::NoPemCertificate);
        };
        if line_is(&line, len, BEGIN) {
            break;
        }
    }
    let mut decoder = Base64::default();
    let mut written = 0usize;
    loop {
        let Some(c) = src.next_byte()? else {
            return Err(CaError::UnterminatedPem);
        };
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'-' {
            let len = read_line(src, Some(c), &mut line)?.unwrap_or(0);
            if !line_is(&line, len, END) {
                return Err(CaError::UnterminatedPem);
            }
            decoder.finish()?;
            return Ok(written);
        }
        if let Some(byte) = decoder.push(c)? {
            *out.get_mut(written).ok_or(CaError::TooLarge)? = byte;
            written += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &[u8]) -> Result<std::vec::Vec<u8>, CaError> {
        let mut src = Base64Source {
            text,
            decoder: Base64::default(),
            finished: false,
        };
        let mut out = std::vec::Vec::new();
        while let Some(b) = src.next_byte()? {
            out.push(b);
        }
        Ok(out)
    }

    #[test]
    fn base64_decodes_rfc4648_vectors() {
        for (enc, dec) in [
            (&b""[..], &b""[..]),
            (b"Zg==", b"f"),
            (b"Zm8=", b"fo"),
            (b"Zm9v", b"foo"),
            (b"Zm9vYg==", b"foob"),
            (b"Zm9vYmE=", b"fooba"),
            (b"Zm9vYmFy", b"foobar"),
            (b"Zm9vYg", b"foob"),
            (b"Zm9v\r\nYmFy\n", b"foobar"),
        ] {
            assert_eq!(b64(enc).as_deref(), Ok(dec), "{enc:?}");
        }
    }

    #[test]
    fn base64_refuses_non_canonical_and_misplaced_padding() {
        for bad in [
            &b"Z"[..],
            b"Zh==",
            b"Zm9=",
            b"Zg=",
            b"Z===",
            b"=Zg=",
            b"Zg==Zg==",
            b"Zm9v!",
            b"Zm9v-",
        ] {
            assert_eq!(b64(bad), Err(CaError::BadBase64), "{bad:?}");
        }
    }
}

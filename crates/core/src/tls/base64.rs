//! Base64 (RFC 4648) encoding without alloc, for what the agent sends or signs: the PEM body of a
//! certificate request (standard alphabet, padded, 64-character lines), `spec.request` (base64 of
//! that PEM) and a JWS's base64url parts (no padding).
//!
//! [`Encoder`] takes bytes in any pieces and hands out the encoded text through a sink, so
//! a payload can be encoded straight into a hash (the JWS signing input) or a JSON string
//! without a second buffer. Decoding lives with its only user (`ca`: base64 of PEM).

use core::fmt;

/// Which RFC 4648 alphabet and whether `=` padding ends the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alphabet {
    /// `A–Z a–z 0–9 + /`, padded with `=` (PEM, `spec.request`).
    Standard,
    /// `A–Z a–z 0–9 - _`, no padding (JWS, RFC 7515 2).
    UrlNoPad,
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Alphabet {
    fn table(self) -> &'static [u8; 64] {
        match self {
            Alphabet::Standard => STANDARD,
            Alphabet::UrlNoPad => URL,
        }
    }

    fn symbol(self, six_bits: u32) -> u8 {
        // `& 63` keeps the index in the table.
        self.table()
            .get((six_bits & 63) as usize)
            .copied()
            .unwrap_or(b'A')
    }
}

/// Length of the encoding of `len` bytes.
pub const fn encoded_len(len: usize, alphabet: Alphabet) -> usize {
    match alphabet {
        Alphabet::Standard => len.div_ceil(3) * 4,
        Alphabet::UrlNoPad => (len * 4).div_ceil(3),
    }
}

/// A streaming encoder: [`Encoder::feed`] bytes in any pieces, then [`Encoder::finish`]. The
/// sink receives the text in pieces of at most 4 bytes.
#[derive(Clone, Copy, Debug)]
pub struct Encoder {
    alphabet: Alphabet,
    /// Up to two bytes waiting for the third of their group.
    pending: [u8; 2],
    pending_len: usize,
}

impl Encoder {
    pub const fn new(alphabet: Alphabet) -> Self {
        Encoder {
            alphabet,
            pending: [0; 2],
            pending_len: 0,
        }
    }

    /// Encodes `bytes`, giving every complete 4-character group to `sink`.
    pub fn feed(&mut self, bytes: &[u8], sink: &mut impl FnMut(&[u8])) {
        for &b in bytes {
            if let Some(slot) = self.pending.get_mut(self.pending_len) {
                *slot = b;
                self.pending_len += 1;
                continue;
            }
            let [a, c] = self.pending;
            sink(&self.group(a, c, b, 3));
            self.pending_len = 0;
        }
    }

    /// Encodes what is left (a last group of 1 or 2 bytes, padded for [`Alphabet::Standard`]).
    pub fn finish(self, sink: &mut impl FnMut(&[u8])) {
        let [a, b] = self.pending;
        // A byte left from an earlier group is not part of this one.
        let b = if self.pending_len == 2 { b } else { 0 };
        let group = self.group(a, b, 0, self.pending_len);
        let keep = match (self.alphabet, self.pending_len) {
            (_, 0) => 0,
            (Alphabet::Standard, _) => 4,
            (Alphabet::UrlNoPad, n) => n + 1,
        };
        sink(group.get(..keep).unwrap_or(&[]));
    }

    fn group(&self, a: u8, b: u8, c: u8, real: usize) -> [u8; 4] {
        let n = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
        let mut out = [
            self.alphabet.symbol(n >> 18),
            self.alphabet.symbol(n >> 12),
            self.alphabet.symbol(n >> 6),
            self.alphabet.symbol(n),
        ];
        if real < 3 {
            out[3] = b'=';
        }
        if real < 2 {
            out[2] = b'=';
        }
        out
    }
}

/// The encoding did not fit; `needed` bytes would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeTooLong {
    pub needed: usize,
}

/// Encodes `input` into the start of `out`; writes nothing when it does not fit.
pub fn encode_into(
    input: &[u8],
    alphabet: Alphabet,
    out: &mut [u8],
) -> Result<usize, EncodeTooLong> {
    let needed = encoded_len(input.len(), alphabet);
    let Some(dst) = out.get_mut(..needed) else {
        return Err(EncodeTooLong { needed });
    };
    let mut at = 0;
    let mut sink = |piece: &[u8]| {
        if let Some(d) = dst.get_mut(at..at + piece.len()) {
            d.copy_from_slice(piece);
        }
        at += piece.len();
    };
    let mut enc = Encoder::new(alphabet);
    enc.feed(input, &mut sink);
    enc.finish(&mut sink);
    Ok(needed)
}

/// `Display` of the base64 of some bytes (e.g. into [`crate::json::writer::JsonWriter::string_fmt`],
/// which escapes nothing here: base64 needs no JSON escapes).
pub struct Base64Display<'a> {
    pub bytes: &'a [u8],
    pub alphabet: Alphabet,
}

impl fmt::Display for Base64Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut result = Ok(());
        let mut sink = |piece: &[u8]| {
            if result.is_ok() {
                // The alphabet is ASCII.
                result = f.write_str(core::str::from_utf8(piece).unwrap_or(""));
            }
        };
        let mut enc = Encoder::new(self.alphabet);
        enc.feed(self.bytes, &mut sink);
        enc.finish(&mut sink);
        result
    }
}

/// Decodes base64url without padding (a JWS part) into the start of `out`. `None` for any
/// other byte, a length no encoding has, non-zero trailing bits, or a too-small `out`.
pub fn decode_url_no_pad<'o>(text: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut len = 0;
    for &c in text {
        let v = u32::try_from(URL.iter().position(|&s| s == c)?).ok()?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(len)? = (acc >> bits) as u8;
            len += 1;
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return None; // non-canonical: trailing bits set
    }
    out.get(..len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn encode(input: &[u8], alphabet: Alphabet) -> String {
        let mut out = Vec::new();
        let mut enc = Encoder::new(alphabet);
        enc.feed(input, &mut |p: &[u8]| out.extend_from_slice(p));
        enc.finish(&mut |p: &[u8]| out.extend_from_slice(p));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc4648_vectors() {
        let vectors: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (input, want) in vectors {
            assert_eq!(encode(input, Alphabet::Standard), want);
            assert_eq!(
                encode(input, Alphabet::UrlNoPad),
                want.trim_end_matches('=')
            );
            assert_eq!(encoded_len(input.len(), Alphabet::Standard), want.len());
        }
        assert_eq!(encode(&[0xfb, 0xff], Alphabet::Standard), "+/8=");
        assert_eq!(encode(&[0xfb, 0xff], Alphabet::UrlNoPad), "-_8");
    }

    #[test]
    fn the_recorded_jws_header_encodes_as_the_server_wrote_it() {
        assert_eq!(
            encode(br#"{"alg":"HS256","kid":"9bc31e"}"#, Alphabet::UrlNoPad),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9"
        );
    }

    #[test]
    fn encode_into_refuses_a_short_buffer_and_writes_nothing() {
        let mut out = [b'x'; 7];
        assert_eq!(
            encode_into(b"foobar", Alphabet::Standard, &mut out),
            Err(EncodeTooLong { needed: 8 })
        );
        assert_eq!(out, [b'x'; 7]);
        let mut out = [0u8; 8];
        assert_eq!(encode_into(b"foobar", Alphabet::Standard, &mut out), Ok(8));
        assert_eq!(&out, b"Zm9vYmFy");
    }

    #[test]
    fn url_decoding_round_trips_and_refuses_non_canonical_text() {
        let mut out = [0u8; 32];
        assert_eq!(decode_url_no_pad(b"-_8", &mut out), Some(&[0xfb, 0xff][..]));
        assert_eq!(decode_url_no_pad(b"-_9", &mut out), None); // trailing bits
        assert_eq!(decode_url_no_pad(b"Zm9vY", &mut out), None); // impossible length
        assert_eq!(decode_url_no_pad(b"Zm9=", &mut out), None); // padding
        assert_eq!(decode_url_no_pad(b"Zm9vYmFy", &mut [0u8; 5]), None); // too small
    }

    proptest::proptest! {
        #[test]
        fn pieces_do_not_change_the_encoding(data: Vec<u8>, cut in 0usize..64) {
            for alphabet in [Alphabet::Standard, Alphabet::UrlNoPad] {
                let whole = encode(&data, alphabet);
                let mut out = Vec::new();
                let mut enc = Encoder::new(alphabet);
                let cut = cut.min(data.len());
                enc.feed(&data[..cut], &mut |p: &[u8]| out.extend_from_slice(p));
                enc.feed(&data[cut..], &mut |p: &[u8]| out.extend_from_slice(p));
                enc.finish(&mut |p: &[u8]| out.extend_from_slice(p));
                proptest::prop_assert_eq!(&String::from_utf8(out).unwrap(), &whole);
                proptest::prop_assert_eq!(whole.len(), encoded_len(data.len(), alphabet));
                if alphabet == Alphabet::UrlNoPad {
                    let mut back = [0u8; 600];
                    let decoded = decode_url_no_pad(whole.as_bytes(), &mut back);
                    proptest::prop_assert_eq!(decoded, if data.len() <= 600 { Some(&data[..]) } else { None });
                }
            }
        }
    }
}

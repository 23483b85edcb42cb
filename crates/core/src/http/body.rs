//! Response body framing decoder: a sans-I/O state machine.
//!
//! The decoder is fed whatever bytes the connection produced (any split, down to one byte at a
//! time) and answers with how many it consumed and which of them are body bytes. Body bytes are
//! never copied or buffered: the caller gets a range into its own input and passes the slice on to
//! the JSON extractor. Framing bytes (chunk-size lines, CRLFs, trailers) are consumed silently.
//!
//! Bounds (each with a typed error): a chunk-size line, extensions included, may hold at most
//! [`MAX_CHUNK_LINE_LEN`] bytes before its CRLF; the trailer section at most [`MAX_TRAILER_LEN`]
//! bytes; the whole body at most the optional cap given to [`BodyDecoder::new`].

use core::ops::Range;

/// Longest chunk-size line (hex size plus extensions, without the CRLF). Go's server writes bare
/// hex sizes (at most 16 digits); 128 bytes leaves room for leading zeros and short extensions.
pub const MAX_CHUNK_LINE_LEN: usize = 128;

/// Largest trailer section after the last chunk, counting every byte including the final CRLF.
/// The API server sends no trailers; they are skipped unread.
pub const MAX_TRAILER_LEN: usize = 1024;

/// How the end of a response body is found (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyFraming {
    /// No body at all (1xx, 204, 304, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes follow the head.
    ContentLength(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No length given: the body runs until the server closes the connection, which can then not
    /// be reused. The API server always frames its responses, so this only happens with other
    /// servers (or proxies) in between.
    UntilClose,
}

/// Why a body could not be decoded. After an error the decoder stays failed and repeats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyError {
    /// A chunk-size line without hex digits, or with a byte not allowed in it.
    InvalidChunkSize,
    /// The chunk size does not fit in 64 bits.
    ChunkSizeOverflow,
    /// The chunk-size line is longer than [`MAX_CHUNK_LINE_LEN`].
    ChunkLineTooLong,
    /// A CR not followed by LF, a bare LF, or chunk data not followed by CRLF.
    BadLineEnding,
    /// A trailer line holds a control byte.
    MalformedTrailer,
    /// The trailer section is longer than [`MAX_TRAILER_LEN`].
    TrailersTooLarge,
    /// The body is (or announces to be) longer than the cap the caller set.
    BodyTooLarge,
    /// The connection ended before the body did.
    Truncated,
}

/// What one [`BodyDecoder::decode`] call did with its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input used (framing and body). The rest belongs to the next call or, once
    /// `done`, is surplus after the end of the body.
    pub consumed: usize,
    /// Body bytes within `input[..consumed]`; empty when the call saw framing only.
    pub body: Range<usize>,
    /// The body is complete.
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinePart {
    /// Reading hex digits.
    Digits,
    /// Whitespace after the digits (only before `;` or CR).
    Space,
    /// Inside `;ext=val` extensions, which are skipped.
    Extension,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Content-Length or until-close: `remaining` is `None` for until-close.
    Plain {
        remaining: Option<u64>,
    },
    ChunkSizeLine {
        size: u64,
        digits: usize,
        line_len: usize,
        part: LinePart,
        saw_cr: bool,
    },
    ChunkData {
        remaining: u64,
    },
    /// CR (then LF) that must follow chunk data.
    ChunkDataEnd {
        saw_cr: bool,
    },
    Trailers {
        total: usize,
        at_line_start: bool,
        saw_cr: bool,
    },
    Done,
    Failed(BodyError),
}

/// Decoder for one response body. Create it from the head's [`BodyFraming`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyDecoder {
    state: State,
    /// Body bytes delivered so far.
    delivered: u64,
    max_body_len: Option<u64>,
}

impl BodyDecoder {
    /// A decoder for `framing`. With `max_body_len`, a longer body fails with
    /// [`BodyError::BodyTooLarge`] before any byte beyond the cap is delivered; a too large
    /// `Content-Length` fails at the first [`decode`](Self::decode) call.
    pub const fn new(framing: BodyFraming, max_body_len: Option<u64>) -> Self {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::ContentLength(0) => State::Done,
            BodyFraming::ContentLength(n) => State::Plain { remaining: Some(n) },
            BodyFraming::Chunked => State::ChunkSizeLine {
                size: 0,
                digits: 0,
                line_len: 0,
                part: LinePart::Digits,
                saw_cr: false,
            },
            BodyFraming::UntilClose => State::Plain { remaining: None },
        };
        let state = match (framing, max_body_len) {
            (BodyFraming::ContentLength(n), Some(cap)) if n > cap => {
                State::Failed(BodyError::BodyTooLarge)
            }
            _ => state,
        };
        BodyDecoder {
            state,
            delivered: 0,
            max_body_len,
        }
    }

    /// The body is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Consumes framing bytes up to the next run of body bytes and returns that run (as much of
    /// it as `input` holds). Call again with `input[consumed..]` (plus newly read bytes) until
    /// `done`; a call that consumed all of `input` without being done needs more input.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, BodyError> {
        let mut pos = 0usize;
        loop {
            match self.state {
                State::Done => return Ok(framing_only(pos, true)),
                State::Failed(e) => return Err(e),
                State::Plain { remaining } => {
                    let body = self.take_run(input, pos, remaining)?;
                    let left = remaining.map(|r| r.saturating_sub(run_len(&body)));
                    let done = left == Some(0);
                    self.state = if done {
                        State::Done
                    } else {
                        State::Plain { remaining: left }
                    };
                    return Ok(Decoded {
                        consumed: body.end,
                        body,
                        done,
                    });
                }
                State::ChunkData { remaining } => {
                    let body = self.take_run(input, pos, Some(remaining))?;
                    if body.is_empty() {
                        return Ok(framing_only(pos, false));
                    }
                    let left = remaining.saturating_sub(run_len(&body));
                    self.state = if left == 0 {
                        State::ChunkDataEnd { saw_cr: false }
                    } else {
                        State::ChunkData { remaining: left }
                    };
                    return Ok(Decoded {
                        consumed: body.end,
                        body,
                        done: false,
                    });
                }
                _ => {
                    let Some(&byte) = input.get(pos) else {
                        return Ok(framing_only(pos, false));
                    };
                    self.framing_byte(byte).map_err(|e| self.fail(e))?;
                    pos = pos.saturating_add(1);
                }
            }
        }
    }

    /// The connection ended. Fine for an until-close body (which is then complete) and for a
    /// complete body; anything else is [`BodyError::Truncated`].
    pub fn finish(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::Done => Ok(()),
            State::Plain { remaining: None } => {
                self.state = State::Done;
                Ok(())
            }
            State::Failed(e) => Err(e),
            _ => {
                self.state = State::Failed(BodyError::Truncated);
                Err(BodyError::Truncated)
            }
        }
    }

    /// Takes the body bytes at `input[pos..]`, at most `limit` of them (`None`: all), and counts
    /// them against the cap. Bytes up to the cap are delivered before the error, so what the
    /// caller sees before a [`BodyError::BodyTooLarge`] does not depend on how input was split.
    fn take_run(
        &mut self,
        input: &[u8],
        pos: usize,
        limit: Option<u64>,
    ) -> Result<Range<usize>, BodyError> {
        let available = input.len().saturating_sub(pos);
        let wanted = limit.map_or(available, |l| clamp(l, available));
        let room = self.max_body_len.map_or(wanted, |cap| {
            clamp(cap.saturating_sub(self.delivered), wanted)
        });
        if room == 0 && wanted > 0 {
            return Err(self.fail(BodyError::BodyTooLarge));
        }
        self.delivered = self.delivered.saturating_add(room as u64);
        Ok(pos..pos.saturating_add(room))
    }

    /// Enters the failed state; every later call repeats `e`.
    fn fail(&mut self, e: BodyError) -> BodyError {
        self.state = State::Failed(e);
        e
    }

    /// One byte of chunk framing (size line, data CRLF, trailers).
    fn framing_byte(&mut self, byte: u8) -> Result<(), BodyError> {
        self.state = match self.state {
            State::ChunkSizeLine {
                size,
                digits,
                line_len,
                part,
                saw_cr,
            } => {
                if saw_cr {
                    if byte != b'\n' {
                        return Err(BodyError::BadLineEnding);
                    }
                    self.chunk_size_known(size)?
                } else if byte == b'\r' {
                    if digits == 0 {
                        return Err(BodyError::InvalidChunkSize);
                    }
                    State::ChunkSizeLine {
                        size,
                        digits,
                        line_len,
                        part,
                        saw_cr: true,
                    }
                } else {
                    let line_len = line_len.saturating_add(1);
                    if line_len > MAX_CHUNK_LINE_LEN {
                        return Err(BodyError::ChunkLineTooLong);
                    }
                    let (size, digits, part) = chunk_line_byte(byte, size, digits, part)?;
                    State::ChunkSizeLine {
                        size,
                        digits,
                        line_len,
                        part,
                        saw_cr: false,
                    }
                }
            }
            State::ChunkDataEnd { saw_cr: false } if byte == b'\r' => {
                State::ChunkDataEnd { saw_cr: true }
            }
            State::ChunkDataEnd { saw_cr: true } if byte == b'\n' => State::ChunkSizeLine {
                size: 0,
                digits: 0,
                line_len: 0,
                part: LinePart::Digits,
                saw_cr: false,
            },
            State::ChunkDataEnd { .. } => return Err(BodyError::BadLineEnding),
            State::Trailers {
                total,
                at_line_start,
                saw_cr,
            } => {
                let total = total.saturating_add(1);
                if total > MAX_TRAILER_LEN {
                    return Err(BodyError::TrailersTooLarge);
                }
                match (saw_cr, byte) {
                    // An empty line ends the trailer section and the message.
                    (true, b'\n') if at_line_start => State::Done,
                    (true, b'\n') => State::Trailers {
                        total,
                        at_line_start: true,
                        saw_cr: false,
                    },
                    (true, _) | (false, b'\n') => return Err(BodyError::BadLineEnding),
                    (false, b'\r') => State::Trailers {
                        total,
                        at_line_start,
                        saw_cr: true,
                    },
                    (false, b) if b == b'\t' || !b.is_ascii_control() => State::Trailers {
                        total,
                        at_line_start: false,
                        saw_cr: false,
                    },
                    (false, _) => return Err(BodyError::MalformedTrailer),
                }
            }
            // The other states never reach framing_byte; keep whatever state there is.
            other => other,
        };
        Ok(())
    }

    fn chunk_size_known(&self, size: u64) -> Result<State, BodyError> {
        if size == 0 {
            return Ok(State::Trailers {
                total: 0,
                at_line_start: true,
                saw_cr: false,
            });
        }
        // Refuse an oversized chunk before delivering any of it.
        let total = self.delivered.checked_add(size);
        let too_large = match (total, self.max_body_len) {
            (None, _) => true,
            (Some(t), Some(cap)) => t > cap,
            (Some(_), None) => false,
        };
        if too_large {
            return Err(BodyError::BodyTooLarge);
        }
        Ok(State::ChunkData { remaining: size })
    }
}

/// One byte of a chunk-size line other than CR: `1*HEXDIG [BWS ";" ext...]`.
fn chunk_line_byte(
    byte: u8,
    size: u64,
    digits: usize,
    part: LinePart,
) -> Result<(u64, usize, LinePart), BodyError> {
    match part {
        LinePart::Digits => {
            if let Some(d) = hex_value(byte) {
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(u64::from(d)))
                    .ok_or(BodyError::ChunkSizeOverflow)?;
                return Ok((size, digits.saturating_add(1), LinePart::Digits));
            }
            if digits == 0 {
                return Err(BodyError::InvalidChunkSize);
            }
            after_digits(byte, size, digits)
        }
        LinePart::Space => after_digits(byte, size, digits),
        LinePart::Extension => {
            if byte == b'\n' {
                Err(BodyError::BadLineEnding)
            } else if byte == b'\t' || !byte.is_ascii_control() {
                Ok((size, digits, LinePart::Extension))
            } else {
                Err(BodyError::InvalidChunkSize)
            }
        }
    }
}

fn after_digits(byte: u8, size: u64, digits: usize) -> Result<(u64, usize, LinePart), BodyError> {
    match byte {
        b' ' | b'\t' => Ok((size, digits, LinePart::Space)),
        b';' => Ok((size, digits, LinePart::Extension)),
        b'\n' => Err(BodyError::BadLineEnding),
        _ => Err(BodyError::InvalidChunkSize),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn framing_only(consumed: usize, done: bool) -> Decoded {
    Decoded {
        consumed,
        body: consumed..consumed,
        done,
    }
}

fn run_len(run: &Range<usize>) -> u64 {
    run.len() as u64
}

/// `min(remaining, available)` without lossy casts.
fn clamp(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Feeds `input` in one piece, collecting the body.
    fn decode_all(framing: BodyFraming, input: &[u8]) -> (Result<Vec<u8>, BodyError>, usize) {
        let mut d = BodyDecoder::new(framing, None);
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            match d.decode(&input[pos..]) {
                Err(e) => return (Err(e), pos),
                Ok(step) => {
                    body.extend_from_slice(&input[pos..][step.body.clone()]);
                    pos += step.consumed;
                    if step.done {
                        return (Ok(body), pos);
                    }
                    if pos == input.len() {
                        return (d.finish().map(|()| body), pos);
                    }
                }
            }
        }
    }

    #[test]
    fn chunked_with_extension_and_trailer() {
        let input = b"4;name=val\r\nWiki\r\n5 \r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (body, used) = decode_all(BodyFraming::Chunked, input);
        assert_eq!(body.unwrap(), b"Wikipedia");
        assert_eq!(&input[used..], b"NEXT");
    }

    #[test]
    fn hex_digits_after_space_are_rejected() {
        let (r, _) = decode_all(BodyFraming::Chunked, b"1 2\r\nx\r\n0\r\n\r\n");
        assert_eq!(r, Err(BodyError::InvalidChunkSize));
    }

    #[test]
    fn errors_are_sticky() {
        let mut d = BodyDecoder::new(BodyFraming::Chunked, None);
        assert_eq!(d.decode(b"zz"), Err(BodyError::InvalidChunkSize));
        assert_eq!(d.decode(b"1\r\n"), Err(BodyError::InvalidChunkSize));
        assert_eq!(d.finish(), Err(BodyError::InvalidChunkSize));
    }
}

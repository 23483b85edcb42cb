//! One response, head and body, read from a buffer the caller refills. Still sans-I/O.
//!
//! The caller owns a receive buffer of at least `max_head_len` bytes (a complete head must fit in
//! it) and loops:
//!
//! ```text
//! loop {
//!     let step = reader.step(&buf[..filled])?;
//!     let consumed = step.consumed;          // copy out: `step` borrows `buf`
//!     let need_more = match step.event {
//!         Event::Head(head) => { remember(head); false }
//!         Event::Body(bytes) => { extractor.feed(bytes); false }
//!         Event::End { reusable } => break,
//!         Event::NeedMore => true,
//!     };
//!     buf.copy_within(consumed..filled, 0);
//!     filled -= consumed;
//!     if need_more {
//!         let n = conn.read(&mut buf[filled..]).await?;
//!         if n == 0 { reader.finish()?; break }   // Ok only for an until-close body
//!         filled += n;
//!     }
//! }
//! ```
//!
//! `NeedMore` never leaves the buffer full while a head is pending (a full buffer without a
//! complete head is [`HeadError::HeadTooLarge`] once it holds `max_head_len` bytes), and during
//! the body it always comes with all input consumed. 1xx interim heads are skipped; the client
//! never asks for an upgrade, so `101 Switching Protocols` is an error.
//!
//! The client does not pipeline: bytes after the end of the response are a protocol error. They
//! are reported when they arrive together with the end (`End { reusable: false }` and the bytes
//! left unconsumed) or later ([`ReadError::SurplusBytes`] from the next `step`).

use super::body::{BodyDecoder, BodyError};
use super::response::{parse_response_head, HeadError, ResponseHead};

/// Bounds for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Longest head accepted; the receive buffer must be at least this long.
    pub max_head_len: usize,
    /// Longest body accepted, if any cap.
    pub max_body_len: Option<u64>,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        ReaderLimits {
            max_head_len: super::response::DEFAULT_MAX_HEAD_LEN,
            max_body_len: None,
        }
    }
}

/// What the reader made of the input of one [`ResponseReader::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The final (non-1xx) head; its bytes are consumed.
    Head(ResponseHead),
    /// The next piece of the body, a slice of the input.
    Body(&'a [u8]),
    /// The response is complete. `reusable`: the connection may carry the next request (the
    /// server did not ask to close, the body was framed, and no surplus bytes followed).
    End { reusable: bool },
    /// All usable input is consumed; read more (or call [`ResponseReader::finish`] at EOF).
    NeedMore,
}

/// One step: the event and how many input bytes it used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<'a> {
    pub consumed: usize,
    pub event: Event<'a>,
}

/// Why a response could not be read. The connection must be dropped after any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadError {
    Head(HeadError),
    Body(BodyError),
    /// `101 Switching Protocols`, which the client never asks for.
    UnexpectedUpgrade,
    /// The connection closed before any byte of a response: typical for a keep-alive connection
    /// the server timed out. Safe to retry on a new connection.
    ClosedBeforeResponse,
    /// The connection closed in the middle of the head.
    TruncatedHead,
    /// Bytes arrived after the end of the response.
    SurplusBytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the head; `saw_bytes` once any byte of it arrived.
    Head {
        saw_bytes: bool,
    },
    Body {
        keep_alive: bool,
        body: BodyDecoder,
    },
    /// The last body piece was delivered; `End` comes next.
    Ending {
        keep_alive: bool,
    },
    Ended {
        reusable: bool,
    },
}

/// Reads one response of an exchange. Make a new one for each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseReader {
    limits: ReaderLimits,
    state: State,
}

impl ResponseReader {
    pub const fn new(limits: ReaderLimits) -> Self {
        ResponseReader {
            limits,
            state: State::Head { saw_bytes: false },
        }
    }

    /// Advances over `input` (the unconsumed bytes of the receive buffer).
    pub fn step<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ReadError> {
        match &mut self.state {
            State::Head { .. } => self.head(input),
            State::Body { keep_alive, body } => {
                let keep_alive = *keep_alive;
                let decoded = body.decode(input).map_err(ReadError::Body)?;
                let piece = input.get(decoded.body).unwrap_or(&[]);
                if !piece.is_empty() {
                    if decoded.done {
                        // Deliver the last piece now, the end on the next call.
                        self.state = State::Ending { keep_alive };
                    }
                    return Ok(Step {
                        consumed: decoded.consumed,
                        event: Event::Body(piece),
                    });
                }
                if decoded.done {
                    let reusable = keep_alive && decoded.consumed == input.len();
                    self.state = State::Ended { reusable };
                    return Ok(Step {
                        consumed: decoded.consumed,
                        event: Event::End { reusable },
                    });
                }
                Ok(need_more(decoded.consumed))
            }
            State::Ending { keep_alive } => {
                let reusable = *keep_alive && input.is_empty();
                self.state = State::Ended { reusable };
                Ok(Step {
                    consumed: 0,
                    event: Event::End { reusable },
                })
            }
            State::Ended { reusable } if input.is_empty() => Ok(Step {
                consumed: 0,
                event: Event::End {
                    reusable: *reusable,
                },
            }),
            State::Ended { .. } => Err(ReadError::SurplusBytes),
        }
    }

    fn head<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ReadError> {
        // Interim 1xx heads are skipped in place: the final head may already be in `input`, and
        // asking the caller to read first could wait forever.
        let mut skipped = 0usize;
        loop {
            let rest = input.get(skipped..).unwrap_or(&[]);
            self.state = State::Head {
                saw_bytes: !rest.is_empty(),
            };
            let head = match parse_response_head(rest, self.limits.max_head_len) {
                Ok(head) => head,
                Err(HeadError::Partial) => return Ok(need_more(skipped)),
                Err(e) => return Err(ReadError::Head(e)),
            };
            if head.status == 101 {
                return Err(ReadError::UnexpectedUpgrade);
            }
            skipped = skipped.saturating_add(head.head_len);
            if head.is_interim() {
                continue;
            }
            self.state = State::Body {
                keep_alive: head.keep_alive(),
                body: BodyDecoder::new(head.framing, self.limits.max_body_len),
            };
            return Ok(Step {
                consumed: skipped,
                event: Event::Head(head),
            });
        }
    }

    /// The connection reached EOF. `Ok` when the response ended there legitimately (an
    /// until-close body, or a response already complete).
    pub fn finish(&mut self) -> Result<(), ReadError> {
        match &mut self.state {
            State::Head { saw_bytes: false } => Err(ReadError::ClosedBeforeResponse),
            State::Head { saw_bytes: true } => Err(ReadError::TruncatedHead),
            State::Body { body, .. } => {
                body.finish().map_err(ReadError::Body)?;
                self.state = State::Ended { reusable: false };
                Ok(())
            }
            State::Ending { .. } | State::Ended { .. } => {
                self.state = State::Ended { reusable: false };
                Ok(())
            }
        }
    }
}

const fn need_more(consumed: usize) -> Step<'static> {
    Step {
        consumed,
        event: Event::NeedMore,
    }
}

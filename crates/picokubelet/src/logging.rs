//! Logs go to stderr through `tracing`; `RUST_LOG` filters them (default `info`).
//!
//! While the terminal view owns the screen, log lines would tear it, so they are captured
//! instead ([`capture`]) into a bounded ring the view shows; when the view ends, what is still
//! in the ring goes to stderr after all.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber once; a second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Sink)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Lines the ring keeps; older ones are counted, not kept.
pub const CAPTURE_LINES: usize = 500;

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<String>,
    dropped: u64,
}

/// `Some` while a view captures.
static CAPTURED: Mutex<Option<Ring>> = Mutex::new(None);

fn captured() -> MutexGuard<'static, Option<Ring>> {
    // A panic while holding the lock cannot leave a ring half-written in a way that matters.
    CAPTURED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Captures log lines until dropped; then writes the ones still held to stderr.
#[derive(Debug)]
pub struct Capture(());

/// Starts capturing log lines (see the module notes).
pub fn capture() -> Capture {
    captured().get_or_insert_with(Ring::default);
    Capture(())
}

impl Capture {
    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        match captured().as_ref() {
            Some(ring) => ring
                .lines
                .iter()
                .skip(ring.lines.len().saturating_sub(n))
                .cloned()
                .collect(),
            None => Vec::new(),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let Some(ring) = captured().take() else {
            return;
        };
        let mut err = std::io::stderr().lock();
        if ring.dropped > 0 {
            let _ = writeln!(
                err,
                "({} earlier log lines of the terminal view's time were not kept)",
                ring.dropped
            );
        }
        for line in ring.lines {
            let _ = writeln!(err, "{line}");
        }
    }
}

/// Removes ANSI escape sequences (the subscriber colours lines when stderr is a terminal).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI: ESC '[' parameters, then one final byte in '@'..='~'.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// The subscriber's writer: stderr, or the ring while capturing.
struct Sink;

/// One formatted event (the subscriber writes each event through one writer).
enum SinkWriter {
    Stderr(std::io::Stderr),
    Capture(Vec<u8>),
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> SinkWriter {
        if captured().is_some() {
            SinkWriter::Capture(Vec::new())
        } else {
            SinkWriter::Stderr(std::io::stderr())
        }
    }
}

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            SinkWriter::Stderr(e) => e.write(buf),
            SinkWriter::Capture(v) => v.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            SinkWriter::Stderr(e) => e.flush(),
            SinkWriter::Capture(_) => Ok(()),
        }
    }
}

impl Drop for SinkWriter {
    fn drop(&mut self) {
        let SinkWriter::Capture(bytes) = self else {
            return;
        };
        let text = strip_ansi(&String::from_utf8_lossy(bytes));
        let mut guard = captured();
        match guard.as_mut() {
            Some(ring) => {
                for line in text.lines().filter(|l| !l.is_empty()) {
                    if ring.lines.len() == CAPTURE_LINES {
                        ring.lines.pop_front();
                        ring.dropped += 1;
                    }
                    ring.lines.push_back(line.to_owned());
                }
            }
            // The view ended between making this writer and now: the line still goes out.
            None => {
                drop(guard);
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m node=a"),
            "2026  INFO node=a"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn captured_lines_are_kept_in_order_and_bounded() {
        let capture = capture();
        for i in 0..CAPTURE_LINES + 3 {
            let mut w = Sink.make_writer();
            writeln!(w, "line {i}").unwrap();
        }
        let last = capture.last(2);
        assert_eq!(
            last,
            [
                format!("line {}", CAPTURE_LINES + 1),
                format!("line {}", CAPTURE_LINES + 2)
            ]
        );
        assert_eq!(captured().as_ref().map(|r| r.dropped), Some(3));
        drop(capture);
        assert!(captured().is_none());
    }
}

//! The tap board as a child process inside the namespace, and its log: every line kept, written
//! to a file with the seconds since the board started, and waited on by the checks.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One line of the board's log.
#[derive(Clone, Debug)]
pub struct Line {
    pub text: String,
}

/// The lines so far; `ended` once the board's stdout closed.
#[derive(Default)]
struct Lines {
    lines: Vec<Line>,
    ended: bool,
}

/// The board's log, shared with the thread that reads it.
#[derive(Clone, Default)]
pub struct Log {
    inner: Arc<(Mutex<Lines>, Condvar)>,
}

impl Log {
    fn push(&self, text: String) {
        let (lock, changed) = &*self.inner;
        if let Ok(mut lines) = lock.lock() {
            lines.lines.push(Line { text });
        }
        changed.notify_all();
    }

    fn end(&self) {
        let (lock, changed) = &*self.inner;
        if let Ok(mut lines) = lock.lock() {
            lines.ended = true;
        }
        changed.notify_all();
    }

    /// How many lines came so far: a cursor for [`Log::wait`].
    pub fn len(&self) -> usize {
        self.inner.0.lock().map(|l| l.lines.len()).unwrap_or(0)
    }

    /// The lines from `from` on.
    pub fn since(&self, from: usize) -> Vec<Line> {
        self.inner
            .0
            .lock()
            .map(|l| l.lines.get(from..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }

    /// Waits (at most `bound`: a failure, not a synchronisation) for the first line from index
    /// `from` on that `wanted` accepts; its index and value.
    pub fn wait<T>(
        &self,
        from: usize,
        bound: Duration,
        mut wanted: impl FnMut(&str) -> Option<T>,
    ) -> Option<(usize, T)> {
        let deadline = Instant::now() + bound;
        let (lock, changed) = &*self.inner;
        let mut lines = lock.lock().ok()?;
        let mut next = from;
        loop {
            while let Some(line) = lines.lines.get(next) {
                if let Some(found) = wanted(&line.text) {
                    return Some((next, found));
                }
                next += 1;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if lines.ended {
                return None;
            }
            lines = changed.wait_timeout(lines, left).ok()?.0;
        }
    }

    /// Waits for a line containing `text`; its index.
    pub fn wait_text(&self, from: usize, bound: Duration, text: &str) -> Option<usize> {
        self.wait(from, bound, |line| line.contains(text).then_some(()))
            .map(|(i, ())| i)
    }
}

/// A running board, killed on drop.
pub struct Board {
    child: Child,
    pub log: Log,
    pub started: Instant,
}

impl Board {
    /// Starts `command` (the tap board inside the namespace); its lines go to `log_file` too.
    pub fn start(mut command: Command, log_file: &Path) -> Result<Board, String> {
        let mut file = File::create(log_file)
            .map_err(|e| format!("cannot write {}: {e}", log_file.display()))?;
        let started = Instant::now();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("the tap board does not start: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("the board's stdout is not piped")?;
        let log = Log::default();
        let reader = log.clone();
        std::thread::spawn(move || {
            for text in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{:>9.3} {text}", started.elapsed().as_secs_f64());
                reader.push(text);
            }
            reader.end();
        });
        Ok(Board {
            child,
            log,
            started,
        })
    }

    /// Waits (at most `bound`) for the board to exit.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Polling a child's exit: waitpid has no time-out.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The agent's log events: `[   1234 ms] agent: Event { … }`.
pub fn agent_event(line: &str) -> Option<(u64, &str)> {
    let rest = line.strip_prefix('[')?;
    let (ms, rest) = rest.split_once(" ms] agent: ")?;
    Some((ms.trim().parse().ok()?, rest))
}

/// `LeaseRenewed { late_us: N }` → N.
pub fn renewal_lateness_us(line: &str) -> Option<u64> {
    let (_, event) = agent_event(line)?;
    event
        .strip_prefix("LeaseRenewed { late_us: ")?
        .strip_suffix(" }")?
        .parse()
        .ok()
}

/// `tapboard: heap N B in use, peak P B` → P.
pub fn heap_peak(line: &str) -> Option<u64> {
    line.strip_prefix("tapboard: heap ")?
        .split_once(", peak ")?
        .1
        .strip_suffix(" B")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_lines_parse() {
        assert_eq!(
            renewal_lateness_us("[   10234 ms] agent: LeaseRenewed { late_us: 5120 }"),
            Some(5120)
        );
        assert_eq!(
            agent_event("[      12 ms] agent: SessionOpened { handshakes: 1 }"),
            Some((12, "SessionOpened { handshakes: 1 }"))
        );
        assert_eq!(renewal_lateness_us("agent: LeaseRenewed"), None);
        assert_eq!(
            heap_peak("tapboard: heap 1200 B in use, peak 52000 B"),
            Some(52000)
        );
    }
}

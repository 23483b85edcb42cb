//! `--signals-file`: board signals set by hand (tests, demos). A small text file of `key=value`
//! lines overrides the simulated board's figures for the keys it sets; the board re-reads it at
//! each snapshot when its modification time or length changed. A bad line is reported once per
//! version of the file and ignored: a typo must never stop the agent.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use picokubelet_core::runtime::BoardSnapshot;

/// The figures a signals file sets; `None` leaves the simulated value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub heap_free_bytes: Option<u32>,
    pub heap_total_bytes: Option<u32>,
    pub wifi_associations: Option<u32>,
    pub bssid_changes: Option<u32>,
    pub link_up: Option<bool>,
}

impl Overrides {
    /// `snapshot` with the set figures replaced.
    pub fn apply(&self, mut snapshot: BoardSnapshot) -> BoardSnapshot {
        if let Some(v) = self.heap_free_bytes {
            snapshot.heap_free_bytes = v;
        }
        if let Some(v) = self.heap_total_bytes {
            snapshot.heap_total_bytes = v;
        }
        if let Some(v) = self.wifi_associations {
            snapshot.wifi_associations = v;
        }
        if let Some(v) = self.bssid_changes {
            snapshot.bssid_changes = v;
        }
        if let Some(v) = self.link_up {
            snapshot.link_up = v;
        }
        snapshot
    }
}

/// Parses a signals file: blank lines and lines starting with `#` are skipped; every other line
/// is `key=value` (spaces around either allowed). Returns the overrides and one message per line
/// that was ignored (unknown key, bad value, no `=`). A key given twice: the last line wins.
pub fn parse(text: &str) -> (Overrides, Vec<String>) {
    let mut out = Overrides::default();
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = number + 1;
        let Some((key, value)) = line.split_once('=') else {
            problems.push(format!("line {number}: expected key=value"));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let count = |slot: &mut Option<u32>, problems: &mut Vec<String>| match value.parse() {
            Ok(v) => *slot = Some(v),
            Err(_) => problems.push(format!(
                "line {number}: {key} wants a whole number of at most {}, not {value:?}",
                u32::MAX
            )),
        };
        match key {
            "heap_free_bytes" => count(&mut out.heap_free_bytes, &mut problems),
            "heap_total_bytes" => count(&mut out.heap_total_bytes, &mut problems),
            "wifi_associations" => count(&mut out.wifi_associations, &mut problems),
            "bssid_changes" => count(&mut out.bssid_changes, &mut problems),
            "link_up" => match value {
                "true" | "1" => out.link_up = Some(true),
                "false" | "0" => out.link_up = Some(false),
                _ => problems.push(format!(
                    "line {number}: link_up wants true or false, not {value:?}"
                )),
            },
            _ => problems.push(format!(
                "line {number}: unknown key {key:?} (known: heap_free_bytes, heap_total_bytes, \
                 wifi_associations, bssid_changes, link_up)"
            )),
        }
    }
    (out, problems)
}

/// What identifies one version of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Missing,
    Seen {
        modified: Option<SystemTime>,
        len: u64,
    },
}

/// A signals file as one board sees it: the overrides of the version last read.
#[derive(Debug)]
pub struct SignalsFile {
    path: PathBuf,
    node: String,
    version: Cell<Option<Version>>,
    overrides: Cell<Overrides>,
    /// Reused across reloads (a board reads the file rarely; no need to allocate each time).
    text: RefCell<String>,
}

/// Files larger than this are refused (a signals file is a few lines).
pub const MAX_SIGNALS_FILE_BYTES: u64 = 64 * 1024;

impl SignalsFile {
    /// Reads nothing yet; the first [`SignalsFile::current`] does. `node` tags the warnings.
    pub fn new(path: &Path, node: &str) -> Self {
        SignalsFile {
            path: path.to_owned(),
            node: node.to_owned(),
            version: Cell::new(None),
            overrides: Cell::new(Overrides::default()),
            text: RefCell::new(String::new()),
        }
    }

    /// The overrides now: re-reads the file if it changed since the last call. A missing or
    /// unreadable file overrides nothing (and is reported once until it changes).
    pub fn current(&self) -> Overrides {
        let version = match std::fs::metadata(&self.path) {
            Ok(m) => Version::Seen {
                modified: m.modified().ok(),
                len: m.len(),
            },
            Err(_) => Version::Missing,
        };
        if self.version.get() == Some(version) {
            return self.overrides.get();
        }
        self.version.set(Some(version));
        let overrides = match version {
            Version::Missing => {
                tracing::warn!(node = %self.node, path = %self.path.display(),
                    "the signals file does not exist (yet): the simulated signals are used");
                Overrides::default()
            }
            Version::Seen { len, .. } if len > MAX_SIGNALS_FILE_BYTES => {
                tracing::warn!(node = %self.node, path = %self.path.display(), len,
                    "the signals file is larger than {MAX_SIGNALS_FILE_BYTES} bytes: ignored");
                Overrides::default()
            }
            Version::Seen { .. } => self.read(),
        };
        self.overrides.set(overrides);
        overrides
    }

    fn read(&self) -> Overrides {
        let mut text = self.text.borrow_mut();
        text.clear();
        let read = std::fs::File::open(&self.path)
            .and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut text));
        if let Err(e) = read {
            tracing::warn!(node = %self.node, path = %self.path.display(),
                "the signals file cannot be read ({e}): the simulated signals are used");
            return Overrides::default();
        }
        let (overrides, problems) = parse(&text);
        for problem in problems {
            tracing::warn!(node = %self.node, path = %self.path.display(),
                "signals file {problem}: line ignored");
        }
        tracing::debug!(node = %self.node, ?overrides, "signals file read");
        overrides
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_and_the_last_line_wins() {
        let (o, problems) = parse(
            "# demo\n heap_free_bytes = 10000\nheap_total_bytes=320000\nwifi_associations=4\n\
             bssid_changes=2\nlink_up=false\nheap_free_bytes=12000\n\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            o,
            Overrides {
                heap_free_bytes: Some(12_000),
                heap_total_bytes: Some(320_000),
                wifi_associations: Some(4),
                bssid_changes: Some(2),
                link_up: Some(false),
            }
        );
    }

    #[test]
    fn bad_lines_are_reported_and_the_good_ones_kept() {
        let (o, problems) = parse(
            "heap_free_bytes=lots\nnonsense\ncolour=blue\nlink_up=maybe\nheap_total_bytes=-1\n\
             bssid_changes=3\n",
        );
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].starts_with("line 1:"));
        assert!(problems[2].contains("colour"));
        assert_eq!(
            o,
            Overrides {
                bssid_changes: Some(3),
                ..Overrides::default()
            }
        );
    }

    #[test]
    fn apply_replaces_only_what_is_set() {
        let base = BoardSnapshot {
            heap_free_bytes: 1,
            heap_total_bytes: 2,
            wifi_associations: 3,
            bssid_changes: 4,
            link_up: true,
        };
        let o = Overrides {
            heap_free_bytes: Some(9),
            link_up: Some(false),
            ..Overrides::default()
        };
        let s = o.apply(base);
        assert_eq!(
            (s.heap_free_bytes, s.heap_total_bytes, s.wifi_associations),
            (9, 2, 3)
        );
        assert_eq!((s.bssid_changes, s.link_up), (4, false));
    }

    #[test]
    fn the_file_is_reread_when_it_changes_and_a_missing_file_overrides_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signals");
        let file = SignalsFile::new(&path, "n");
        assert_eq!(file.current(), Overrides::default());
        std::fs::write(&path, "heap_free_bytes=5\n").unwrap();
        assert_eq!(file.current().heap_free_bytes, Some(5));
        // A different length is a new version even if the mtime did not move.
        std::fs::write(&path, "heap_free_bytes=123456\n").unwrap();
        assert_eq!(file.current().heap_free_bytes, Some(123_456));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.current(), Overrides::default());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_reports_or_sets(text in "\\PC{0,200}") {
            let (_, problems) = parse(&text);
            proptest::prop_assert!(problems.len() <= text.lines().count());
        }
    }
}

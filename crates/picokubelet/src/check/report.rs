//! The report `check` prints: one line per check, ✓, ! or ✗, and under each ! and ✗ what to
//! do. A ! is something `run` works with but a user should know (it waits for a person): it
//! does not fail `check`.

use std::fmt;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Pass,
    /// `run` works, but not by itself (e.g. it waits for `kubectl certificate approve`).
    Warn,
    Fail,
}

impl Mark {
    fn symbol(self) -> char {
        match self {
            Mark::Pass => '✓',
            Mark::Warn => '!',
            Mark::Fail => '✗',
        }
    }
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub mark: Mark,
    /// What was checked and what was found.
    pub text: String,
    /// For a failed check or a warning: what to do (empty when it was already said above).
    pub fix: String,
}

/// Every check, in the order run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    pub fn pass(&mut self, text: impl Into<String>) {
        self.lines.push(Line {
            mark: Mark::Pass,
            text: text.into(),
            fix: String::new(),
        });
    }

    /// A failed check; a fix already given for an earlier line is not repeated.
    pub fn fail(&mut self, text: impl Into<String>, fix: impl Into<String>) {
        self.push(Mark::Fail, text.into(), fix.into());
    }

    /// A check `run` gets past, but only with a person's help; it does not fail `check`.
    pub fn warn(&mut self, text: impl Into<String>, fix: impl Into<String>) {
        self.push(Mark::Warn, text.into(), fix.into());
    }

    fn push(&mut self, mark: Mark, text: String, fix: String) {
        let said = self
            .lines
            .iter()
            .any(|l| l.mark != Mark::Pass && l.fix == fix);
        self.lines.push(Line {
            mark,
            text,
            fix: if said { String::new() } else { fix },
        });
    }

    pub fn failures(&self) -> usize {
        self.count(Mark::Fail)
    }

    pub fn warnings(&self) -> usize {
        self.count(Mark::Warn)
    }

    fn count(&self, mark: Mark) -> usize {
        self.lines.iter().filter(|l| l.mark == mark).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{} {}", line.mark.symbol(), line.text)?;
            if !line.fix.is_empty() {
                for (i, part) in line.fix.lines().enumerate() {
                    let lead = if i == 0 { "→ " } else { "  " };
                    writeln!(f, "    {lead}{part}")?;
                }
            }
        }
        match (self.failures(), self.warnings()) {
            (0, 0) => writeln!(
                f,
                "all {} checks passed: `picokubelet run` with these flags should join",
                self.lines.len()
            ),
            (0, w) => writeln!(
                f,
                "no check failed, {w} of {} need a person (!): `picokubelet run` with these flags joins once that is done",
                self.lines.len()
            ),
            (n, _) => writeln!(
                f,
                "{n} of {} checks failed: `picokubelet run` would not work until they pass",
                self.lines.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_is_said_once() {
        let mut r = Report::default();
        r.pass("a");
        r.fail("b", "do x");
        r.fail("c", "do x");
        assert_eq!(r.failures(), 2);
        assert_eq!(
            r.to_string(),
            "✓ a\n✗ b\n    → do x\n✗ c\n2 of 3 checks failed: `picokubelet run` would not work until they pass\n"
        );
    }

    #[test]
    fn a_warning_is_shown_with_its_fix_and_fails_nothing() {
        let mut r = Report::default();
        r.pass("a");
        r.warn("b waits", "approve it");
        assert_eq!((r.failures(), r.warnings()), (0, 1));
        assert_eq!(
            r.to_string(),
            "✓ a\n! b waits\n    → approve it\nno check failed, 1 of 2 need a person (!): `picokubelet run` with these flags joins once that is done\n"
        );
        r.fail("c", "approve it");
        assert_eq!(r.failures(), 1);
        assert!(r.to_string().ends_with(
            "✗ c\n1 of 3 checks failed: `picokubelet run` would not work until they pass\n"
        ));
    }
}

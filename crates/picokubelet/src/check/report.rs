//! The report `check` prints: one line per check, ✓ or ✗, and under each ✗ what to do.

use std::fmt;

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub passed: bool,
    /// What was checked and what was found.
    pub text: String,
    /// For a failed check: what to do (empty when it was already said above).
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
            passed: true,
            text: text.into(),
            fix: String::new(),
        });
    }

    /// A failed check; a fix already given for an earlier line is not repeated.
    pub fn fail(&mut self, text: impl Into<String>, fix: impl Into<String>) {
        let fix = fix.into();
        let said = self.lines.iter().any(|l| !l.passed && l.fix == fix);
        self.lines.push(Line {
            passed: false,
            text: text.into(),
            fix: if said { String::new() } else { fix },
        });
    }

    pub fn failures(&self) -> usize {
        self.lines.iter().filter(|l| !l.passed).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            let mark = if line.passed { '✓' } else { '✗' };
            writeln!(f, "{mark} {}", line.text)?;
            if !line.fix.is_empty() {
                for (i, part) in line.fix.lines().enumerate() {
                    let lead = if i == 0 { "→ " } else { "  " };
                    writeln!(f, "    {lead}{part}")?;
                }
            }
        }
        match self.failures() {
            0 => writeln!(
                f,
                "all {} checks passed: `picokubelet run` with these flags should join",
                self.lines.len()
            ),
            n => writeln!(
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
}

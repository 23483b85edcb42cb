//! A credential that must never reach a log, an error message or a terminal.

use std::fmt;

/// A bearer token (or any other secret text). Its `Debug` says `<redacted>`; it has no
/// `Display`, so `{}` does not compile, and the only way to the text is [`Secret::expose`], which
/// is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret text, for the one place that sends it (the `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the text is empty (an empty token is no credential).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not even the length: it narrows down the token type.
        f.write_str("Secret(<redacted>)")
    }
}

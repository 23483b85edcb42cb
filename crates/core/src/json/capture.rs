//! A string value longer than the extractor's scratch, copied piece by piece (from
//! [`Visitor::text_piece`](super::extract::Visitor::text_piece)) into a caller buffer.

/// The copy of one string value. Text beyond the buffer sets [`TextCapture::overflowed`] and is
/// dropped, so a cut value is never mistaken for the whole one.
#[derive(Debug)]
pub struct TextCapture<'b> {
    buf: &'b mut [u8],
    len: usize,
    overflowed: bool,
    seen: bool,
}

impl<'b> TextCapture<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        TextCapture {
            buf,
            len: 0,
            overflowed: false,
            seen: false,
        }
    }

    /// Appends one piece (whole characters).
    pub fn push(&mut self, piece: &str) {
        self.seen = true;
        if self.overflowed {
            return;
        }
        match self.buf.get_mut(self.len..self.len + piece.len()) {
            Some(dst) => {
                dst.copy_from_slice(piece.as_bytes());
                self.len += piece.len();
            }
            None => self.overflowed = true,
        }
    }

    /// Marks the value as present (an empty string gets no pieces).
    pub fn mark_seen(&mut self) {
        self.seen = true;
    }

    /// Starts over (the value appeared again: the last one counts).
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
        self.seen = false;
    }

    /// The whole value; `None` if it did not fit or never appeared.
    pub fn text(&self) -> Option<&str> {
        if self.overflowed || !self.seen {
            return None;
        }
        core::str::from_utf8(self.buf.get(..self.len)?).ok()
    }

    /// The value was longer than the buffer.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The value appeared in the document.
    pub fn seen(&self) -> bool {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_fits_is_kept_and_one_that_does_not_is_refused_whole() {
        let mut buf = [0u8; 8];
        let mut c = TextCapture::new(&mut buf);
        assert_eq!(c.text(), None);
        c.mark_seen();
        assert_eq!(c.text(), Some(""));
        for piece in ["ab", "cd", "é", "fg"] {
            c.push(piece);
        }
        assert_eq!(c.text(), Some("abcdéfg"));
        c.push("h");
        assert!(c.overflowed());
        assert_eq!(c.text(), None);
        c.clear();
        c.push("x");
        assert_eq!(c.text(), Some("x"));
    }
}

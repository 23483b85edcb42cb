//! Where the body's log lines go: each board defines the output (esp-println's UART/USB on a
//! chip, stdout on Linux) as `pk_body_print`, a link-time seam like esp-backtrace's
//! `custom_halt`: a board that forgets it does not link, and nothing is printed before a
//! registration could run.

use core::fmt;

extern "Rust" {
    /// Prints one log line (`args` carries no newline). Defined once by every board with
    /// `#[no_mangle] fn pk_body_print(args: core::fmt::Arguments<'_>)`.
    fn pk_body_print(args: fmt::Arguments<'_>);
}

/// Prints one line through the board's console.
pub fn print_line(args: fmt::Arguments<'_>) {
    // SAFETY: `pk_body_print` is a safe Rust function with exactly this signature, defined by
    // the board crate (declared above; the linker refuses a missing one).
    unsafe { pk_body_print(args) }
}

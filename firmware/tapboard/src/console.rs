//! The body's console (`picokubelet_firmware_body::console`): stdout, one line each.

use std::io::Write;

/// The body's `pk_body_print` seam on Linux.
#[no_mangle]
fn pk_body_print(args: core::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the board: the line is lost, as on a chip without a
    // serial monitor attached.
    let _ = writeln!(out, "{args}");
}

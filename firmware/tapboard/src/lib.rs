//! The tap board: the firmware's chip-independent body (`firmware/body`) on Linux.
//!
//! - [`args`]: the command line and the defaults from the `PK_*` environment;
//! - [`flash`]: a flash image file as the board's flash (`embedded_storage::ReadStorage`), and
//!   the image a board gets from `espflash` (partition table + `pkconfig` partition);
//! - [`heap`]: the heap figures from a counting global allocator;
//! - [`console`]: the body's log lines on stdout;
//! - [`tap`]: a TAP device as an embassy-net driver, link state from its flags.

pub mod args;
pub mod console;
pub mod flash;
pub mod heap;
pub mod tap;

//! The configuration's CA buffer (`CA_DER_MAX`, 2 KiB) when the record came from flash and left
//! it idle (`config::Loaded::idle_ca`): the bring-up lends it, the bootstrap keeps the
//! certificate in use there instead of in a static of its own (issue 10's RAM budget).

use core::cell::Cell;

use critical_section::Mutex;
use picokubelet_core::tls::CA_DER_MAX;

/// The idle CA buffer while lent: set by [`lend`], taken once by [`take`].
static IDLE_CA: Mutex<Cell<Option<&'static mut [u8; CA_DER_MAX]>>> = Mutex::new(Cell::new(None));

/// The configuration's idle CA buffer, once; `None` when the compile-time defaults use it.
pub fn take() -> Option<&'static mut [u8; CA_DER_MAX]> {
    critical_section::with(|cs| IDLE_CA.borrow(cs).take())
}

/// Lends the configuration's idle CA buffer (`Loaded::idle_ca`) to the bootstrap.
pub fn lend(buffer: &'static mut [u8; CA_DER_MAX]) {
    critical_section::with(|cs| IDLE_CA.borrow(cs).set(Some(buffer)));
}

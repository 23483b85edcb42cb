//! PATCH(picokubelet L7): fuzzing builds only (`--cfg fuzzing`, which cargo-fuzz sets for every
//! crate); never compiled into the firmware or the host agent.
//!
//! Each fuzz execution opens one handshake, and its two P-256 scalar multiplications (the key
//! share in the ClientHello, the ECDHE with the server's share) took ~90 % of the time
//! (`perf` on `tls_server_records`: `fe_mul` and friends), capping the target at a few hundred
//! executions a second. The fuzz harness's RNG is fixed, so every execution draws the same client
//! random and the same secret; the results are memoised per thread, keyed by the client random
//! (and the server's share). A harness with a real RNG draws a new random each time and always
//! misses, computing as before. What is fuzzed — the record layer and every parser after it —
//! runs unchanged.
extern crate std;

use core::cell::RefCell;

use p256::ecdh::{EphemeralSecret, SharedSecret};
use p256::{EncodedPoint, FieldBytes, PublicKey};
use std::vec::Vec;

use crate::handshake::Random;

std::thread_local! {
    static KEY_SHARE: RefCell<Option<(Random, EncodedPoint)>> = const { RefCell::new(None) };
    static SHARED: RefCell<Option<(Random, Vec<u8>, FieldBytes)>> = const { RefCell::new(None) };
}

/// The client's key share for `secret`, drawn right after `random` from the same RNG.
pub(crate) fn key_share(random: &Random, secret: &EphemeralSecret) -> EncodedPoint {
    KEY_SHARE.with(|memo| {
        let mut memo = memo.borrow_mut();
        match memo.as_ref() {
            Some((r, point)) if r == random => point.clone(),
            _ => {
                let point = EncodedPoint::from(&secret.public_key());
                *memo = Some((*random, point.clone()));
                point
            }
        }
    })
}

/// The ECDHE shared secret of `secret` (drawn after `random`) with the server's share.
pub(crate) fn shared_secret(
    random: &Random,
    secret: &EphemeralSecret,
    server_share: &[u8],
    server_key: &PublicKey,
) -> SharedSecret {
    SHARED.with(|memo| {
        let mut memo = memo.borrow_mut();
        match memo.as_ref() {
            Some((r, share, bytes)) if r == random && share.as_slice() == server_share => {
                SharedSecret::from(*bytes)
            }
            _ => {
                let shared = secret.diffie_hellman(server_key);
                *memo = Some((*random, server_share.to_vec(), *shared.raw_secret_bytes()));
                shared
            }
        }
    })
}

//! Key pairs for the test PKI: ECDSA from ring (through rcgen), RSA from the `rsa` crate (rcgen
//! with ring signs with an RSA key but cannot make one). An RSA-4096 key takes about a second
//! even optimised (the root Cargo.toml builds the bignum crates at opt-level 3 in debug), so RSA
//! keys come from a per-process pool: every server of a test binary shares them, which is fine
//! for a test PKI (each server still gets its own certificates).

use std::sync::Mutex;

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::PrivatePkcs8KeyDer;

/// What a certificate's key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256, signing with SHA-256 (k3s, kubeadm's `--encryption-algorithm=ECDSA-P256`).
    EcdsaP256,
    /// Ed25519 (a key the board does not verify).
    Ed25519,
    /// RSA of this many bits, signing certificates with PKCS#1 v1.5 SHA-256 (kubeadm's default).
    /// `slot` picks another key of the same size from the pool (a root and its intermediate
    /// must not share a key).
    Rsa {
        /// Modulus size: 2048, 3072 or 4096.
        bits: usize,
        /// Which key of that size.
        slot: usize,
    },
}

/// A fresh key pair (ECDSA) or one from the per-process pool (RSA).
pub fn key_pair(kind: KeyKind) -> Result<KeyPair, rcgen::Error> {
    match kind {
        KeyKind::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
        KeyKind::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        KeyKind::Rsa { bits, slot } => KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(rsa_pkcs8(bits, slot)?),
            &rcgen::PKCS_RSA_SHA256,
        ),
    }
}

/// PKCS#8 DER of the `slot`th RSA key of `bits` bits, generated once per process.
fn rsa_pkcs8(bits: usize, slot: usize) -> Result<Vec<u8>, rcgen::Error> {
    use rsa::pkcs8::EncodePrivateKey as _;
    type Pool = Vec<((usize, usize), Vec<u8>)>;
    static POOL: Mutex<Pool> = Mutex::new(Vec::new());
    // The lock is held while generating, so two servers starting together share one key.
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, der)) = pool.iter().find(|(k, _)| *k == (bits, slot)) {
        return Ok(der.clone());
    }
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
        .map_err(|_| rcgen::Error::KeyGenerationUnavailable)?;
    let der = key
        .to_pkcs8_der()
        .map_err(|_| rcgen::Error::KeyGenerationUnavailable)?
        .as_bytes()
        .to_vec();
    pool.push(((bits, slot), der.clone()));
    Ok(der)
}

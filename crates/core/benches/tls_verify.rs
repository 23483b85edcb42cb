//! Time per signature verification, by kind, through the core's own verifier code
//! (`tls::signature`): what a handshake costs the board on top of the key exchange.
//!
//!   cargo bench -p picokubelet-core --bench tls_verify            # all kinds, 50 each
//!   cargo bench -p picokubelet-core --bench tls_verify -- rsa-4096-pkcs1 200
//!
//! Instruction counts for the riscv32 estimate (one verification, keys made outside it):
//!   valgrind --tool=callgrind --toggle-collect='tls_verify::measured*' \
//!     target/release/deps/tls_verify-<hash> rsa-2048-pss 1
//!
//! Keys and signatures are made per run (rsa crate, p256/p384); only the verification is timed.

use std::hint::black_box;
use std::time::Instant;

use picokubelet_core::tls::embedded_tls::SignatureScheme;
use picokubelet_core::tls::rsa::HashAlg;
use picokubelet_core::tls::signature::{verify_certificate, verify_handshake, VerifyKey};
use picokubelet_core::tls::x509::{PublicKey, SigAlg};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;

struct Case {
    name: String,
    /// DER INTEGER contents of n and e (RSA) or the SEC1 point (EC).
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    kind: Kind,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Kind {
    RsaPkcs1,
    RsaPss,
    P256,
    P384,
}

fn der_int(be: Vec<u8>) -> Vec<u8> {
    if be.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v = vec![0];
        v.extend(be);
        v
    } else {
        be
    }
}

fn cases() -> Vec<Case> {
    let msg = vec![0x20u8; 64 + 34 + 32]; // a CertificateVerify-sized message
    let mut out = Vec::new();
    for bits in [2048, 3072, 4096] {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).unwrap();
        let n = der_int(key.n().to_bytes_be());
        let e = der_int(key.e().to_bytes_be());
        let pkcs1 = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone())
            .sign(&msg)
            .to_vec();
        let pss = rsa::pss::SigningKey::<sha2::Sha256>::new(key)
            .sign_with_rng(&mut rand_core::OsRng, &msg)
            .to_vec();
        for (suffix, kind, sig) in [("pkcs1", Kind::RsaPkcs1, pkcs1), ("pss", Kind::RsaPss, pss)] {
            out.push(Case {
                name: format!("rsa-{bits}-{suffix}"),
                modulus: n.clone(),
                exponent: e.clone(),
                kind,
                msg: msg.clone(),
                sig,
            });
        }
    }
    let k = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let sig: p256::ecdsa::Signature = k.sign(&msg);
    out.push(Case {
        name: "ecdsa-p256".into(),
        modulus: k
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        exponent: vec![],
        kind: Kind::P256,
        msg: msg.clone(),
        sig: sig.to_der().as_bytes().to_vec(),
    });
    let k = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let sig: p384::ecdsa::Signature = k.sign(&msg);
    out.push(Case {
        name: "ecdsa-p384".into(),
        modulus: k
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        exponent: vec![],
        kind: Kind::P384,
        msg,
        sig: sig.to_der().as_bytes().to_vec(),
    });
    out
}

/// One verification, as the verifier does it (key decoding included).
#[inline(never)]
fn measured(c: &Case) -> bool {
    match c.kind {
        Kind::RsaPkcs1 => verify_certificate(
            &PublicKey::Rsa {
                modulus: &c.modulus,
                exponent: &c.exponent,
            },
            SigAlg::RsaPkcs1(HashAlg::Sha256),
            &c.msg,
            &c.sig,
        )
        .is_ok(),
        Kind::RsaPss => {
            let key = VerifyKey::new(&PublicKey::Rsa {
                modulus: &c.modulus,
                exponent: &c.exponent,
            });
            key.is_ok_and(|k| {
                verify_handshake(&k, SignatureScheme::RsaPssRsaeSha256, &c.msg, &c.sig).is_ok()
            })
        }
        Kind::P256 => verify_certificate(
            &PublicKey::P256(&c.modulus),
            SigAlg::Ecdsa(HashAlg::Sha256),
            &c.msg,
            &c.sig,
        )
        .is_ok(),
        Kind::P384 => verify_certificate(
            &PublicKey::P384(&c.modulus),
            SigAlg::Ecdsa(HashAlg::Sha384),
            &c.msg,
            &c.sig,
        )
        .is_ok(),
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this once as a smoke test.
    let benching = std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let only = args.first().cloned();
    let default_iters = if benching { 50 } else { 1 };
    let iters: u32 = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_iters);
    let cases = cases();
    println!("{:<16} {:>12} {:>8}", "kind", "µs/verify", "n");
    for c in cases
        .iter()
        .filter(|c| only.as_ref().is_none_or(|o| *o == c.name))
    {
        assert!(measured(c), "{}: the signature must verify", c.name);
        let start = Instant::now();
        for _ in 0..iters {
            assert!(black_box(measured(black_box(c))));
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
        println!("{:<16} {:>12.1} {:>8}", c.name, per, iters);
    }
}

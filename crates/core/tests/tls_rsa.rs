//! RSA, P-384 and mixed chains (issue 11 item 1) and the verifier's error detail (item 5).
//!
//! Handshakes: picokubelet_core::tls::open against a rustls TLS 1.3 server on 127.0.0.1 with
//! rcgen chains made per run (RSA keys from the `rsa` crate). rustls signs an RSA
//! CertificateVerify with `rsa_pss_rsae_sha512` (its first choice among our offers); kube-apiserver
//! (Go) uses `rsa_pss_rsae_sha256` (recorded-2/F02), so PSS-SHA-256/384 are checked below by
//! driving the verifier directly with signatures made by the `rsa` crate.
//! Refusals of keys nobody can hold (RSA-1024, RSA-8192) are certificates for a public key only,
//! checked through the verifier (rustls will not serve a certificate without its key).

// The verifier's errors are returned by value as the core does (no alloc there).
#![allow(clippy::result_large_err)]

mod tls_support;

use std::sync::atomic::Ordering;

use embedded_tls::{
    Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef, SignatureScheme,
    TlsVerifier,
};
use picokubelet_core::tls::{
    Detail, K8sVerifier, KeyKind, Rejection, ServerIdentity, SigError, TlsError, TlsOpenError,
    VerifyError,
};
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
use sha2::{Digest, Sha256};
use tls_support::*;

const RSA_SHA384: Key = Key::Rsa {
    bits: 2048,
    index: 0,
    alg: &rcgen::PKCS_RSA_SHA384,
};
const RSA_SHA512: Key = Key::Rsa {
    bits: 4096,
    index: 0,
    alg: &rcgen::PKCS_RSA_SHA512,
};

/// Opens against a rustls server with `leaf` (chain included) and does 2 GETs.
async fn handshake(ca: &Ca, leaf: &ServerCert) -> Outcome {
    let s = start_server(leaf, ServerOpts::default()).await;
    let o = run_verified(s.addr, &ca.der, "kubernetes", now(), 2).await;
    if o.open.is_ok() {
        assert_eq!(s.handshakes_ok.load(Ordering::SeqCst), 1);
    }
    o
}

fn assert_ok(o: &Outcome) {
    assert!(o.open.is_ok(), "{}", o.open.as_ref().unwrap_err());
    assert_eq!(
        o.bodies,
        [
            r#"{"conn":1,"req":1,"path":"/r0"}"#,
            r#"{"conn":1,"req":2,"path":"/r1"}"#
        ]
    );
}

#[tokio::test]
async fn kubeadm_style_rsa2048_leaf_under_rsa4096_root() {
    // recorded-2/F02: RSA-2048 kube-apiserver certificate under an RSA-4096 CA, PKCS#1 SHA-256.
    let ca = Ca::with_key("realk8s-rsa-ca", rsa(4096));
    let leaf = ca.issue_key("kube-apiserver", K3S_SANS, rsa(2048));
    assert_ok(&handshake(&ca, &leaf).await);
}

#[tokio::test]
async fn rsa3072_and_sha384_sha512_certificate_signatures() {
    let ca = Ca::with_key("rsa-3072-ca", rsa(3072));
    assert_ok(&handshake(&ca, &ca.issue_key("k", K3S_SANS, rsa(2048))).await);
    // SHA-384 signature by an RSA-2048 root over an RSA-3072 leaf.
    let ca = Ca::with_key("sha384-ca", RSA_SHA384);
    assert_ok(&handshake(&ca, &ca.issue_key("k", K3S_SANS, rsa(3072))).await);
    // SHA-512 by an RSA-4096 root.
    let ca = Ca::with_key("sha512-ca", RSA_SHA512);
    assert_ok(&handshake(&ca, &ca.issue_key("k", K3S_SANS, rsa(2048))).await);
}

#[tokio::test]
async fn ecdsa_p384_chain_signs_ecdsa_secp384r1_sha384() {
    let ca = Ca::with_key("p384-ca", Key::P384);
    assert_ok(&handshake(&ca, &ca.issue_key("k", K3S_SANS, Key::P384)).await);
    // P-384 root over a P-256 leaf (ecdsa-with-SHA384 by P-384).
    assert_ok(&handshake(&ca, &ca.issue_key("k", K3S_SANS, Key::P256)).await);
}

#[tokio::test]
async fn mixed_chains_both_ways_and_through_intermediates() {
    // RSA root over an ECDSA leaf.
    let rsa_root = Ca::with_key("rsa-root", rsa(4096));
    assert_ok(&handshake(&rsa_root, &rsa_root.issue_key("k", K3S_SANS, Key::P256)).await);
    // ECDSA root over an RSA leaf.
    let ec_root = Ca::with_key("ec-root", Key::P384);
    assert_ok(&handshake(&ec_root, &ec_root.issue_key("k", K3S_SANS, rsa(2048))).await);
    // RSA root → P-256 intermediate → RSA leaf, and ECDSA root → RSA intermediate → P-384 leaf.
    let i1 = rsa_root.intermediate_with("p256-intermediate", Key::P256);
    let leaf = i1.issue_key("k", K3S_SANS, rsa(2048)).with_chain(&[&i1]);
    assert_ok(&handshake(&rsa_root, &leaf).await);
    let i2 = ec_root.intermediate_with("rsa-intermediate", rsa(3072));
    let leaf = i2.issue_key("k", K3S_SANS, Key::P384).with_chain(&[&i2]);
    assert_ok(&handshake(&ec_root, &leaf).await);
}

#[tokio::test]
async fn rsa_leaf_under_another_rsa_ca_of_the_same_name_is_refused_with_its_names() {
    let ca = Ca::with_key("cluster-ca", rsa(2048));
    // same name and key size, another key: the signature is well-formed but wrong
    let impostor = Ca::with_key(
        "cluster-ca",
        Key::Rsa {
            bits: 2048,
            index: 1,
            alg: &rcgen::PKCS_RSA_SHA256,
        },
    );
    let o = handshake(
        &ca,
        &impostor.issue_key("kube-apiserver", K3S_SANS, rsa(2048)),
    )
    .await;
    let e = verify_error(&o);
    assert_eq!(e.rejection, Rejection::UntrustedChain);
    assert!(
        matches!(
            e.detail,
            Detail::ChainSignature {
                error: SigError::BadSignature,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the signature of CN=cluster-ca on CN=kube-apiserver: the signature does not verify"
    );
    // and a CA of another name: unknown issuer, both names given
    let other = Ca::with_key("other-ca", rsa(4096));
    let o = handshake(&ca, &other.issue_key("kube-apiserver", K3S_SANS, rsa(3072))).await;
    assert_eq!(
        verify_error(&o).to_string(),
        "CN=kube-apiserver is issued by CN=other-ca, which is neither the configured CA \
         (CN=cluster-ca) nor an intermediate the server sent: is the CA the one of this cluster?"
    );
}

#[tokio::test]
async fn name_mismatch_lists_the_certificate_names() {
    let ca = Ca::with_key("ca", rsa(2048));
    let leaf = ca.issue_key(
        "kube-apiserver",
        &["kubernetes", "10.43.0.1", "::1"],
        rsa(2048),
    );
    let s = start_server(&leaf, ServerOpts::default()).await;
    let o = run_verified(s.addr, &ca.der, "127.0.0.1", now(), 0).await;
    let e = verify_error(&o);
    assert_eq!(e.rejection, Rejection::NameMismatch);
    assert_eq!(
        e.to_string(),
        "server certificate is not valid for IP 127.0.0.1: it holds kubernetes, IP 10.43.0.1, \
         IP ::1 (3 names); dial one of them or set tls-server-name"
    );
    assert_eq!(
        o.open.as_ref().unwrap_err().to_string(),
        format!("TLS: {e}"),
        "TlsOpenError's Display carries the detail"
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_say_the_window_and_our_clock() {
    let ca = Ca::new("ca");
    let old = ca.issue_with("kube-apiserver", K3S_SANS, Some(OLD));
    let s = start_server(&old, ServerOpts::default()).await;
    let o = run_verified(s.addr, &ca.der, "kubernetes", now(), 0).await;
    let e = verify_error(&o);
    assert_eq!(e.rejection, Rejection::Expired);
    assert_eq!(
        e.to_string(),
        "server certificate CN=kube-apiserver has expired: valid from 2000-01-01T00:00:00Z to \
         2001-01-01T00:00:00Z, our clock says 2026-01-01T00:00:00Z (check the clock if that is wrong)"
    );
    let past = Some(picokubelet_core::time::UnixMicros::from_secs(
        OLD.0 as u64 - 86_400,
    ));
    let o = run_verified(s.addr, &ca.der, "kubernetes", past, 0).await;
    let e = verify_error(&o);
    assert_eq!(e.rejection, Rejection::NotYetValid);
    assert!(
        e.to_string()
            .contains("is not valid yet: valid from 2000-01-01T00:00:00Z"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("our clock says 1999-12-31T00:00:00Z"),
        "{e}"
    );
}

fn verify_error(o: &Outcome) -> VerifyError {
    match o.open {
        Err(TlsOpenError::Handshake {
            error: TlsError::InvalidCertificate,
            verify: Some(v),
        }) => v,
        ref other => panic!("expected a verifier refusal, got {other:?}"),
    }
}

// ---- the verifier driven directly (no network) ----

type Verifier<'a> = K8sVerifier<'a, Aes128GcmSha256>;

fn check_chain(v: &mut Verifier<'_>, chain: &[&[u8]]) -> Result<(), VerifyError> {
    let mut cert = CertificateRef::with_context(&[]);
    for der in chain {
        cert.add(CertificateEntryRef::X509(der)).unwrap();
    }
    v.verify_certificate(&transcript(), cert)
        .map_err(|_| *v.last_error().unwrap())
}

fn transcript() -> Sha256 {
    let mut h = Sha256::new();
    h.update(b"ClientHello..Certificate");
    h
}

fn cv_message() -> Vec<u8> {
    let mut msg = vec![0x20u8; 64];
    msg.extend_from_slice(b"TLS 1.3, server CertificateVerify\x00");
    msg.extend_from_slice(&transcript().finalize());
    msg
}

fn rsa_key(leaf: &ServerCert) -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs8_der(&leaf.key_pkcs8).unwrap()
}

fn pss<D: Digest + sha2::digest::FixedOutputReset>(leaf: &ServerCert, msg: &[u8]) -> Vec<u8> {
    rsa::pss::SigningKey::<D>::new(rsa_key(leaf))
        .sign_with_rng(&mut rand_core::OsRng, msg)
        .to_vec()
}

fn verify_cv(
    leaf_chain: &[&[u8]],
    ca: &Ca,
    scheme: SignatureScheme,
    sig: &[u8],
) -> Result<(), VerifyError> {
    let mut v: Verifier<'_> = K8sVerifier::new(&ca.der, ServerIdentity::parse("kubernetes"), None);
    check_chain(&mut v, leaf_chain)?;
    let r = v
        .verify_signature(CertificateVerifyRef {
            signature_scheme: scheme,
            signature: sig,
        })
        .map_err(|_| *v.last_error().unwrap());
    assert_eq!(r.is_ok(), v.is_authenticated());
    r
}

#[test]
fn pss_sha256_384_512_certificate_verify_and_what_is_refused() {
    let ca = Ca::with_key("ca", rsa(4096));
    let leaf = ca.issue_key("k", K3S_SANS, rsa(2048));
    let other = ca.issue_key(
        "k",
        K3S_SANS,
        Key::Rsa {
            bits: 2048,
            index: 1,
            alg: &rcgen::PKCS_RSA_SHA256,
        },
    );
    let chain: &[&[u8]] = &[&leaf.chain[0]];
    let msg = cv_message();
    use SignatureScheme::*;
    assert_eq!(
        verify_cv(
            chain,
            &ca,
            RsaPssRsaeSha256,
            &pss::<sha2::Sha256>(&leaf, &msg)
        ),
        Ok(())
    );
    assert_eq!(
        verify_cv(
            chain,
            &ca,
            RsaPssRsaeSha384,
            &pss::<sha2::Sha384>(&leaf, &msg)
        ),
        Ok(())
    );
    assert_eq!(
        verify_cv(
            chain,
            &ca,
            RsaPssRsaeSha512,
            &pss::<sha2::Sha512>(&leaf, &msg)
        ),
        Ok(())
    );

    let refused = |scheme, sig: &[u8]| verify_cv(chain, &ca, scheme, sig).unwrap_err();
    // wrong key (another RSA-2048 key signed it)
    let e = refused(RsaPssRsaeSha256, &pss::<sha2::Sha256>(&other, &msg));
    assert_eq!(e.rejection, Rejection::BadSignature);
    assert_eq!(e.detail, Detail::Handshake(SigError::BadSignature));
    assert_eq!(
        e.to_string(),
        "the server did not prove it holds its certificate's key (CertificateVerify signature does not verify)"
    );
    // scheme says SHA-384, signature is over SHA-256
    assert_eq!(
        refused(RsaPssRsaeSha384, &pss::<sha2::Sha256>(&leaf, &msg)).detail,
        Detail::Handshake(SigError::BadSignature)
    );
    // other message
    assert_eq!(
        refused(
            RsaPssRsaeSha256,
            &pss::<sha2::Sha256>(&leaf, b"another transcript")
        )
        .rejection,
        Rejection::BadSignature
    );
    // PSS with a salt shorter than the hash (TLS 1.3 requires salt = hash length)
    let short_salt = rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(rsa_key(&leaf), 20)
        .sign_with_rng(&mut rand_core::OsRng, &msg)
        .to_vec();
    assert_eq!(
        refused(RsaPssRsaeSha256, &short_salt).rejection,
        Rejection::BadSignature
    );
    // PKCS#1 v1.5 padding where PSS is expected (bad padding), and PKCS#1 v1.5 as the
    // CertificateVerify scheme (TLS 1.3 forbids it)
    let pkcs1 = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key(&leaf))
        .sign(&msg)
        .to_vec();
    assert_eq!(
        refused(RsaPssRsaeSha256, &pkcs1).detail,
        Detail::Handshake(SigError::BadSignature)
    );
    let e = refused(RsaPkcs1Sha256, &pkcs1);
    assert_eq!(e.rejection, Rejection::UnsupportedSignature);
    assert!(
        e.to_string()
            .contains("unsupported signature algorithm TLS scheme RsaPkcs1Sha256"),
        "{e}"
    );
    // a signature one byte short (malformed), and one not below the modulus (does not verify)
    let good = pss::<sha2::Sha256>(&leaf, &msg);
    assert_eq!(
        refused(RsaPssRsaeSha256, &good[1..]).detail,
        Detail::Handshake(SigError::MalformedSignature)
    );
    assert_eq!(
        refused(RsaPssRsaeSha256, &[0xff; 256]).detail,
        Detail::Handshake(SigError::BadSignature)
    );
    // an ECDSA scheme for an RSA key
    let e = refused(EcdsaSecp256r1Sha256, &good);
    assert_eq!(e.rejection, Rejection::UnsupportedKey);
    assert!(
        matches!(
            e.detail,
            Detail::Handshake(SigError::KeyMismatch {
                key: KeyKind::Rsa(2048),
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn ecdsa_scheme_must_name_the_leaf_curve() {
    let ca = Ca::new("ca");
    let leaf = ca.issue_key("k", K3S_SANS, Key::P384);
    let msg = cv_message();
    let key = p384::ecdsa::SigningKey::from_pkcs8_der(&leaf.key_pkcs8).unwrap();
    let sig: p384::ecdsa::Signature = key.sign(&msg);
    let der = sig.to_der().as_bytes().to_vec();
    let chain: &[&[u8]] = &[&leaf.chain[0]];
    assert_eq!(
        verify_cv(chain, &ca, SignatureScheme::EcdsaSecp384r1Sha384, &der),
        Ok(())
    );
    let e = verify_cv(chain, &ca, SignatureScheme::EcdsaSecp256r1Sha256, &der).unwrap_err();
    assert_eq!(e.rejection, Rejection::UnsupportedKey);
    assert_eq!(
        e.to_string(),
        "the server's CertificateVerify: signature algorithm TLS scheme EcdsaSecp256r1Sha256 does not fit a ECDSA P-384 key"
    );
}

#[test]
fn rsa_1024_and_8192_keys_are_refused_by_size() {
    let ca = Ca::with_key("ca", rsa(2048));
    for (bits, text) in [(1024, "RSA-1024"), (8192, "RSA-8192"), (2040, "RSA-2040")] {
        let der = ca.issue_for_public_key("small", K3S_SANS, &FakeRsaPublicKey::new(bits));
        let mut v: Verifier<'_> =
            K8sVerifier::new(&ca.der, ServerIdentity::parse("kubernetes"), None);
        let e = check_chain(&mut v, &[&der]).unwrap_err();
        assert_eq!(e.rejection, Rejection::UnsupportedKey, "{bits}");
        assert_eq!(
            e.detail,
            Detail::LeafKey {
                subject: picokubelet_core::tls::error::name_text(&rcgen_subject(&der)),
                error: SigError::UnsupportedKey(KeyKind::Rsa(bits as u16)),
            }
        );
        assert_eq!(
            e.to_string(),
            format!("server certificate CN=small: unsupported key {text} (supported: ECDSA P-256, P-384, RSA 2048..=4096 bits)")
        );
    }
    // 4096 is the largest accepted: a fake 4096-bit key passes the key check (then the chain).
    let der = ca.issue_for_public_key("max", K3S_SANS, &FakeRsaPublicKey::new(4096));
    let mut v: Verifier<'_> = K8sVerifier::new(&ca.der, ServerIdentity::parse("kubernetes"), None);
    assert_eq!(check_chain(&mut v, &[&der]), Ok(()));
}

/// The subject Name TLV of a certificate (through the core's own parser).
fn rcgen_subject(der: &[u8]) -> Vec<u8> {
    picokubelet_core::tls::x509::parse(der)
        .unwrap()
        .subject
        .to_vec()
}

#[test]
fn ed25519_keys_and_signatures_are_named_in_the_refusal() {
    let ed = Ca::with_key("ed-ca", Key::Ed25519);
    let leaf = ed.issue_key("k", K3S_SANS, Key::P256);
    let mut v: Verifier<'_> = K8sVerifier::new(&ed.der, ServerIdentity::parse("kubernetes"), None);
    let e = check_chain(&mut v, &[&leaf.chain[0]]).unwrap_err();
    assert_eq!(e.rejection, Rejection::UnsupportedSignature);
    assert_eq!(
        e.to_string(),
        "the signature of CN=ed-ca on CN=k: unsupported signature algorithm Ed25519 (1.3.101.112)"
    );
    let ca = Ca::new("ca");
    let leaf = ca.issue_key("k", K3S_SANS, Key::Ed25519);
    let mut v: Verifier<'_> = K8sVerifier::new(&ca.der, ServerIdentity::parse("kubernetes"), None);
    let e = check_chain(&mut v, &[&leaf.chain[0]]).unwrap_err();
    assert_eq!(e.rejection, Rejection::UnsupportedKey);
    assert!(
        e.to_string()
            .contains("unsupported key Ed25519 (1.3.101.112) key"),
        "{e}"
    );
}

#[test]
fn an_end_entity_with_the_issuer_name_is_not_an_issuer() {
    let ca = Ca::with_key("root", rsa(2048));
    let fake_issuer = ca.end_entity_as_issuer("inter");
    let leaf = fake_issuer.issue_key("k", K3S_SANS, rsa(2048));
    let mut v: Verifier<'_> = K8sVerifier::new(&ca.der, ServerIdentity::parse("kubernetes"), None);
    let e = check_chain(&mut v, &[&leaf.chain[0], &fake_issuer.der]).unwrap_err();
    assert_eq!(e.rejection, Rejection::UntrustedChain);
    assert!(matches!(e.detail, Detail::IssuerNotCa { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("CN=k is issued by CN=inter, which may not issue certificates"),
        "{e}"
    );
}

mod mutation {
    use super::*;
    use proptest::prelude::*;

    fn fixture() -> &'static (Vec<u8>, Vec<u8>) {
        static PKI: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
        PKI.get_or_init(|| {
            let ca = Ca::with_key("ca", rsa(4096));
            let leaf = ca.issue_key("k", K3S_SANS, rsa(2048));
            (ca.der.clone(), leaf.chain[0].clone())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any changed byte of an RSA-signed RSA leaf is caught (parse, name, key or
        /// PKCS#1 v1.5 signature/padding) and never panics.
        #[test]
        fn a_mutated_rsa_leaf_is_never_accepted(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let (ca, leaf) = fixture();
            let mut mutated = leaf.clone();
            let i = pos.index(mutated.len());
            mutated[i] ^= xor;
            let mut v: Verifier<'_> = K8sVerifier::new(ca, ServerIdentity::parse("kubernetes"), None);
            prop_assert!(check_chain(&mut v, &[&mutated]).is_err());
        }
    }
}

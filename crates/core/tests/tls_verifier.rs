//! K8sVerifier driven directly through embedded-tls' TlsVerifier trait (no network): chain
//! depth, message order, the CertificateVerify signature, and mutated certificates.

mod tls_support;

use embedded_tls::{
    Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef, SignatureScheme,
    TlsVerifier,
};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use picokubelet_core::tls::{K8sVerifier, Rejection, ServerIdentity};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tls_support::*;

type Verifier<'a> = K8sVerifier<'a, Aes128GcmSha256>;

fn verifier<'a>(ca: &'a [u8], name: &'a str) -> Verifier<'a> {
    K8sVerifier::new(ca, ServerIdentity::parse(name), None)
}

fn check_chain(v: &mut Verifier<'_>, chain: &[&[u8]]) -> Result<(), Option<Rejection>> {
    let mut cert = CertificateRef::with_context(&[]);
    for der in chain {
        cert.add(CertificateEntryRef::X509(der)).unwrap();
    }
    v.verify_certificate(&transcript(), cert)
        .map_err(|_| v.last_rejection())
}

fn transcript() -> Sha256 {
    let mut h = Sha256::new();
    h.update(b"ClientHello..Certificate");
    h
}

/// A CertificateVerify signature over `transcript()` with the leaf's key (RFC 8446 4.4.3).
fn certificate_verify_signature(leaf: &ServerCert) -> Vec<u8> {
    let mut msg = vec![0x20u8; 64];
    msg.extend_from_slice(b"TLS 1.3, server CertificateVerify\x00");
    msg.extend_from_slice(&transcript().finalize());
    let key = p256::ecdsa::SigningKey::from_pkcs8_der(&leaf.key_pkcs8).unwrap();
    let sig: p256::ecdsa::Signature = key.sign(&msg);
    sig.to_der().as_bytes().to_vec()
}

fn verify(v: &mut Verifier<'_>, scheme: SignatureScheme, signature: &[u8]) -> Option<Rejection> {
    v.verify_signature(CertificateVerifyRef {
        signature_scheme: scheme,
        signature,
    })
    .err()
    .map(|_| v.last_rejection().unwrap())
}

#[test]
fn authenticated_only_after_chain_and_signature() {
    let ca = Ca::new("ca");
    let leaf = ca.issue("k3s", K3S_SANS);
    let mut v = verifier(&ca.der, "kubernetes");
    assert!(!v.is_authenticated());
    assert_eq!(check_chain(&mut v, &[&leaf.chain[0]]), Ok(()));
    assert!(!v.is_authenticated(), "chain alone must not authenticate");
    let sig = certificate_verify_signature(&leaf);
    assert_eq!(
        verify(&mut v, SignatureScheme::EcdsaSecp256r1Sha256, &sig),
        None
    );
    assert!(v.is_authenticated());
    assert_eq!(v.last_rejection(), None);
}

#[test]
fn signature_by_another_key_or_scheme_is_refused() {
    let ca = Ca::new("ca");
    let leaf = ca.issue("k3s", K3S_SANS);
    let other = ca.issue("k3s", K3S_SANS);
    let mut v = verifier(&ca.der, "kubernetes");
    check_chain(&mut v, &[&leaf.chain[0]]).unwrap();
    let sig = certificate_verify_signature(&other);
    assert_eq!(
        verify(&mut v, SignatureScheme::EcdsaSecp256r1Sha256, &sig),
        Some(Rejection::BadSignature)
    );
    assert!(!v.is_authenticated());

    let mut v = verifier(&ca.der, "kubernetes");
    check_chain(&mut v, &[&leaf.chain[0]]).unwrap();
    let sig = certificate_verify_signature(&leaf);
    assert_eq!(
        verify(&mut v, SignatureScheme::EcdsaSecp384r1Sha384, &sig),
        Some(Rejection::UnsupportedKey)
    );
    assert!(!v.is_authenticated());
}

#[test]
fn out_of_order_and_repeated_messages_are_refused() {
    let ca = Ca::new("ca");
    let leaf = ca.issue("k3s", K3S_SANS);
    let sig = certificate_verify_signature(&leaf);

    let mut v = verifier(&ca.der, "kubernetes");
    assert_eq!(
        verify(&mut v, SignatureScheme::EcdsaSecp256r1Sha256, &sig),
        Some(Rejection::OutOfOrder)
    );

    let mut v = verifier(&ca.der, "kubernetes");
    check_chain(&mut v, &[&leaf.chain[0]]).unwrap();
    assert_eq!(
        check_chain(&mut v, &[&leaf.chain[0]]),
        Err(Some(Rejection::OutOfOrder))
    );

    let mut v = verifier(&ca.der, "kubernetes");
    check_chain(&mut v, &[&leaf.chain[0]]).unwrap();
    assert_eq!(
        verify(&mut v, SignatureScheme::EcdsaSecp256r1Sha256, &sig),
        None
    );
    assert_eq!(
        verify(&mut v, SignatureScheme::EcdsaSecp256r1Sha256, &sig),
        Some(Rejection::OutOfOrder)
    );
}

#[test]
fn at_most_three_intermediates_are_followed() {
    let root = Ca::new("root");
    let i1 = root.intermediate("i1");
    let i2 = i1.intermediate("i2");
    let i3 = i2.intermediate("i3");
    let i4 = i3.intermediate("i4");
    let three = i3.issue("k3s", K3S_SANS);
    let four = i4.issue("k3s", K3S_SANS);
    // the order the server sends intermediates in does not matter
    let mut v = verifier(&root.der, "kubernetes");
    assert_eq!(
        check_chain(&mut v, &[&three.chain[0], &i1.der, &i3.der, &i2.der]),
        Ok(())
    );
    let mut v = verifier(&root.der, "kubernetes");
    assert_eq!(
        check_chain(
            &mut v,
            &[&four.chain[0], &i4.der, &i3.der, &i2.der, &i1.der]
        ),
        Err(Some(Rejection::ChainTooLong))
    );
}

#[test]
fn ca_certificates_and_garbage_are_refused_with_their_reason() {
    let ca = Ca::new("ca");
    let inter = ca.intermediate("inter");
    let leaf = ca.issue("k3s", K3S_SANS);
    // (configured CA, chain the server sends, expected reason)
    type Case<'a> = (&'a [u8], &'a [&'a [u8]], Rejection);
    let cases: [Case<'_>; 4] = [
        (&ca.der, &[&inter.der], Rejection::NotForServerAuth),
        (b"not a certificate", &[&leaf.chain[0]], Rejection::BadCa),
        (&ca.der, &[b"\x30\x03\x02\x01\x00"], Rejection::Malformed),
        (&ca.der, &[], Rejection::NoCertificate),
    ];
    for (ca_der, chain, want) in cases {
        let mut v = verifier(ca_der, "kubernetes");
        assert_eq!(check_chain(&mut v, chain), Err(Some(want)), "{want:?}");
        assert!(!v.is_authenticated());
    }
}

#[test]
fn sni_must_be_the_identity_being_verified() {
    let mut v = verifier(b"", "kubernetes");
    assert!(v.set_hostname_verification("KUBERNETES").is_ok());
    assert!(v.set_hostname_verification("evil.example").is_err());
    let mut v = verifier(b"", "127.0.0.1");
    assert!(v.set_hostname_verification("127.0.0.1").is_err());
}

fn fixture() -> &'static (Vec<u8>, Vec<u8>) {
    static PKI: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let ca = Ca::new("ca");
        let leaf = ca.issue("k3s", K3S_SANS);
        (ca.der.clone(), leaf.chain[0].clone())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any single changed byte of a valid leaf is caught (parse, name, or signature) and
    /// never panics; truncations likewise.
    #[test]
    fn a_mutated_leaf_is_never_accepted(pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let (ca, leaf) = fixture();
        let mut mutated = leaf.clone();
        let i = pos.index(mutated.len());
        mutated[i] ^= xor;
        let mut v = verifier(ca, "kubernetes");
        prop_assert!(check_chain(&mut v, &[&mutated]).is_err());
        let truncated = &leaf[..cut.index(leaf.len())];
        let mut v = verifier(ca, "kubernetes");
        prop_assert!(check_chain(&mut v, &[truncated]).is_err());
    }

    /// Arbitrary chains never panic and never authenticate.
    #[test]
    fn arbitrary_chains_are_refused(chain in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..5), sig in prop::collection::vec(any::<u8>(), 0..80)) {
        let (ca, _) = fixture();
        let mut v = verifier(ca, "kubernetes");
        let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
        prop_assert!(check_chain(&mut v, &refs).is_err());
        let _ = verify(&mut v, SignatureScheme::EcdsaSecp256r1Sha256, &sig);
        prop_assert!(!v.is_authenticated());
    }
}

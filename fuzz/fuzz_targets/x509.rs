#![no_main]
//! DER/X.509 reader, CA decoder and the K8sVerifier chain walk + CertificateVerify on arbitrary
//! bytes: no panics, and nothing made of arbitrary bytes authenticates (that would need a
//! signature by the leaf's key). Chains reach the RSA (2048..=4096-bit modular exponentiation,
//! PKCS#1 v1.5), P-256 and P-384 certificate checks; the CertificateVerify scheme is picked
//! from the signature length so ECDSA P-256/P-384 and RSA-PSS SHA-256/384/512 are all reached.
//!
//! Input layout: [u16 BE length, bytes]* — the first part is the configured CA, the next (up
//! to 5) the certificate chain, the rest of the input the CertificateVerify signature.
use libfuzzer_sys::fuzz_target;
use picokubelet_core::tls::embedded_tls::{
    Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef, Sha256,
    SignatureScheme, TlsVerifier,
};
use picokubelet_core::tls::{decode_ca, x509, K8sVerifier, ServerIdentity, CA_DER_MAX};

fn split(mut data: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut parts = Vec::new();
    while parts.len() < 6 {
        let [a, b, rest @ ..] = data else { break };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if rest.len() < len {
            break;
        }
        let (part, rest) = rest.split_at(len);
        parts.push(part);
        data = rest;
    }
    (parts, data)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = x509::parse(data) {
        for name in x509::general_names(c.san.unwrap_or_default()) {
            let _ = name;
        }
    }
    let mut out = [0u8; CA_DER_MAX];
    if let Ok(der) = decode_ca(data, &mut out) {
        assert!(x509::parse(der).is_ok());
    }

    let (parts, signature) = split(data);
    let Some((ca, chain)) = parts.split_first() else {
        return;
    };
    for identity in [
        ServerIdentity::parse("kubernetes"),
        ServerIdentity::parse("127.0.0.1"),
    ] {
        let mut v: K8sVerifier<'_, Aes128GcmSha256> = K8sVerifier::new(ca, identity, None);
        let mut cert = CertificateRef::with_context(&[]);
        for der in chain {
            let _ = cert.add(CertificateEntryRef::X509(der));
        }
        let chain_ok = v.verify_certificate(&Sha256::default(), cert).is_ok();
        assert_eq!(chain_ok, v.last_rejection().is_none());
        let schemes = [
            SignatureScheme::EcdsaSecp256r1Sha256,
            SignatureScheme::EcdsaSecp384r1Sha384,
            SignatureScheme::RsaPssRsaeSha256,
            SignatureScheme::RsaPssRsaeSha384,
            SignatureScheme::RsaPssRsaeSha512,
        ];
        let _ = v.verify_signature(CertificateVerifyRef {
            signature_scheme: schemes[signature.len() % schemes.len()],
            signature,
        });
        if let Some(e) = v.last_error() {
            let _ = format!("{e}"); // Display of every refusal: no panic either
        }
        assert!(!v.is_authenticated());
    }
});

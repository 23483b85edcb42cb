//! DER / X.509 readers on arbitrary and on slightly broken input: never a panic, and what
//! they read from a real certificate is what rcgen put in.

mod tls_support;

use picokubelet_core::tls::der::{self, Reader};
use picokubelet_core::tls::x509::{self, GeneralName, PublicKey, SigAlg};
use proptest::prelude::*;
use tls_support::*;

/// Walks every element of a DER tree (bounded depth); must end without panicking.
fn walk(r: &mut Reader<'_>, depth: u8) {
    while !r.is_empty() {
        let Ok(tlv) = r.read_any() else { return };
        if tlv.tag & 0x20 != 0 && depth < 16 {
            walk(&mut Reader::new(tlv.value), depth + 1);
        }
        let _ = der::time(tlv);
    }
}

fn touch(input: &[u8]) {
    walk(&mut Reader::new(input), 0);
    if let Ok(c) = x509::parse(input) {
        assert!(c.tbs.len() < input.len());
        if let Some(san) = c.san {
            assert!(x509::general_names(san).count() <= san.len());
        }
    }
    assert!(x509::general_names(input).count() <= input.len());
}

#[test]
fn reads_what_rcgen_wrote() {
    let ca = Ca::new("ca");
    let leaf = ca.issue_with("k3s", K3S_SANS, Some(OLD));
    let c = x509::parse(&leaf.chain[0]).unwrap();
    let root = x509::parse(&ca.der).unwrap();
    assert_eq!(c.issuer, root.subject);
    assert_eq!((c.not_before, c.not_after), OLD);
    assert_eq!(
        c.sig_alg,
        SigAlg::Ecdsa(picokubelet_core::tls::rsa::HashAlg::Sha256)
    );
    assert!(matches!(c.key, PublicKey::P256(k) if k.len() == 65));
    assert!(!c.is_ca && root.is_ca);
    assert_eq!(c.eku_server_auth, Some(true));
    assert_eq!(
        c.key_usage.map(|ku| ku & x509::KU_DIGITAL_SIGNATURE),
        Some(0x80)
    );
    let names: Vec<_> = x509::general_names(c.san.unwrap())
        .map(Result::unwrap)
        .collect();
    assert_eq!(names.len(), K3S_SANS.len());
    assert_eq!(names[0], GeneralName::Dns(b"kubernetes"));
    assert!(names.contains(&GeneralName::Ip(&[127, 0, 0, 1])));
    assert!(names.contains(&GeneralName::Ip(&std::net::Ipv6Addr::LOCALHOST.octets())));
}

#[test]
fn trailing_bytes_after_the_certificate_are_refused() {
    let ca = Ca::new("ca");
    let mut der = ca.der.clone();
    der.push(0);
    assert!(x509::parse(&der).is_err());
}

fn real_cert() -> &'static [u8] {
    static DER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DER.get_or_init(|| Ca::new("ca").issue("k3s", K3S_SANS).chain[0].clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        touch(&input);
    }

    #[test]
    fn arbitrary_bytes_behind_a_sequence_header_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut input = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
        input.extend_from_slice(&body);
        touch(&input);
    }

    #[test]
    fn mutated_certificates_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut der = real_cert().to_vec();
        for (i, b) in edits {
            let i = i.index(der.len());
            der[i] = b;
        }
        touch(&der);
        touch(&der[..cut.index(der.len())]);
    }
}

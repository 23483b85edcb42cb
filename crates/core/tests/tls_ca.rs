//! CA input decoding: PEM and base64-of-PEM (kubeconfig `certificate-authority-data`) → DER
//! into a caller buffer of stated size, with typed errors for garbage and overflow.

mod tls_support;

use base64::Engine as _;
use picokubelet_core::tls::{base64_pem_to_der, decode_ca, pem_to_der, CaError, CA_DER_MAX};
use proptest::prelude::*;
use tls_support::*;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// PEM with the body wrapped at `width` columns and `eol` line ends.
fn pem(der: &[u8], width: usize, eol: &str) -> String {
    let body = b64(der);
    let mut out = format!("-----BEGIN CERTIFICATE-----{eol}");
    for chunk in body.as_bytes().chunks(width) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str(eol);
    }
    out.push_str(&format!("-----END CERTIFICATE-----{eol}"));
    out
}

fn cas() -> &'static (Vec<u8>, String, Vec<u8>) {
    static CAS: std::sync::OnceLock<(Vec<u8>, String, Vec<u8>)> = std::sync::OnceLock::new();
    CAS.get_or_init(|| {
        let ca = Ca::new("k3s-server-ca@1700000000");
        let other = Ca::new("other");
        (ca.der.clone(), ca.pem.clone(), other.der.clone())
    })
}

#[test]
fn rcgen_pem_and_kubeconfig_data_decode_to_the_der() {
    let (der, pem_text, _) = cas();
    let mut out = [0u8; CA_DER_MAX];
    assert_eq!(pem_to_der(pem_text.as_bytes(), &mut out), Ok(&der[..]));
    let mut out = [0u8; CA_DER_MAX];
    let data = b64(pem_text.as_bytes());
    assert_eq!(base64_pem_to_der(data.as_bytes(), &mut out), Ok(&der[..]));
    for input in [pem_text.as_bytes(), data.as_bytes(), der.as_slice()] {
        let mut out = [0u8; CA_DER_MAX];
        assert_eq!(decode_ca(input, &mut out), Ok(&der[..]));
    }
}

#[test]
fn a_bundle_yields_its_first_certificate() {
    let (der, _, other) = cas();
    let bundle = format!(
        "# cluster CA first\n{}{}",
        pem(der, 64, "\n"),
        pem(other, 64, "\n")
    );
    let mut out = [0u8; CA_DER_MAX];
    assert_eq!(decode_ca(bundle.as_bytes(), &mut out), Ok(&der[..]));
    let mut out = [0u8; CA_DER_MAX];
    assert_eq!(
        decode_ca(b64(bundle.as_bytes()).as_bytes(), &mut out),
        Ok(&der[..])
    );
}

#[test]
fn output_buffer_bound_is_exact() {
    let (der, pem_text, _) = cas();
    let data = b64(pem_text.as_bytes());
    let mut exact = vec![0u8; der.len()];
    assert_eq!(base64_pem_to_der(data.as_bytes(), &mut exact), Ok(&der[..]));
    let mut short = vec![0u8; der.len() - 1];
    assert_eq!(
        base64_pem_to_der(data.as_bytes(), &mut short),
        Err(CaError::TooLarge)
    );
    assert_eq!(
        pem_to_der(pem_text.as_bytes(), &mut short),
        Err(CaError::TooLarge)
    );
    assert_eq!(decode_ca(der, &mut short), Err(CaError::TooLarge));
}

#[test]
fn a_certificate_above_ca_der_max_is_too_large() {
    let ca = Ca::new("ca");
    let names: Vec<String> = (0..100).map(|i| format!("name-{i}.example.com")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let big = ca.issue("big", &refs).chain[0].clone();
    assert!(big.len() > CA_DER_MAX);
    let mut out = [0u8; CA_DER_MAX];
    assert_eq!(
        pem_to_der(pem(&big, 64, "\n").as_bytes(), &mut out),
        Err(CaError::TooLarge)
    );
}

#[test]
fn garbage_gets_a_typed_error() {
    let (der, _, _) = cas();
    let good = pem(der, 64, "\n");
    let cases: Vec<(Vec<u8>, CaError)> = vec![
        (b"hello".to_vec(), CaError::BadBase64),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
            CaError::NoPemCertificate,
        ),
        (
            good.replace("-----END CERTIFICATE-----\n", "").into_bytes(),
            CaError::UnterminatedPem,
        ),
        (
            good.replace("-----END CERTIFICATE-----", "-----END X509 CRL-----")
                .into_bytes(),
            CaError::UnterminatedPem,
        ),
        (good.replacen('M', "*", 1).into_bytes(), CaError::BadBase64),
        (
            pem(b"not a certificate", 64, "\n").into_bytes(),
            CaError::NotACertificate,
        ),
        (
            b64(b"just text, no armor").into_bytes(),
            CaError::NoPemCertificate,
        ),
        (vec![0x30, 0x03, 0x02, 0x01, 0x00], CaError::NotACertificate),
        (Vec::new(), CaError::NoPemCertificate),
    ];
    for (input, want) in cases {
        let mut out = [0u8; CA_DER_MAX];
        assert_eq!(
            decode_ca(&input, &mut out),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any line width, LF or CRLF, text before the armor, indentation, and base64 of all that.
    #[test]
    fn round_trips_through_any_pem_layout(width in 1usize..120, crlf in any::<bool>(), preamble in "[a-zA-Z0-9 :#]{0,100}", indent in "[ \t]{0,4}") {
        let (der, _, _) = cas();
        let eol = if crlf { "\r\n" } else { "\n" };
        let text = format!("{preamble}{eol}{}", pem(der, width, eol).replace(eol, &format!("{eol}{indent}")));
        let mut out = [0u8; CA_DER_MAX];
        prop_assert_eq!(pem_to_der(text.as_bytes(), &mut out), Ok(&der[..]));
        let mut out = [0u8; CA_DER_MAX];
        prop_assert_eq!(decode_ca(b64(text.as_bytes()).as_bytes(), &mut out), Ok(&der[..]));
    }

    /// Arbitrary bytes never panic; anything accepted is one parseable certificate that fits.
    #[test]
    fn arbitrary_input_never_panics(input in prop::collection::vec(any::<u8>(), 0..3000), armored in any::<bool>()) {
        let input = if armored {
            let mut v = b"-----BEGIN CERTIFICATE-----\n".to_vec();
            v.extend_from_slice(&input);
            v
        } else {
            input
        };
        for f in [decode_ca, pem_to_der, base64_pem_to_der] {
            let mut out = [0u8; 64];
            if let Ok(der) = f(&input, &mut out) {
                prop_assert!(picokubelet_core::tls::x509::parse(der).is_ok());
            }
        }
    }

    /// Arbitrary bytes base64-armored as PEM: a typed error, never a panic, never a wrong Ok.
    #[test]
    fn arbitrary_der_in_valid_armor_is_refused(body in prop::collection::vec(any::<u8>(), 0..1500)) {
        let mut out = [0u8; CA_DER_MAX];
        let r = pem_to_der(pem(&body, 64, "\n").as_bytes(), &mut out);
        prop_assert_eq!(r, Err(CaError::NotACertificate));
    }
}

/// DER is binary: a certificate whose last byte is an ASCII whitespace byte (its signature's
/// last byte, ~1 in 50 certificates) is taken whole, not trimmed.
#[test]
fn der_ending_in_a_whitespace_byte_is_not_trimmed() {
    let der = (0..5_000)
        .map(|i| Ca::new(&format!("ca-{i}")).der)
        .find(|d| d.last().is_some_and(|b| b.is_ascii_whitespace()))
        .expect("one of 5000 random signatures ends in a whitespace byte");
    let mut out = [0u8; CA_DER_MAX];
    assert_eq!(decode_ca(&der, &mut out), Ok(&der[..]));
}

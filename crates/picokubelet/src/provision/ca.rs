//! The cluster CA as the record holds it (DER, at most [`MAX_CA_LEN`] bytes) and what the
//! summary says about it: its subject CN and SHA-256 fingerprint.

use picokubelet_core::provision::MAX_CA_LEN;
use picokubelet_core::tls::der::{self, Reader};
use picokubelet_core::tls::x509::{self, PublicKey};
use picokubelet_core::tls::{decode_ca, CaError};
use sha2::{Digest, Sha256};

use super::error::ProvisionError;

/// id-at-commonName (2.5.4.3).
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const SET: u8 = 0x31;

/// The first certificate of the kubeconfig's CA PEM as DER, checked to fit the record.
pub fn ca_der(pem: &[u8]) -> Result<Vec<u8>, ProvisionError> {
    // DER is shorter than its PEM: this buffer holds any certificate the PEM can hold, so an
    // oversized CA is measured, not just refused.
    let mut buf = vec![0; pem.len().max(MAX_CA_LEN)];
    let der = decode_ca(pem, &mut buf).map_err(|e| {
        ProvisionError::Ca(
            match e {
                CaError::NoPemCertificate => "no -----BEGIN CERTIFICATE----- block",
                CaError::UnterminatedPem => "no -----END CERTIFICATE----- line",
                CaError::BadBase64 => "the PEM body is not base64",
                CaError::TooLarge => "larger than its own PEM text",
                CaError::NotACertificate => "not an X.509 v3 certificate",
            }
            .to_owned(),
        )
    })?;
    if der.len() > MAX_CA_LEN {
        return Err(ProvisionError::CaTooLarge { len: der.len() });
    }
    Ok(der.to_vec())
}

/// `AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints it.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The subject's first commonName, if it has one that is text.
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    let cert = x509::parse(der).ok()?;
    let mut name = Reader::new(cert.subject).sequence().ok()?;
    while !name.is_empty() {
        let mut rdn = Reader::new(name.read(SET).ok()?.value);
        while !rdn.is_empty() {
            let mut attribute = rdn.sequence().ok()?;
            let oid = attribute.read(der::OID).ok()?;
            let value = attribute.read_any().ok()?;
            if oid.value == OID_COMMON_NAME {
                return std::str::from_utf8(value.value).ok().map(str::to_owned);
            }
        }
    }
    None
}

/// True when the board's verifier can check chains from this CA (ECDSA P-256 only).
pub fn board_supports(der: &[u8]) -> bool {
    x509::parse(der).is_ok_and(|c| matches!(c.key, PublicKey::P256(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_CA: &str = include_str!("../../tests/fixtures/ca.crt");

    #[test]
    fn the_fixture_ca_decodes_with_its_name_and_fingerprint() {
        let der = ca_der(FIXTURE_CA.as_bytes()).unwrap();
        assert_eq!(der.first(), Some(&0x30));
        assert_eq!(
            subject_common_name(&der).as_deref(),
            Some("k3s-server-ca@1700000000")
        );
        // As `openssl x509 -in tests/fixtures/ca.crt -noout -fingerprint -sha256` prints it.
        assert_eq!(
            sha256_fingerprint(&der),
            "64:AC:35:F4:7B:BF:58:4C:0A:A1:3C:10:4B:88:3B:A0:\
             2C:B8:AE:58:31:37:6B:98:74:F9:05:93:19:0F:94:11"
        );
        assert!(board_supports(&der));
    }

    #[test]
    fn text_that_is_no_certificate_is_refused() {
        for bad in [&b"hello"[..], b"-----BEGIN CERTIFICATE-----\nAAAA\n"] {
            assert!(matches!(ca_der(bad), Err(ProvisionError::Ca(_))));
        }
    }
}

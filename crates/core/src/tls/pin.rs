//! The CA public-key pin of `kubeadm join --discovery-token-ca-cert-hash sha256:<hex>`: the
//! SHA-256 of the CA certificate's DER SubjectPublicKeyInfo (recorded-2 B05: 91 bytes for a
//! P-256 CA). A pin names the key, not the certificate, so a re-issued CA with the same key
//! still matches.

use sha2::{Digest, Sha256};

use super::der::{DerError, Reader, INTEGER, SEQUENCE};

/// The `sha256:` prefix kubeadm writes (the only hash type it supports).
pub const PIN_PREFIX: &str = "sha256:";

/// One `sha256:<64 hex digits>` pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaPin(pub [u8; 32]);

/// Why a pin could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPin;

impl core::fmt::Display for BadPin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(
            "a CA hash is `sha256:` and 64 hex digits, as `kubeadm token create \
             --print-join-command` prints it",
        )
    }
}

impl CaPin {
    /// Parses `sha256:<64 hex digits>` (either case).
    pub fn parse(text: &str) -> Result<Self, BadPin> {
        let hex = text.strip_prefix(PIN_PREFIX).ok_or(BadPin)?.as_bytes();
        if hex.len() != 64 {
            return Err(BadPin);
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let [hi, lo] = pair else { return Err(BadPin) };
            *byte = (nibble(*hi).ok_or(BadPin)? << 4) | nibble(*lo).ok_or(BadPin)?;
        }
        Ok(CaPin(out))
    }

    /// The pin of the certificate `cert_der`.
    pub fn of_certificate(cert_der: &[u8]) -> Result<Self, DerError> {
        Ok(CaPin(Sha256::digest(spki(cert_der)?).into()))
    }

    /// True if `cert_der`'s public key is the pinned one.
    pub fn matches(&self, cert_der: &[u8]) -> bool {
        Self::of_certificate(cert_der).is_ok_and(|p| p == *self)
    }
}

impl core::fmt::Display for CaPin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(PIN_PREFIX)?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The whole SubjectPublicKeyInfo TLV of a certificate (tbsCertificate's 7th element, after
/// the optional `[0]` version).
pub fn spki(cert_der: &[u8]) -> Result<&[u8], DerError> {
    let mut outer = Reader::new(cert_der);
    let mut cert = outer.sequence()?;
    outer.finish()?;
    let mut tbs = cert.sequence()?;
    if tbs.peek_tag() == Some(0xa0) {
        tbs.read_any()?;
    }
    tbs.read(INTEGER)?; // serialNumber
    tbs.read(SEQUENCE)?; // signature
    tbs.read(SEQUENCE)?; // issuer
    tbs.read(SEQUENCE)?; // validity
    tbs.read(SEQUENCE)?; // subject
    Ok(tbs.read(SEQUENCE)?.raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ca::base64_pem_to_der;

    /// The CA of recorded-2 B01's cluster-info kubeconfig (`certificate-authority-data`).
    const RECORDED_CA_DATA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJuVENDQVVPZ0F3SUJBZ0lVTGlVOUZDOTEzcUROVnJMRTU0ZVZtRi9JZnA0d0NnWUlLb1pJemowRUF3SXcKSERFYU1CZ0dBMVVFQXd3UmNtVmhiR3M0Y3kxelpYSjJaWEl0WTJFd0hoY05Nall4TWpBeU1UVXhOVEEyV2hjTgpNell4TVRJNU1UVXhOVEEyV2pBY01Sb3dHQVlEVlFRRERCRnlaV0ZzYXpoekxYTmxjblpsY2kxallUQlpNQk1HCkJ5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEEwSUFCRTlIYnFpRUV2cUhXNkFlTUtLckJ3SUJiZE9aaVNNcU9HbEQKYTQzSmp2Y1l0cW00RTZlaHFUVVZ2UmliMnZRMDdTMG5FeVgzdDZpeGVOTVUvdGdGRHFLall6QmhNQjBHQTFVZApEZ1FXQkJTVUVCRGVOSHhDdGI4TlEwZVl2TnM0UnlWemx6QWZCZ05WSFNNRUdEQVdnQlNVRUJEZU5IeEN0YjhOClEwZVl2TnM0UnlWemx6QVBCZ05WSFJNQkFmOEVCVEFEQVFIL01BNEdBMVVkRHdFQi93UUVBd0lCaGpBS0JnZ3EKaGtqT1BRUURBZ05JQURCRkFpQkE4UmFQeW1COFA5WjVaNWhWZXdjbk41QXhlc2piRmN1d01hTG9EeTdxMXdJaApBUEp5ZHZJWS9DbnhJYStjSm9lZVBybDJnZjNyci9PNitObEN0bkE0b2VtNwotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";
    const RECORDED_PIN: &str =
        "sha256:c54eb5a24166ab45493f971585194c30e8f56396968c9f1d9d6a3f9dec225154";

    fn ca() -> std::vec::Vec<u8> {
        let mut out = [0u8; 2048];
        base64_pem_to_der(RECORDED_CA_DATA.as_bytes(), &mut out)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn the_recorded_ca_has_the_recorded_pin() {
        let ca = ca();
        assert_eq!(spki(&ca).unwrap().len(), 91);
        let pin = CaPin::of_certificate(&ca).unwrap();
        assert_eq!(std::format!("{pin}"), RECORDED_PIN);
        assert_eq!(CaPin::parse(RECORDED_PIN), Ok(pin));
        assert_eq!(
            CaPin::parse(&RECORDED_PIN.to_uppercase().replace("SHA256", "sha256")),
            Ok(pin)
        );
        assert!(pin.matches(&ca));
    }

    #[test]
    fn another_key_does_not_match() {
        let ca = ca();
        let mut other = CaPin::parse(RECORDED_PIN).unwrap();
        other.0[31] ^= 1;
        assert!(!other.matches(&ca));
        assert!(!other.matches(b"not a certificate"));
    }

    #[test]
    fn malformed_pins_are_refused() {
        for bad in [
            "",
            "c54eb5a24166ab45493f971585194c30e8f56396968c9f1d9d6a3f9dec225154",
            "sha1:c54eb5a24166ab45493f971585194c30e8f56396968c9f1d9d6a3f9dec225154",
            "sha256:c54eb5a24166ab45493f971585194c30e8f56396968c9f1d9d6a3f9dec22515",
            "sha256:c54eb5a24166ab45493f971585194c30e8f56396968c9f1d9d6a3f9dec2251545",
            "sha256:g54eb5a24166ab45493f971585194c30e8f56396968c9f1d9d6a3f9dec225154",
        ] {
            assert_eq!(CaPin::parse(bad), Err(BadPin), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(der: std::vec::Vec<u8>) {
            let _ = CaPin::of_certificate(&der);
        }
    }
}

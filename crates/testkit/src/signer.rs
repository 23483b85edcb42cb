//! kube-controller-manager's csrsigning for the client signers: a PKCS#10 request in, a client
//! certificate from the client CA out, shaped like the recorded ones (A07): subject re-encoded
//! O then CN (PrintableString where possible, as Go writes it), KeyUsage critical from the usages
//! (`digital signature` only for the kubelet's request), EKU clientAuth, BasicConstraints
//! critical CA:FALSE, AuthorityKeyIdentifier = the CA's SubjectKeyIdentifier, no SKI, no SAN, a
//! random 128-bit serial, notBefore backdated 5 minutes; lifetime = `spec.expirationSeconds`
//! (at least 10 minutes) capped at `--cluster-signing-duration` (1 year). A lifetime under 8 h
//! counts from the issue time (600 s ⇒ 15 minutes of validity counting the backdating), a longer
//! one from notBefore.
//!
//! Also: the shape checks of a kubelet client request (the approver's recognizer and the
//! signer's validation share them).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, CustomExtension, DistinguishedName, DnType,
    DnValue, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SerialNumber,
};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest};

use crate::tls::Pki;

/// `--cluster-signing-duration`'s default (8760h).
pub const SIGNING_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// How far notBefore is backdated (the signing policy's `Backdate`).
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// Below this lifetime notAfter counts from now, not from the backdated notBefore (`Short`).
const SHORT: Duration = Duration::from_secs(8 * 3600);
/// The shortest lifetime the signer grants (twice the backdating).
const MIN_DURATION: Duration = Duration::from_secs(10 * 60);

/// The signer for kubelet client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer for other client certificates.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// A parsed, signature-checked PKCS#10 request.
pub struct Request {
    params: CertificateSigningRequestParams,
    /// Subject organizations, in order.
    pub organizations: Vec<String>,
    /// Subject common name (empty when absent).
    pub common_name: String,
    /// Requested subjectAltNames by kind: `DNS`, `Email`, `IP`, `URI` (other kinds ignored).
    pub san_kinds: Vec<&'static str>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("organizations", &self.organizations)
            .field("common_name", &self.common_name)
            .finish()
    }
}

/// `spec.request` (the PEM bytes, already base64-decoded from JSON) → the request, or why not.
pub fn parse_request(pem: &[u8]) -> Result<Request, String> {
    let der = pem_block(pem, "CERTIFICATE REQUEST")
        .ok_or_else(|| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    let (_, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| format!("asn1: structure error: {e}"))?;
    let info = &csr.certification_request_info;
    let strings = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        it.filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let organizations = strings(&mut info.subject.iter_organization());
    let common_name = strings(&mut info.subject.iter_common_name())
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut san_kinds = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                san_kinds.push(match name {
                    GeneralName::DNSName(_) => "DNS",
                    GeneralName::RFC822Name(_) => "Email",
                    GeneralName::IPAddress(_) => "IP",
                    GeneralName::URI(_) => "URI",
                    _ => continue,
                });
            }
        }
    }
    let params = CertificateSigningRequestParams::from_der(&der.clone().into())
        .map_err(|e| format!("x509: {e}"))?;
    Ok(Request {
        params,
        organizations,
        common_name,
        san_kinds,
    })
}

fn pem_block(pem: &[u8], label: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Why a request is not a kubelet client certificate request (`ValidateKubeletClientCSR`), or
/// `None` when it is one.
pub fn kubelet_client_problem(req: &Request, usages: &[String]) -> Option<String> {
    if req.organizations != ["system:nodes"] {
        return Some("subject organization is not system:nodes".into());
    }
    if let Some(kind) = req.san_kinds.first() {
        return Some(format!("{kind} subjectAltNames are not allowed"));
    }
    if !req.common_name.starts_with("system:node:") {
        return Some("subject common name does not begin with system:node:".into());
    }
    let mut got: Vec<&str> = usages.iter().map(String::as_str).collect();
    got.sort_unstable();
    got.dedup();
    let no_rsa = ["client auth", "digital signature"];
    let with_rsa = ["client auth", "digital signature", "key encipherment"];
    if got != no_rsa && got != with_rsa {
        return Some(
            "usages did not match [client auth digital signature key encipherment]".into(),
        );
    }
    None
}

/// The certificate's lifetime for a request with `expiration_seconds`, signed at `now`.
pub fn validity(now: SystemTime, expiration_seconds: Option<u64>) -> (SystemTime, SystemTime) {
    let ttl = match expiration_seconds.map(Duration::from_secs) {
        None => SIGNING_DURATION,
        Some(d) => d.clamp(MIN_DURATION, SIGNING_DURATION),
    };
    let now = whole_seconds(now);
    let not_before = now - BACKDATE;
    let not_after = if ttl < SHORT {
        now + ttl
    } else {
        not_before + ttl
    };
    (not_before, not_after)
}

/// A certificate's lifetime under the test-only `max` (`Csrs::max_duration`): from the issue
/// time, no backdating, so that a board's renewal point (70–90 % of the lifetime) comes after
/// it has the certificate.
// test-only: not what kube-controller-manager does (it grants at least 600 s, backdated
// 5 minutes: [`validity`]); a real server would not allow a lifetime below 600 s.
pub fn test_only_validity(now: SystemTime, max: Duration) -> (SystemTime, SystemTime) {
    let now = whole_seconds(now);
    (now, now + max)
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The client CA and how it signs.
pub struct Signer {
    pki: Arc<Pki>,
    /// The client CA certificate's SubjectKeyIdentifier (the issued certificates' AKI).
    ca_key_id: Vec<u8>,
    ca_not_after: SystemTime,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with the client CA of `pki`.
    pub fn new(pki: Arc<Pki>) -> Result<Self, String> {
        let (_, ca) = X509Certificate::from_der(&pki.client_ca_der)
            .map_err(|e| format!("client CA certificate: {e}"))?;
        let ca_key_id = ca
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                _ => None,
            })
            .ok_or("the client CA certificate has no SubjectKeyIdentifier")?;
        let ca_not_after = UNIX_EPOCH
            + Duration::from_secs(ca.validity().not_after.timestamp().max(0).unsigned_abs());
        Ok(Signer {
            pki,
            ca_key_id,
            ca_not_after,
        })
    }

    /// Signs `req` for `usages`, valid from `not_before` to `not_after` (capped at the CA's
    /// notAfter), with `serial` (16 random bytes); the certificate PEM.
    pub fn sign(
        &self,
        req: &Request,
        usages: &[String],
        (not_before, not_after): (SystemTime, SystemTime),
        serial: [u8; 16],
    ) -> Result<String, String> {
        let mut p = CertificateParams::default();
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        p.not_before = epoch + since_epoch(not_before);
        p.not_after = epoch + since_epoch(not_after.min(self.ca_not_after));
        p.distinguished_name = go_subject(req);
        for u in usages {
            match u.as_str() {
                "digital signature" => p.key_usages.push(KeyUsagePurpose::DigitalSignature),
                "key encipherment" => p.key_usages.push(KeyUsagePurpose::KeyEncipherment),
                "client auth" => p
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth),
                "server auth" => p
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth),
                // guess: the other usages are not mapped (not recorded, not needed here).
                _ => {}
            }
        }
        // rcgen writes AKI first and an SKI with CA:FALSE; Go writes KU, EKU, BC, AKI and no
        // SKI (A07): both as custom extensions, after KU and EKU.
        p.is_ca = IsCa::NoCa;
        p.use_authority_key_identifier_extension = false;
        let mut bc = CustomExtension::from_oid_content(&[2, 5, 29, 19], vec![0x30, 0x00]);
        bc.set_criticality(true);
        let mut aki = vec![
            0x30,
            (self.ca_key_id.len() + 2) as u8,
            0x80,
            self.ca_key_id.len() as u8,
        ];
        aki.extend_from_slice(&self.ca_key_id);
        p.custom_extensions = vec![bc, CustomExtension::from_oid_content(&[2, 5, 29, 35], aki)];
        let cert = p
            .signed_by(&req.params.public_key, self.pki.client_issuer())
            .map_err(|e| format!("signing failed: {e}"))?;
        Ok(cert.pem())
    }
}

/// The subject as Go's `pkix.Name` re-encodes it: organizations, then organizational units,
/// then the common name; PrintableString when the text allows it, else UTF8String.
/// guess: only the first organization is kept (rcgen holds one value per attribute type).
fn go_subject(req: &Request) -> DistinguishedName {
    let value = |s: &str| match rcgen::string::PrintableString::try_from(s) {
        Ok(p) => DnValue::PrintableString(p),
        Err(_) => DnValue::Utf8String(s.to_string()),
    };
    let mut dn = DistinguishedName::new();
    if let Some(o) = req.organizations.first() {
        dn.push(DnType::OrganizationName, value(o));
    }
    if !req.common_name.is_empty() {
        dn.push(DnType::CommonName, value(&req.common_name));
    }
    dn
}

fn since_epoch(t: SystemTime) -> Duration {
    Duration::from_secs(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        crate::clock::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn lifetimes_follow_the_recorded_certificates() {
        // A07: issued 15:26:00 without expirationSeconds.
        let (nb, na) = validity(at("2026-12-02T15:26:00Z"), None);
        assert_eq!(
            (nb, na),
            (at("2026-12-02T15:21:00Z"), at("2027-12-02T15:21:00Z"))
        );
        // A07: issued 15:29:31 with expirationSeconds 600.
        let (nb, na) = validity(at("2026-12-02T15:29:31Z"), Some(600));
        assert_eq!(
            (nb, na),
            (at("2026-12-02T15:24:31Z"), at("2026-12-02T15:39:31Z"))
        );
        // Over a year: a year; under 10 minutes: 10 minutes.
        assert_eq!(
            validity(at("2026-12-02T15:26:00Z"), Some(u64::MAX >> 8)).1,
            at("2027-12-02T15:21:00Z")
        );
        assert_eq!(
            validity(at("2026-12-02T15:26:00Z"), Some(60)).1,
            at("2026-12-02T15:36:00Z")
        );
    }
}

//! The kubelet TLS bootstrap's CertificateSigningRequest (`certificates.k8s.io/v1`): the body
//! a node POSTs (with its bootstrap token, or its current certificate to renew) and the
//! fields it reads back until the certificate is issued.
//!
//! What the real server does (recorded-2 A): the POST answers 201 with `status: {}`;
//! kube-controller-manager's approver adds ONE condition `Approved` (reason `AutoApproved`) and
//! its signer then fills `status.certificate` (base64 of a PEM). There is no `Issued`
//! condition: issued means a non-empty `status.certificate`. A request the approver ignores (a
//! wrong signer or usages, or a cluster without auto-approval) stays `status: {}` until someone
//! runs `kubectl certificate approve <name>`; `Denied` and `Failed` conditions end it.

use crate::bounded::BoundedStr;
use crate::json::capture::TextCapture;
use crate::json::extract::{Path, Scalar, Step, Visitor};
use crate::json::writer::JsonWriter;
use crate::k8s::body_error::BodyError;
use crate::tls::base64::{encoded_len, Alphabet, Base64Display};

/// The signer of kubelet client certificates (kube-controller-manager's csrsigning).
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The usages that signer requires: exactly these, or the request is never approved (A12).
pub const KUBELET_CLIENT_USAGES: [&str; 2] = ["digital signature", "client auth"];
/// `metadata.generateName`, as the kubelet: the server appends 5 random characters (A16).
pub const CSR_GENERATE_NAME: &str = "csr-";
/// The shortest `spec.expirationSeconds` the API server accepts.
pub const MIN_EXPIRATION_SECONDS: u32 = 600;
/// Fixed part of a [`write_csr_create`] body; add the base64 of the PEM and ≤ 31 bytes for
/// `expirationSeconds`.
const BODY_FRAME_LEN: usize = 235;
/// Largest [`write_csr_create`] body for a request of [`crate::tls::csr::CSR_PEM_MAX`] bytes.
pub const CSR_CREATE_MAX_LEN: usize =
    BODY_FRAME_LEN + encoded_len(crate::tls::csr::CSR_PEM_MAX, Alphabet::Standard) + 31;
/// Capacity for a condition's `reason`.
pub const REASON_LEN: usize = 64;
/// Capacity for a condition's `message` (longer ones are cut and flagged).
pub const MESSAGE_LEN: usize = 256;
/// Capacity for a CSR name (a DNS subdomain).
pub const CSR_NAME_LEN: usize = 253;
/// Buffer for `status.certificate` that holds the base64 of the PEM of any client certificate
/// a signer issues for a P-256 key (ours are ~0.9 KiB of PEM under an RSA-2048 CA, ~1.6 KiB
/// under RSA-4096).
pub const CERTIFICATE_TEXT_MAX: usize = 4096;

/// The body of `POST /apis/certificates.k8s.io/v1/certificatesigningrequests` for the PEM
/// request `csr_pem` (see [`crate::tls::csr`]): signer [`KUBELET_CLIENT_SIGNER`], usages
/// [`KUBELET_CLIENT_USAGES`], and `expirationSeconds` if given (at least
/// [`MIN_EXPIRATION_SECONDS`]; the signer may cap it).
pub fn write_csr_create(
    csr_pem: &[u8],
    expiration_seconds: Option<u32>,
    out: &mut [u8],
) -> Result<usize, BodyError> {
    if expiration_seconds.is_some_and(|s| s < MIN_EXPIRATION_SECONDS) {
        return Err(BodyError::OutOfRange {
            field: "spec.expirationSeconds",
        });
    }
    let mut w = JsonWriter::new(out);
    w.begin_object();
    w.field_str("apiVersion", "certificates.k8s.io/v1");
    w.field_str("kind", "CertificateSigningRequest");
    w.field_object("metadata");
    w.field_str("generateName", CSR_GENERATE_NAME);
    w.end_object();
    w.field_object("spec");
    w.field_fmt(
        "request",
        format_args!(
            "{}",
            Base64Display {
                bytes: csr_pem,
                alphabet: Alphabet::Standard
            }
        ),
    );
    w.field_str("signerName", KUBELET_CLIENT_SIGNER);
    if let Some(seconds) = expiration_seconds {
        w.field_u64("expirationSeconds", u64::from(seconds));
    }
    w.field_array("usages");
    for usage in KUBELET_CLIENT_USAGES {
        w.string(usage);
    }
    w.end_array();
    w.end_object();
    w.end_object();
    Ok(w.finish()?)
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrState {
    /// No decision yet (`status: {}`): waiting for an approver (auto or `kubectl certificate
    /// approve`).
    Pending,
    /// Approved, the signer has not issued the certificate yet.
    Approved,
    /// `status.certificate` is there.
    Issued,
    /// A `Denied` condition: a person or a policy refused it.
    Denied,
    /// A `Failed` condition: the signer could not issue it.
    Failed,
}

/// One decisive condition's reason and message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub reason: BoundedStr<REASON_LEN>,
    pub message: BoundedStr<MESSAGE_LEN>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Approved,
    Denied,
    Failed,
    Other,
}

/// The condition being read (its fields come in any order; it ends when the index changes or
/// the document does).
#[derive(Clone, Copy, Debug)]
struct Pending {
    index: u32,
    kind: Option<Kind>,
    /// `status` is `"True"` (absent counts as true: older servers left it out).
    is_true: bool,
    verdict: Verdict,
}

/// The fields of a CertificateSigningRequest the node reads (a POST's 201 or a GET's 200).
/// `status.certificate` is copied into the caller's buffer ([`CERTIFICATE_TEXT_MAX`] holds
/// any certificate we expect); a longer one is [`CsrResponse::certificate_overflowed`].
#[derive(Debug)]
pub struct CsrResponse<'b> {
    /// `metadata.name` (the server made it from `generateName`).
    pub name: BoundedStr<CSR_NAME_LEN>,
    /// `spec.signerName`, to tell a misconfigured server from a slow approver.
    pub signer: BoundedStr<64>,
    pub approved: Option<Verdict>,
    pub denied: Option<Verdict>,
    pub failed: Option<Verdict>,
    certificate: TextCapture<'b>,
    condition: Option<Pending>,
}

impl<'b> CsrResponse<'b> {
    /// A reader that copies `status.certificate` into `certificate_buf`.
    pub fn new(certificate_buf: &'b mut [u8]) -> Self {
        CsrResponse {
            name: BoundedStr::new(),
            signer: BoundedStr::new(),
            approved: None,
            denied: None,
            failed: None,
            certificate: TextCapture::new(certificate_buf),
            condition: None,
        }
    }

    /// Ends the document: the last condition counts. Call once the extractor finished.
    pub fn finish(&mut self) {
        self.commit();
    }

    fn commit(&mut self) {
        let Some(c) = self.condition.take() else {
            return;
        };
        if !c.is_true {
            return;
        }
        let slot = match c.kind {
            Some(Kind::Approved) => &mut self.approved,
            Some(Kind::Denied) => &mut self.denied,
            Some(Kind::Failed) => &mut self.failed,
            Some(Kind::Other) | None => return,
        };
        *slot = Some(c.verdict);
    }

    /// Where the request stands (after [`Self::finish`]). A denial or failure wins over an
    /// approval; a certificate counts only once approved and whole.
    pub fn state(&self) -> CsrState {
        if self.denied.is_some() {
            CsrState::Denied
        } else if self.failed.is_some() {
            CsrState::Failed
        } else if self.approved.is_none() {
            CsrState::Pending
        } else if self.certificate().is_some() {
            CsrState::Issued
        } else {
            CsrState::Approved
        }
    }

    /// `status.certificate` (base64 of PEM), whole and non-empty, if the server sent one.
    pub fn certificate(&self) -> Option<&str> {
        self.certificate.text().filter(|t| !t.is_empty())
    }

    /// `status.certificate` was longer than the buffer given to [`Self::new`].
    pub fn certificate_overflowed(&self) -> bool {
        self.certificate.overflowed()
    }
}

const CERTIFICATE: [&str; 2] = ["status", "certificate"];
const CONDITION_FIELD: [Step<'static>; 4] = [
    Step::Key("status"),
    Step::Key("conditions"),
    Step::AnyIndex,
    Step::AnyKey,
];

impl Visitor for CsrResponse<'_> {
    fn value(&mut self, path: &Path<'_>, value: Scalar<'_>) {
        if path.is(&["metadata", "name"]) {
            self.name = value.to_bounded().unwrap_or_default();
        } else if path.is(&["spec", "signerName"]) {
            self.signer = value.to_bounded().unwrap_or_default();
        } else if path.is(&CERTIFICATE) {
            self.certificate.mark_seen();
        } else if path.matches(&CONDITION_FIELD) {
            let (Some(index), Some(field)) = (path.index(2), path.key(3)) else {
                return;
            };
            if self.condition.is_some_and(|c| c.index != index) {
                self.commit();
            }
            let c = self.condition.get_or_insert(Pending {
                index,
                kind: None,
                is_true: true,
                verdict: Verdict::default(),
            });
            let text = value.text().map(|t| t.value).unwrap_or_default();
            match field {
                "type" => {
                    c.kind = Some(match text {
                        "Approved" => Kind::Approved,
                        "Denied" => Kind::Denied,
                        "Failed" => Kind::Failed,
                        _ => Kind::Other,
                    })
                }
                "status" => c.is_true = text == "True",
                "reason" => c.verdict.reason = value.to_bounded().unwrap_or_default(),
                "message" => c.verdict.message = value.to_bounded().unwrap_or_default(),
                _ => {}
            }
        }
    }

    fn text_piece(&mut self, path: &Path<'_>, piece: &str) {
        if path.is(&CERTIFICATE) {
            self.certificate.push(piece);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::json::extract::{extract, Extractor};
    use crate::tls::base64_pem_to_der;
    use crate::tls::x509;
    use std::borrow::ToOwned;

    /// The JSON body of a recorded request or response (testdata/k8s/recorded-2).
    pub(crate) fn recorded_body(file: &str) -> std::string::String {
        let path = std::format!(
            "{}/../../testdata/k8s/recorded-2/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let start = text.find("\n{").unwrap();
        text[start..].trim().to_owned()
    }

    fn read_chunked(
        body: &str,
        chunk: usize,
        buf: &mut [u8],
    ) -> (CsrState, bool, Option<std::string::String>) {
        let mut r = CsrResponse::new(buf);
        let mut x: Extractor = Extractor::new();
        for piece in body.as_bytes().chunks(chunk) {
            x.feed(piece, &mut r).unwrap();
        }
        x.finish(&mut r).unwrap();
        r.finish();
        (
            r.state(),
            r.certificate_overflowed(),
            r.certificate().map(str::to_owned),
        )
    }

    #[test]
    fn the_created_request_is_pending_and_named() {
        let body = recorded_body("A01-post-csr-bootstrap-201.response.http");
        let mut buf = [0u8; CERTIFICATE_TEXT_MAX];
        let mut r = CsrResponse::new(&mut buf);
        extract(body.as_bytes(), &mut r).unwrap();
        r.finish();
        assert_eq!(r.state(), CsrState::Pending);
        assert_eq!(r.name, "csr-esp-boot-01");
        assert_eq!(r.signer, KUBELET_CLIENT_SIGNER);
        assert_eq!(r.certificate(), None);
    }

    #[test]
    fn the_issued_certificate_is_read_whole_in_any_chunking() {
        for file in [
            "A03-get-csr-after-1s.response.http",
            "A06-get-csr-exp600-issued.response.http",
            "A16b-renewal-csr-get-issued.response.http",
        ] {
            let body = recorded_body(file);
            for chunk in [1, 7, 256, 100_000] {
                let mut buf = [0u8; CERTIFICATE_TEXT_MAX];
                let (state, overflow, cert) = read_chunked(&body, chunk, &mut buf);
                assert_eq!(state, CsrState::Issued, "{file}");
                assert!(!overflow);
                let cert = cert.unwrap();
                let mut der = [0u8; 2048];
                let der = base64_pem_to_der(cert.as_bytes(), &mut der).unwrap();
                let parsed = x509::parse(der).unwrap();
                assert!(matches!(parsed.key, x509::PublicKey::P256(_)));
            }
        }
    }

    #[test]
    fn a_certificate_longer_than_the_buffer_is_refused_not_cut() {
        let body = recorded_body("A03-get-csr-after-1s.response.http");
        let mut buf = [0u8; 1000];
        let (state, overflow, cert) = read_chunked(&body, 13, &mut buf);
        assert!(overflow);
        assert_eq!(cert, None);
        // Approved, but no usable certificate: the caller keeps waiting or says why.
        assert_eq!(state, CsrState::Approved);
    }

    #[test]
    fn approval_denial_and_failure_conditions_in_any_field_order() {
        let cases = [
            (
                r#"{"status":{"conditions":[{"type":"Approved","status":"True","reason":"AutoApproved"}]}}"#,
                CsrState::Approved,
            ),
            (
                r#"{"status":{"conditions":[{"reason":"AutoApproved","status":"True","type":"Approved"}],"certificate":"QQ=="}}"#,
                CsrState::Issued,
            ),
            (
                r#"{"status":{"certificate":"","conditions":[{"type":"Approved","status":"True"}]}}"#,
                CsrState::Approved,
            ),
            (
                r#"{"status":{"conditions":[{"type":"Approved","status":"False"}]}}"#,
                CsrState::Pending,
            ),
            (
                r#"{"status":{"conditions":[{"type":"Approved","status":"True"},{"type":"Denied","status":"True","reason":"Nope","message":"not you"}]}}"#,
                CsrState::Denied,
            ),
            (
                r#"{"status":{"conditions":[{"type":"Approved","status":"True"},{"type":"Failed","status":"True","reason":"SignerValidationFailure"}]}}"#,
                CsrState::Failed,
            ),
            (
                r#"{"status":{"conditions":[{"type":"Approved"}]}}"#,
                CsrState::Approved,
            ),
            (r#"{"status":{"certificate":"QQ=="}}"#, CsrState::Pending),
            (r#"{"status":{}}"#, CsrState::Pending),
        ];
        for (body, want) in cases {
            let mut buf = [0u8; 64];
            let mut r = CsrResponse::new(&mut buf);
            extract(body.as_bytes(), &mut r).unwrap();
            r.finish();
            assert_eq!(r.state(), want, "{body}");
        }
        let mut buf = [0u8; 64];
        let mut r = CsrResponse::new(&mut buf);
        extract(cases[4].0.as_bytes(), &mut r).unwrap();
        r.finish();
        let denied = r.denied.unwrap();
        assert_eq!(
            (denied.reason.as_str(), denied.message.as_str()),
            ("Nope", "not you")
        );
    }

    #[test]
    fn the_create_body_is_what_the_recording_sent() {
        // The recording's request PEM, re-encoded: the same spec the server accepted.
        let recorded = recorded_body("A01-post-csr-bootstrap-201.request.txt");
        let b64 = recorded
            .split("\"request\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        use base64::Engine as _;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let mut out = [0u8; CSR_CREATE_MAX_LEN];
        let len = write_csr_create(&pem, None, &mut out).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&out[..len]).unwrap();
        let want: serde_json::Value = serde_json::from_str(&recorded).unwrap();
        assert_eq!(body["spec"], want["spec"]);
        assert_eq!(
            body["metadata"],
            serde_json::json!({"generateName": "csr-"})
        );
        assert_eq!(body["kind"], "CertificateSigningRequest");
        let len = write_csr_create(&pem, Some(600), &mut out).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&out[..len]).unwrap();
        assert_eq!(body["spec"]["expirationSeconds"], 600);
        assert_eq!(
            write_csr_create(&pem, Some(599), &mut out),
            Err(BodyError::OutOfRange {
                field: "spec.expirationSeconds"
            })
        );
    }

    #[test]
    fn the_largest_request_fits_the_stated_body_size_and_a_short_buffer_is_an_error() {
        let pem = [b'A'; crate::tls::csr::CSR_PEM_MAX];
        let mut out = [0u8; CSR_CREATE_MAX_LEN];
        let len = write_csr_create(&pem, Some(u32::MAX), &mut out).unwrap();
        assert!(len <= CSR_CREATE_MAX_LEN);
        let mut short = [0u8; 300];
        assert!(matches!(
            write_csr_create(&pem, None, &mut short),
            Err(BodyError::Json(
                crate::json::writer::JsonError::BufferFull { .. }
            ))
        ));
    }
}

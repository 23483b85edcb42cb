#![no_main]
//! The kubelet TLS bootstrap readers: a CSR's status (conditions, `status.certificate` copied
//! piecewise into a bounded buffer), cluster-info (its kubeconfig and JWS), the kubeconfig
//! scanner, the JWS check and the CA pin, on arbitrary bytes. Feeding in pieces whose size comes
//! from the input must give the same verdict and fields as feeding the body whole — and nothing
//! may panic.
use libfuzzer_sys::fuzz_target;
use picokubelet_core::json::extract::{ExtractError, Extractor};
use picokubelet_core::k8s::cluster_info::{discovered_cluster, ClusterInfoResponse};
use picokubelet_core::k8s::csr::CsrResponse;
use picokubelet_core::tls::jws::{verify_detached, BootstrapToken};
use picokubelet_core::tls::pin::CaPin;

#[derive(Debug, PartialEq)]
struct Seen {
    verdict: Result<(), ExtractError>,
    csr_state: picokubelet_core::k8s::csr::CsrState,
    certificate: Option<Vec<u8>>,
    csr_name: String,
    kubeconfig: Option<Vec<u8>>,
    jws: String,
}

fn run(body: &[u8], piece: usize) -> Seen {
    let mut cert_buf = [0u8; 512];
    let mut kc_buf = [0u8; 512];
    let mut csr = CsrResponse::new(&mut cert_buf);
    let mut info = ClusterInfoResponse::new("abcdef", &mut kc_buf);
    let mut ex = Extractor::<256>::new();
    let mut verdict = Ok(());
    for chunk in body.chunks(piece) {
        if let Err(e) = ex.feed(chunk, &mut (&mut csr, &mut info)) {
            verdict = Err(e);
            break;
        }
    }
    if verdict.is_ok() {
        verdict = ex.finish(&mut (&mut csr, &mut info));
    }
    csr.finish();
    let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
    if let Some(kubeconfig) = info.kubeconfig() {
        let _ = verify_detached(info.jws.as_str(), kubeconfig.as_bytes(), &token);
        let _ = discovered_cluster(kubeconfig);
    }
    Seen {
        verdict,
        csr_state: csr.state(),
        certificate: csr.certificate().map(|c| c.as_bytes().to_vec()),
        csr_name: csr.name.as_str().to_owned(),
        kubeconfig: info.kubeconfig().map(|k| k.as_bytes().to_vec()),
        jws: info.jws.as_str().to_owned(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let _ = CaPin::of_certificate(body);
    let whole = run(body, body.len().max(1));
    let pieces = run(body, usize::from(sel % 17) + 1);
    assert_eq!(whole.verdict.is_ok(), pieces.verdict.is_ok());
    if whole.verdict.is_ok() {
        assert_eq!(whole, pieces);
    }
});

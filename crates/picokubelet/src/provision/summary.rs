//! What `provision` tells the operator on stderr: every field of the record but the secrets
//! (the token only by its length, the Wi-Fi password only by where it came from), and how to
//! flash the file.

use std::fmt::Write as _;
use std::path::Path;

use super::args::OutputFormat;
use super::ca::{sha256_fingerprint, subject_common_name};
use super::record::{BoardIdentity, RecordInputs};
use super::wifi::PasswordSource;
use crate::kubeconfig::TokenSource;
use picokubelet_core::provision::{PARTITION_NAME, PARTITION_OFFSET, PARTITION_SIZE};

/// What was written, for the summary.
#[derive(Clone, Copy, Debug)]
pub struct Written<'a> {
    pub path: &'a Path,
    pub format: OutputFormat,
    pub record_len: usize,
    pub file_len: usize,
    pub token_source: &'a TokenSource,
}

/// The summary text (several lines, newline-terminated).
pub fn summary(inputs: &RecordInputs, written: &Written<'_>) -> String {
    let mut s = String::new();
    let path = written.path.display();
    let what = match written.format {
        OutputFormat::Partition => format!(
            "the {PARTITION_NAME} partition image, {} bytes; the record is {} bytes",
            written.file_len, written.record_len
        ),
        OutputFormat::Record => format!("the record alone, {} bytes", written.record_len),
    };
    let _ = writeln!(s, "wrote {path} ({what}; mode 0600, it holds secrets)");
    let mut row = |key: &str, value: String| {
        let _ = writeln!(s, "  {key:<17}{value}");
    };
    let server = &inputs.endpoint.server;
    let origin = if inputs.endpoint.from_flag {
        " (from --api-host)"
    } else {
        " (from the kubeconfig)"
    };
    row(
        "API server",
        format!("{}:{}{origin}", server.host, server.port),
    );
    row(
        "TLS server name",
        match &inputs.tls_server_name {
            Some(name) => name.clone(),
            None => "the host (the certificate must carry it as a SAN)".into(),
        },
    );
    row(
        "trust",
        match (&inputs.ca_der, inputs.ca_pin) {
            (None, Some(pin)) => format!(
                "discovered by the board from kube-public/cluster-info, signed with the \
                 bootstrap token; the CA key must have the hash {pin}"
            ),
            (Some(der), _) => format!(
                "CA {}, {} bytes DER, SHA-256 {}",
                subject_common_name(der).map_or("(no CN)".to_owned(), |cn| format!("CN={cn}")),
                der.len(),
                sha256_fingerprint(der)
            ),
            (None, None) => "NONE: insecure-skip-tls-verify (the server is not verified)".into(),
        },
    );
    match &inputs.identity {
        BoardIdentity::Token(token) => row(
            "token",
            format!(
                "{} bytes ({})",
                token.expose().len(),
                match written.token_source {
                    TokenSource::Inline => "the kubeconfig's token".to_owned(),
                    TokenSource::File(p) => format!("tokenFile {}", p.display()),
                    // Neither reaches here: no token, or refused before it runs.
                    TokenSource::None | TokenSource::Exec(_) => "none".to_owned(),
                }
            ),
        ),
        BoardIdentity::BootstrapToken(token) => row(
            "identity",
            format!(
                "bootstrap token {}.<secret>: each board asks for its own client certificate \
                 (CN system:node:<its name>) and keeps it in flash",
                token.expose().split('.').next().unwrap_or_default()
            ),
        ),
        BoardIdentity::ClientCertificate {
            certificate_der, ..
        } => row(
            "identity",
            format!(
                "client certificate {}, {} bytes DER, and its ECDSA P-256 key",
                subject_common_name(certificate_der)
                    .map_or("(no CN)".to_owned(), |cn| format!("CN={cn}")),
                certificate_der.len()
            ),
        ),
    }
    row(
        "Wi-Fi",
        match &inputs.wifi {
            None => "none (the board uses Ethernet)".into(),
            Some(w) => format!(
                "SSID {:?}, {}",
                w.ssid,
                match w.source {
                    PasswordSource::File => "password from --wifi-password-file",
                    PasswordSource::Env => "password from $PK_WIFI_PASSWORD",
                    PasswordSource::Open => "open network (no password)",
                }
            ),
        },
    );
    row(
        "node name",
        inputs.node_name.clone().unwrap_or_else(|| {
            "derived by the board from its MAC: <chip>-<mac>, e.g. esp32c6-240ac4123456".into()
        }),
    );
    row(
        "profile",
        inputs
            .profile
            .map_or("the chip the firmware was built for".into(), |p| {
                p.name().to_owned()
            }),
    );
    let labels: Vec<String> = inputs
        .labels
        .iter()
        .map(|l| format!("{}={}", l.key, l.value))
        .collect();
    row(
        "labels",
        if labels.is_empty() {
            "none".into()
        } else {
            labels.join(", ")
        },
    );
    let secs = |v: Option<u32>, default: &str| {
        v.map_or(format!("firmware default ({default})"), |s| {
            format!("{s} s")
        })
    };
    row(
        "lease renewal",
        secs(inputs.lease_renew_interval_secs, "10 s"),
    );
    row(
        "status interval",
        secs(inputs.status_interval_secs, "5 min"),
    );
    let _ = writeln!(
        s,
        "flash it into the {PARTITION_NAME} partition ({PARTITION_OFFSET:#x}, {} KiB) of a \
         board that runs the picokubelet firmware:\n  espflash write-bin {PARTITION_OFFSET:#x} \
         {path}\na new board: flash the firmware with its partition table first, then the \
         record:\n  espflash flash --partition-table firmware/partitions.csv <firmware ELF>\n  \
         espflash write-bin {PARTITION_OFFSET:#x} {path}",
        PARTITION_SIZE / 1024
    );
    s
}

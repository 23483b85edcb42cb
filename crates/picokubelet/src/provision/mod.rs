//! `picokubelet provision`: the configuration record a board reads from its `pkconfig` flash
//! partition (format: `picokubelet_core::provision`), so one firmware image serves a fleet.
//!
//! The server, its CA and the token come from the kubeconfig, resolved exactly as for `run`
//! (same lookup, same refusals of client certificates and exec plugins); the rest from flags.
//! With `--mint-bootstrap-token` the kubeconfig's credentials (an exec plugin's too) only make
//! the fleet's bootstrap token on the cluster ([`mint`]); the record gets that token and the
//! CA's hash.
//! The Wi-Fi password comes from a file or `$PK_WIFI_PASSWORD` only. The record is checked by
//! building the agent configuration from the written bytes, as the firmware does at boot.
//!
//! - [`args`]: the flags.
//! - [`endpoint`]: the host the board dials (`--api-host`; loopback refused).
//! - [`wifi`]: SSID and password sources.
//! - [`ca`]: CA PEM → DER, its CN and fingerprint.
//! - [`mint`]: `--mint-bootstrap-token`, the bootstrap-token Secret made with the kubeconfig's
//!   credentials.
//! - [`record`]: the record bytes, the boot-time check, the partition image.
//! - [`output`]: the 0600, no-overwrite file write.
//! - [`summary`]: the secret-free report and the flash commands.

pub mod args;
pub mod bootstrap;
pub mod ca;
pub mod endpoint;
pub mod error;
pub mod mint;
pub mod output;
pub mod record;
pub mod summary;
pub mod wifi;

use std::ffi::OsString;

use picokubelet_core::k8s::chip::Chip;

pub use args::{OutputFormat, ProvisionArgs};
pub use error::ProvisionError;

use crate::args::{ChipArg, NodeArgs};
use crate::failure::Failure;
use crate::kubeconfig::{
    locate, InsecureSource, Kubeconfig, LookupEnv, ResolveOptions, ResolvedConfig, ServerTrust,
    TokenSource,
};
use crate::secret::Secret;
use picokubelet_core::tls::pin::CaPin;
use record::{BoardIdentity, BoardKey, RecordInputs};
use summary::Written;
use wifi::{WifiInputs, PASSWORD_ENV};

pub use picokubelet_core::provision::{PARTITION_NAME, PARTITION_OFFSET, PARTITION_SIZE};

/// Runs `provision` with this process's `$PK_WIFI_PASSWORD`.
pub fn execute(args: &ProvisionArgs, env: &LookupEnv) -> Result<(), Failure> {
    let password = std::env::var_os(PASSWORD_ENV);
    let report = provision(args, env, password.as_ref()).map_err(into_failure)?;
    eprint!("{report}");
    Ok(())
}

/// Builds, checks and writes the record; returns the summary to print.
pub fn provision(
    args: &ProvisionArgs,
    env: &LookupEnv,
    env_password: Option<&OsString>,
) -> Result<String, ProvisionError> {
    let node = NodeArgs {
        node_name: args.node_name.clone(),
        profile: args.profile.unwrap_or(ChipArg(Chip::Esp32s3)),
        labels: args.labels.clone(),
    };
    node.validate().map_err(ProvisionError::Node)?;
    let wifi = wifi::wifi(WifiInputs {
        ssid: args.wifi_ssid.as_deref(),
        password_file: args.wifi_password_file.as_deref(),
        open: args.wifi_open,
        env_password,
    })?;
    let mut bootstrap = match &args.bootstrap_token_file {
        Some(path) => Some(bootstrap::read_token(path)?),
        None => None,
    };
    let mut minted = None;
    let (cluster, token_source) = match (&args.discovery_token_ca_cert_hash, &args.api_host) {
        _ if args.mint_bootstrap_token => {
            let located = locate(args.cluster.kubeconfig.as_deref(), env)?;
            // The host runs an exec plugin here: its token makes the Secret, never the record.
            let resolved = Kubeconfig::load(&located)?.resolve(&ResolveOptions {
                context: args.cluster.context.clone(),
                insecure_skip_tls_verify: args.cluster.insecure_skip_tls_verify,
                for_board: false,
            })?;
            let ca = ca_der(&resolved)?.ok_or(ProvisionError::MintWithoutCa)?;
            let pin =
                CaPin::of_certificate(&ca).map_err(|e| ProvisionError::Ca(format!("{e:?}")))?;
            let endpoint = endpoint::endpoint(&resolved.cluster.server, args.api_host.as_deref())?;
            let made = mint::mint(&resolved, args.token_ttl)?;
            bootstrap = Some(Secret::new(made.token.expose()));
            minted = Some(made.expires);
            (
                ClusterInputs {
                    endpoint,
                    tls_server_name: resolved.cluster.tls_server_name.clone(),
                    ca_der: None,
                    ca_pin: Some(pin),
                    identity: None,
                },
                TokenSource::None,
            )
        }
        (Some(hash), Some(api_host)) => (
            ClusterInputs {
                endpoint: endpoint::endpoint_from_flag(api_host)?,
                tls_server_name: None,
                ca_der: None,
                ca_pin: Some(
                    CaPin::parse(hash).map_err(|e| ProvisionError::BadCaHash(e.to_string()))?,
                ),
                identity: None,
            },
            TokenSource::None,
        ),
        _ => {
            let located = locate(args.cluster.kubeconfig.as_deref(), env)?;
            let resolved = Kubeconfig::load(&located)?.resolve(&ResolveOptions {
                context: args.cluster.context.clone(),
                insecure_skip_tls_verify: args.cluster.insecure_skip_tls_verify,
                for_board: true,
            })?;
            let identity = match bootstrap {
                // The kubeconfig gives only the server and CA: its user is not the boards'.
                Some(_) => None,
                None => Some(board_identity(&resolved)?),
            };
            (
                ClusterInputs {
                    endpoint: endpoint::endpoint(
                        &resolved.cluster.server,
                        args.api_host.as_deref(),
                    )?,
                    tls_server_name: resolved.cluster.tls_server_name.clone(),
                    ca_der: ca_der(&resolved)?,
                    ca_pin: None,
                    identity,
                },
                resolved.credentials.source.clone(),
            )
        }
    };
    let identity = match (bootstrap, cluster.identity) {
        (Some(token), _) => BoardIdentity::BootstrapToken(token),
        (None, Some(identity)) => identity,
        (None, None) => {
            return Err(ProvisionError::Node(
                "the kubeconfig's user has no identity".into(),
            ))
        }
    };
    let inputs = RecordInputs {
        endpoint: cluster.endpoint,
        tls_server_name: cluster.tls_server_name,
        ca_der: cluster.ca_der,
        ca_pin: cluster.ca_pin,
        identity,
        wifi,
        node_name: args.node_name.clone(),
        profile: args.profile.map(|p| p.0),
        labels: args.labels.clone(),
        lease_renew_interval_secs: args.lease_renew_interval,
        status_interval_secs: args.status_interval,
    };
    let record = record::encode(&inputs)?;
    record::check_board_accepts(&record)?;
    let file = match args.format {
        OutputFormat::Partition => record::partition_image(&record, PARTITION_SIZE),
        OutputFormat::Record => record.clone(),
    };
    output::write_private(&args.out, &file, args.force)?;
    let mut report = String::new();
    if inputs.ca_der.is_none() && inputs.ca_pin.is_none() {
        report.push_str(INSECURE_BANNER);
    }
    if let Some(expires) = minted {
        report.push_str(&format!(
            "minted bootstrap token {}.<secret> (Secret kube-system/bootstrap-token-{0}), valid until {}: boards flashed after that cannot join with it (`kubectl -n kube-system delete secret bootstrap-token-{0}` revokes it sooner)\n",
            inputs_token_id(&inputs),
            humantime::format_rfc3339_seconds(expires),
        ));
    }
    report.push_str(&summary::summary(
        &inputs,
        &Written {
            path: &args.out,
            format: args.format,
            record_len: record.len(),
            file_len: file.len(),
            token_source: &token_source,
        },
    ));
    Ok(report)
}

/// The id of the record's bootstrap token (empty when it has none).
fn inputs_token_id(inputs: &RecordInputs) -> String {
    match &inputs.identity {
        BoardIdentity::BootstrapToken(t) => t.expose().split('.').next().unwrap_or("").to_owned(),
        _ => String::new(),
    }
}

const INSECURE_BANNER: &str = "\n\
    !!! WARNING: THIS RECORD TURNS TLS SERVER VERIFICATION OFF (--insecure-skip-tls-verify).\n\
    !!! Every board flashed with it sends its token to whoever answers at the server's\n\
    !!! address. Use it for tests only; put the cluster's CA in the kubeconfig instead.\n\n";

/// Where the cluster is, and the board's identity when the kubeconfig gives it.
struct ClusterInputs {
    endpoint: endpoint::Endpoint,
    tls_server_name: Option<String>,
    ca_der: Option<Vec<u8>>,
    ca_pin: Option<CaPin>,
    identity: Option<BoardIdentity>,
}

/// The board's identity: the token when the user has one (as before client certificates could
/// be provisioned), else its client certificate, whose key must be P-256.
fn board_identity(resolved: &ResolvedConfig) -> Result<BoardIdentity, ProvisionError> {
    let credentials = &resolved.credentials;
    if let Some(token) = credentials.bearer_token() {
        return Ok(BoardIdentity::Token(token.clone()));
    }
    let Some(client) = &credentials.client_certificate else {
        // resolve() refuses a user with neither.
        return Err(ProvisionError::Node(
            "the kubeconfig's user has no identity".into(),
        ));
    };
    let key = client.p256_key().ok_or(ProvisionError::RsaKeyForBoard)?;
    Ok(BoardIdentity::ClientCertificate {
        certificate_der: client.certificate_der.clone(),
        key: BoardKey(key.to_bytes().into()),
    })
}

/// The CA (DER), or `None` (insecure) only when the flag asked for it.
fn ca_der(resolved: &ResolvedConfig) -> Result<Option<Vec<u8>>, ProvisionError> {
    match &resolved.cluster.trust {
        ServerTrust::Ca { pem, .. } => {
            let der = ca::ca_der(pem)?;
            if !ca::board_supports(&der) {
                tracing::warn!(
                    "the cluster CA's key is not ECDSA P-256: the board's verifier checks P-256 \
                     chains only and will refuse this server (k3s CAs are P-256; kubeadm needs \
                     encryptionAlgorithm: ECDSA-P256)"
                );
            }
            Ok(Some(der))
        }
        ServerTrust::InsecureSkipVerify(InsecureSource::Flag) => Ok(None),
        ServerTrust::InsecureSkipVerify(InsecureSource::Kubeconfig) => {
            Err(ProvisionError::InsecureNotRequested)
        }
    }
}

/// Kubeconfig problems keep their own failure; write errors exit 1 with the path; everything
/// else is a usage error (exit 2).
fn into_failure(e: ProvisionError) -> Failure {
    match e {
        ProvisionError::Kubeconfig(k) => Failure::Kubeconfig(k),
        ProvisionError::Write { path, source } => Failure::Output(std::io::Error::new(
            source.kind(),
            format!("{}: {source}", path.display()),
        )),
        other => Failure::Usage(other.to_string()),
    }
}

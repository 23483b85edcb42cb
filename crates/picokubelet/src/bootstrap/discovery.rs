//! Discovery as `kubeadm join` does it, from a bootstrap token and the CA's public-key hash
//! alone: read `kube-public/cluster-info` anonymously, check its JWS with the token and its CA
//! against the hash, and take the server and CA from it.
//!
//! The anonymous read does not verify the server's certificate (there is no CA yet; kubeadm
//! does the same). That is sound because nothing secret is sent on that connection and nothing
//! read from it is trusted until both checks pass: the JWS proves the kubeconfig was signed by
//! someone who knows the token's secret, the hash proves the CA is the one the admin pinned.
//! Every later connection verifies the server against that CA.

use base64::Engine as _;
use picokubelet_core::bootstrap::discovery::{check_cluster_info, DiscoveryError as Refused};
use picokubelet_core::client::{no_body, ApiClient, ApiRequest, Endpoint};
use picokubelet_core::k8s::cluster_info::{discovered_cluster, ClusterInfoResponse};
use picokubelet_core::k8s::paths::ApiPath;
use picokubelet_core::tls::jws::{BootstrapToken, JwsError, JWS_KEY_PREFIX};
use picokubelet_core::tls::pin::CaPin;
use picokubelet_core::tls::{ServerTrust, CA_DER_MAX};

use crate::check::wire::{self, Wire, WireError, STEP_TIMEOUT};
use crate::kubeconfig::{parse_server_url, ServerUrl};

/// Buffer for `data.kubeconfig` on the host: the board's 4 KiB
/// ([`picokubelet_core::k8s::cluster_info::KUBECONFIG_TEXT_MAX`]) holds kubeadm's with any CA
/// up to RSA-4096; the host can afford more for CA bundles.
const KUBECONFIG_BUF: usize = 64 * 1024;

/// What discovery found and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    pub server: ServerUrl,
    /// The CA, PEM, as cluster-info holds it.
    pub ca_pem: Vec<u8>,
    pub pin: CaPin,
}

/// Why discovery failed, as a sentence with what to do.
pub type DiscoveryError = String;

/// Reads and checks cluster-info from `endpoint` (`https://host:port` or `host:port`).
pub async fn discover(
    endpoint: &ServerUrl,
    token: &BootstrapToken<'_>,
    pins: &[CaPin],
) -> Result<Discovered, DiscoveryError> {
    let socket = wire::connect(endpoint)
        .await
        .map_err(|e| format!("cannot reach {endpoint}: {e:?}"))?;
    let mut wire = Wire::default();
    let host_name = endpoint.host.to_string();
    let session = wire::handshake(
        socket,
        &mut wire.tls,
        ServerTrust::InsecureSkipVerify,
        None,
        &host_name,
        wire::now_micros(),
    )
    .await
    .map_err(|e| match e {
        WireError::Tls(e) => format!("the TLS handshake with {endpoint} failed: {e}"),
        e => format!("cannot reach {endpoint}: {e:?}"),
    })?;
    let host_header = match endpoint.port {
        443 => host_name.clone(),
        port => format!("{host_name}:{port}"),
    };
    let mut client = ApiClient::new(
        session,
        &wire.clock,
        Endpoint {
            host: &host_header,
            token: None,
            token_source: None,
        },
        &mut wire.http,
        &wire.metrics,
        STEP_TIMEOUT,
    );
    let mut buf = vec![0u8; KUBECONFIG_BUF];
    let mut info = ClusterInfoResponse::new(token.id(), &mut buf);
    let reply = client
        .exchange(&ApiRequest::get(ApiPath::ClusterInfo), no_body, &mut info)
        .await
        .map_err(|e| format!("reading cluster-info from {endpoint} failed ({e:?})"))?;
    match reply.status {
        200 => {}
        // guess: a cluster without kubeadm's cluster-info (or its anonymous-read Role) was
        // not recorded; B02 shows anonymous reads of other ConfigMaps are 403.
        403 | 404 => {
            return Err(format!(
                "{endpoint} does not let anyone read kube-public/cluster-info ({}): the cluster \
                 was not set up for kubeadm discovery (`kubeadm init phase bootstrap-token` makes \
                 it); use --bootstrap-kubeconfig with the server and CA instead",
                reply.status
            ))
        }
        code => {
            return Err(format!(
                "{endpoint} answered {code} to the cluster-info request ({})",
                client.failure().message.as_str()
            ))
        }
    }
    let mut der = [0u8; CA_DER_MAX];
    let found = check_cluster_info(&info, token, pins, &mut der).map_err(|e| match e {
        Refused::NoKubeconfig { overflowed: true } => {
            format!("cluster-info's kubeconfig is longer than {KUBECONFIG_BUF} bytes")
        }
        Refused::NotSigned { others } => format!(
            "cluster-info holds no signature for token id {id} ({JWS_KEY_PREFIX}{id}){others}: \
             the token is unknown, expired or was made without the signing usage; make a new \
             one with `kubeadm token create --print-join-command`",
            id = token.id(),
            others = if others > 0 {
                format!(", only for {others} other token(s)")
            } else {
                String::new()
            }
        ),
        Refused::Jws(e @ JwsError::BadSignature) => format!(
            "{e}: check the token's secret (the part after the dot) — `kubeadm token list` on \
             the control plane shows the tokens"
        ),
        Refused::PinMismatch { found } => {
            let given: Vec<String> = pins.iter().map(ToString::to_string).collect();
            format!(
                "the cluster's CA has the public-key hash {found}, not the \
                 --discovery-token-ca-cert-hash given ({}): this is another cluster, or the hash \
                 is wrong. On the control plane, `kubeadm token create --print-join-command` \
                 prints the right one (or: `openssl x509 -pubkey -in /etc/kubernetes/pki/ca.crt \
                 | openssl pkey -pubin -outform der | sha256sum`)",
                given.join(", ")
            )
        }
        e => e.to_string(),
    })?;
    let pin = CaPin::of_certificate(found.ca_der)
        .map_err(|e| format!("the CA in cluster-info cannot be read ({e:?})"))?;
    let cluster =
        discovered_cluster(info.kubeconfig().unwrap_or_default()).map_err(|e| e.to_string())?;
    let server = parse_server_url(cluster.server).map_err(|e| {
        format!(
            "the server in cluster-info ({}) cannot be used: {e}",
            cluster.server
        )
    })?;
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(cluster.ca_data.trim())
        .map_err(|e| format!("the CA in cluster-info is not base64 ({e})"))?;
    Ok(Discovered {
        server,
        ca_pem,
        pin,
    })
}

/// `--server`: `https://host:port`, or `host:port` as kubeadm's join takes it.
pub fn parse_endpoint(text: &str) -> Result<ServerUrl, String> {
    let url = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    parse_server_url(&url).map_err(|e| e.to_string())
}

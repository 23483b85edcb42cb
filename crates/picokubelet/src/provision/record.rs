//! From the resolved inputs to the record bytes, checked twice: by the core's writer and by
//! building the agent configuration from the parsed bytes exactly as the firmware does at boot.

use std::net::Ipv4Addr;

use picokubelet_core::agent::ConfigError;
use picokubelet_core::client::HTTP_TX_LEN;
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::chip::Chip;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::provision::{
    self, ClientCertificate, Labels, ProvisionRecord, RecordTrust, WifiCredentials, CLIENT_KEY_LEN,
    MAX_CLIENT_CERT_LEN, MAX_RECORD_LEN, MAX_TOKEN_LEN,
};
use picokubelet_core::tls::jws::BootstrapToken;
use picokubelet_core::tls::pin::CaPin;

use super::ca::core_trust;
use super::endpoint::Endpoint;
use super::error::ProvisionError;
use super::wifi::WifiSetting;
use crate::args::Label;
use crate::secret::Secret;

/// Everything the record holds, owned and already checked field by field.
#[derive(Clone, Debug)]
pub struct RecordInputs {
    pub endpoint: Endpoint,
    pub tls_server_name: Option<String>,
    /// The cluster CA (DER); `None`: the server is not verified (explicit
    /// `--insecure-skip-tls-verify`), or `ca_pin` is set.
    pub ca_der: Option<Vec<u8>>,
    /// The CA's public-key hash: the board discovers the CA (bootstrap token only).
    pub ca_pin: Option<CaPin>,
    pub identity: BoardIdentity,
    pub wifi: Option<WifiSetting>,
    pub node_name: Option<String>,
    pub profile: Option<Chip>,
    pub labels: Vec<Label>,
    pub lease_renew_interval_secs: Option<u32>,
    pub status_interval_secs: Option<u32>,
}

/// Who the board is: a bearer token, or a client certificate with its P-256 key (a board
/// signs with P-256 only).
#[derive(Clone, Debug)]
pub enum BoardIdentity {
    Token(Secret),
    ClientCertificate {
        certificate_der: Vec<u8>,
        key: BoardKey,
    },
    /// kubelet TLS bootstrap: `ID.SECRET`, checked by [`BootstrapToken::parse`].
    BootstrapToken(Secret),
}

/// A P-256 private scalar. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct BoardKey(pub [u8; CLIENT_KEY_LEN]);

impl std::fmt::Debug for BoardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoardKey(<redacted>)")
    }
}

/// The record bytes (exactly its total length).
pub fn encode(inputs: &RecordInputs) -> Result<Vec<u8>, ProvisionError> {
    let host = inputs.endpoint.record_host();
    let trust = core_trust(inputs.ca_der.as_deref());
    let mut record = match &inputs.identity {
        BoardIdentity::BootstrapToken(token) => {
            let token = BootstrapToken::parse(token.expose()).map_err(|e| {
                ProvisionError::Node(format!("the bootstrap token is not usable: {e}"))
            })?;
            let mut record = ProvisionRecord::new(&host, trust, BearerToken::new("-"));
            record.token = None;
            record.bootstrap_token = Some(token);
            record
        }
        BoardIdentity::Token(token) => {
            let token = token.expose();
            if token.len() > MAX_TOKEN_LEN {
                return Err(ProvisionError::TokenTooLong { len: token.len() });
            }
            if !token.bytes().all(|b| matches!(b, 0x21..=0x7e)) {
                return Err(ProvisionError::TokenChars);
            }
            ProvisionRecord::new(&host, trust, BearerToken::new(token))
        }
        BoardIdentity::ClientCertificate {
            certificate_der,
            key,
        } => {
            if certificate_der.len() > MAX_CLIENT_CERT_LEN {
                return Err(ProvisionError::ClientCertificateTooLong {
                    len: certificate_der.len(),
                });
            }
            let mut record = ProvisionRecord::new(&host, trust, BearerToken::new("-"));
            record.token = None;
            record.client_certificate = Some(ClientCertificate {
                certificate_der,
                key: &key.0,
            });
            record
        }
    };
    if let Some(pin) = inputs.ca_pin {
        record.trust = RecordTrust::Discovery(pin);
    }
    record.port = inputs.endpoint.server.port;
    record.tls_server_name = inputs.tls_server_name.as_deref();
    record.wifi = inputs.wifi.as_ref().map(|w| WifiCredentials {
        ssid: &w.ssid,
        password: w.password.expose(),
    });
    record.node_name = match &inputs.node_name {
        Some(name) => Some(
            NodeName::new(name)
                .map_err(|e| ProvisionError::Node(format!("--node-name {name:?}: {e}")))?,
        ),
        None => None,
    };
    record.profile = inputs.profile;
    let mut labels = Labels::EMPTY;
    for l in &inputs.labels {
        if !labels.push(&l.key, &l.value) {
            return Err(ProvisionError::Node("too many --label flags".into()));
        }
    }
    record.labels = labels;
    record.lease_renew_interval_secs = inputs.lease_renew_interval_secs;
    record.status_interval_secs = inputs.status_interval_secs;
    let mut out = vec![0; MAX_RECORD_LEN];
    let len = provision::write(&record, &mut out).map_err(ProvisionError::Record)?;
    out.truncate(len);
    Ok(out)
}

/// Parses `bytes` and builds the agent configuration from them as the firmware does at boot
/// (with a sample MAC when the name is derived), including the check that the registration
/// request fits the client's transmit buffer. What fails here would fail on every board.
pub fn check_board_accepts(bytes: &[u8]) -> Result<(), ProvisionError> {
    let refuse = ProvisionError::BoardWouldRefuse;
    let record = provision::parse(bytes).map_err(ProvisionError::Record)?;
    let mac = [0x02, 0, 0, 0, 0, 1];
    let built_for = Chip::Esp32s3;
    let strings = record
        .agent_strings(mac, built_for)
        .map_err(|e| refuse(format!("node name: {e}")))?;
    let ids = NodeIds::new(mac, [0; 16]);
    // The longest IPv4 text: the registration body is measured at its largest.
    let ip = Ipv4Addr::new(255, 255, 255, 254);
    let agent = record
        .agent_config(&strings, built_for, ids, ip)
        .map_err(|e| refuse(describe(&e)))?;
    agent
        .check_fits(&mut vec![0; HTTP_TX_LEN])
        .map_err(|e| refuse(describe(&e)))
}

/// The `pkconfig` partition image: the record, then 0xFF (erased flash) up to `size`.
pub fn partition_image(record: &[u8], size: usize) -> Vec<u8> {
    let mut image = vec![0xFF; size.max(record.len())];
    if let Some(head) = image.get_mut(..record.len()) {
        head.copy_from_slice(record);
    }
    image
}

fn describe(e: &ConfigError) -> String {
    match e {
        ConfigError::RenewNotBelowLeaseDuration => {
            "--lease-renew-interval must be shorter than the 40 s lease duration".into()
        }
        ConfigError::TimeoutNotBelowRenewInterval => {
            "--lease-renew-interval must be longer than the 5 s request timeout".into()
        }
        ConfigError::RegistrationTooLarge { needed, available } => format!(
            "the Node registration request would need {needed} bytes, the board's buffer \
             holds {available} (a shorter token, node name or fewer labels)"
        ),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeconfig::parse_server_url;

    const CA: &str = include_str!("../../tests/fixtures/ca.crt");

    fn inputs() -> RecordInputs {
        RecordInputs {
            endpoint: Endpoint {
                server: parse_server_url("https://k3s.lab:6443").unwrap(),
                from_flag: false,
            },
            tls_server_name: Some("kubernetes".into()),
            ca_der: Some(super::super::ca::ca_der(CA.as_bytes()).unwrap()),
            ca_pin: None,
            identity: BoardIdentity::Token(Secret::new("abc.def")),
            wifi: None,
            node_name: None,
            profile: None,
            labels: Vec::new(),
            lease_renew_interval_secs: None,
            status_interval_secs: None,
        }
    }

    #[test]
    fn a_minimal_record_round_trips_and_the_board_accepts_it() {
        let bytes = encode(&inputs()).unwrap();
        let record = provision::parse(&bytes).unwrap();
        assert_eq!(record.host, "k3s.lab");
        assert_eq!(record.server_name(), "kubernetes");
        assert_eq!(record.token.unwrap().expose(), "abc.def");
        check_board_accepts(&bytes).unwrap();
    }

    #[test]
    fn a_renew_interval_the_agent_refuses_is_caught_here() {
        let mut i = inputs();
        i.lease_renew_interval_secs = Some(40);
        let err = check_board_accepts(&encode(&i).unwrap()).unwrap_err();
        assert!(err.to_string().contains("40 s lease"), "{err}");
    }

    /// Host and board share one timing rule: a renewal period at the 5 s request timeout
    /// halves the timeout instead of refusing the record.
    #[test]
    fn a_renew_interval_at_the_request_timeout_halves_it() {
        let mut i = inputs();
        i.lease_renew_interval_secs = Some(5);
        let bytes = encode(&i).unwrap();
        check_board_accepts(&bytes).unwrap();
        let record = provision::parse(&bytes).unwrap();
        let timing = record.cadence().timing();
        assert_eq!(
            timing.lease_renew_interval,
            std::time::Duration::from_secs(5)
        );
        assert_eq!(
            timing.request_timeout,
            std::time::Duration::from_millis(2_500)
        );
    }

    #[test]
    fn tokens_are_checked_with_messages_that_do_not_echo_them() {
        let mut i = inputs();
        i.identity = BoardIdentity::Token(Secret::new("a".repeat(MAX_TOKEN_LEN + 1)));
        assert!(matches!(
            encode(&i),
            Err(ProvisionError::TokenTooLong { len: 2049 })
        ));
        i.identity = BoardIdentity::Token(Secret::new("with space"));
        let err = encode(&i).unwrap_err();
        assert!(matches!(err, ProvisionError::TokenChars));
        assert!(!err.to_string().contains("with space"));
    }

    /// The record allows 2048-byte tokens, but the board's registration request must fit its
    /// 5120-byte transmit buffer: the longest tokens are refused here, not at every boot.
    #[test]
    fn a_registration_too_large_for_the_board_buffer_is_caught_here() {
        let mut i = inputs();
        i.identity = BoardIdentity::Token(Secret::new("t".repeat(1500)));
        check_board_accepts(&encode(&i).unwrap()).unwrap();
        i.identity = BoardIdentity::Token(Secret::new("t".repeat(MAX_TOKEN_LEN)));
        let err = check_board_accepts(&encode(&i).unwrap()).unwrap_err();
        assert!(err.to_string().contains("buffer holds 5120"), "{err}");
    }

    #[test]
    fn the_partition_image_is_the_record_then_erased_flash() {
        let image = partition_image(&[1, 2, 3], 8);
        assert_eq!(image, [1, 2, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    proptest::proptest! {
        #[test]
        fn any_visible_ascii_token_round_trips(token in "[!-~]{1,2048}") {
            let mut i = inputs();
            i.identity = BoardIdentity::Token(Secret::new(token.clone()));
            let bytes = encode(&i).unwrap();
            let record = provision::parse(&bytes).unwrap();
            proptest::prop_assert_eq!(record.token.unwrap().expose(), token.as_str());
        }
    }
}

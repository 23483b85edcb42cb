//! `--mint-bootstrap-token`: `provision` makes the fleet's bootstrap token itself, with the
//! kubeconfig's own credentials (an exec plugin's included — the host runs it), by creating the
//! `kube-system/bootstrap-token-<id>` Secret exactly as `kubeadm token create` does. The boards
//! then each ask for their own certificate with it; the kubeconfig's credentials never reach
//! the record.
//!
//! The request goes over the session `check` uses (the core's TLS verifier and client).

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use picokubelet_core::k8s::paths::ApiPath;
use rand_core::{OsRng, RngCore};

use super::error::ProvisionError;
use crate::agent_setup::AgentSetup;
use crate::args::{AgentArgs, ChipArg, NodeArgs};
use crate::board;
use crate::check::ask;
use crate::check::wire::{self, now_micros, Wire, WireError, STEP_TIMEOUT};
use crate::kubeconfig::ResolvedConfig;
use crate::secret::Secret;

/// kubeadm's group for the tokens it makes; kubeadm's RBAC (and deploy/bootstrap-rbac.yaml,
/// which binds `system:bootstrappers`) lets it send node CSRs and have them auto-approved.
pub const KUBEADM_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// How many fresh ids are tried when one is taken (409): 36^6 ids make a second clash
/// vanishingly rare; a third means something else answers 409.
const ATTEMPTS: usize = 3;

/// The token `provision` made, and until when it joins boards.
#[derive(Debug)]
pub struct Minted {
    /// `ID.SECRET`.
    pub token: Secret,
    pub expires: SystemTime,
}

/// Creates a bootstrap token valid for `ttl` with `resolved`'s credentials.
pub fn mint(resolved: &ResolvedConfig, ttl: Duration) -> Result<Minted, ProvisionError> {
    let node = NodeArgs {
        node_name: None,
        profile: ChipArg(picokubelet_core::k8s::chip::Chip::Esp32s3),
        labels: Vec::new(),
    };
    let agent = AgentArgs {
        lease_renew_interval: Duration::from_secs(10),
        status_interval: Duration::from_secs(300),
        condition_check_interval: Duration::from_secs(10),
        metrics_addr: None,
        signals_file: None,
        dry_run: false,
        ui: false,
    };
    let setup = AgentSetup::new(resolved, &node, &agent, board::InternalIp::Loopback)
        .map_err(|e| ProvisionError::Mint(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ProvisionError::Mint(format!("cannot start the async runtime: {e}")))?;
    let expires = SystemTime::now() + ttl;
    for _ in 0..ATTEMPTS {
        let (id, secret) = (random_chars(6), random_chars(16));
        let body = secret_body(&id, &secret, expires);
        match runtime.block_on(create(&setup, &body))? {
            Created::Yes => {
                return Ok(Minted {
                    token: Secret::new(format!("{id}.{secret}")),
                    expires,
                })
            }
            Created::Taken => continue,
        }
    }
    Err(ProvisionError::Mint(format!(
        "the server answered 409 AlreadyExists to {ATTEMPTS} fresh random token ids; is it a kube-apiserver?"
    )))
}

/// `n` characters of the bootstrap token alphabet `[a-z0-9]`, from the OS's random source
/// (rejection sampling: 252 = 7 × 36, so every character is equally likely).
fn random_chars(n: usize) -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    let mut byte = [0u8; 1];
    while out.len() < n {
        OsRng.fill_bytes(&mut byte);
        if byte[0] < 252 {
            out.push(char::from(ALPHABET[usize::from(byte[0] % 36)]));
        }
    }
    out
}

/// The Secret `kubeadm token create` writes (kubeadm's `BootstrapTokenToSecret`): type
/// `bootstrap.kubernetes.io/token`, `data` base64, both usages, kubeadm's extra group.
pub fn secret_body(id: &str, secret: &str, expires: SystemTime) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let expiration = humantime::format_rfc3339_seconds(expires).to_string();
    format!(
        concat!(
            r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"bootstrap-token-{id}","namespace":"kube-system"}},"#,
            r#""type":"bootstrap.kubernetes.io/token","data":{{"#,
            r#""description":"{description}","token-id":"{id64}","token-secret":"{secret64}","expiration":"{expiration}","#,
            r#""usage-bootstrap-authentication":"{yes}","usage-bootstrap-signing":"{yes}","auth-extra-groups":"{groups}"}}}}"#
        ),
        id = id,
        description = b64("picokubelet provision: TLS bootstrap of a fleet of boards"),
        id64 = b64(id),
        secret64 = b64(secret),
        expiration = b64(&expiration),
        yes = b64("true"),
        groups = b64(KUBEADM_TOKEN_GROUP),
    )
}

enum Created {
    Yes,
    /// 409: a token with this id exists.
    Taken,
}

/// One POST of the Secret over a fresh session.
async fn create(setup: &AgentSetup, body: &str) -> Result<Created, ProvisionError> {
    let server = &setup.server;
    let fail = |what: String| ProvisionError::Mint(what);
    let socket = wire::connect(server).await.map_err(|e| match e {
        WireError::Connect(e) => fail(format!("cannot reach {server}: {e}")),
        WireError::Timeout(step) => fail(format!(
            "{step} to {server} took longer than {STEP_TIMEOUT:?}"
        )),
        WireError::Tls(e) => fail(e.to_string()),
    })?;
    let mut wire = Wire::default();
    let session = wire::handshake(
        socket,
        &mut wire.tls,
        setup.trust(),
        setup.client_identity(),
        setup.server_name(),
        now_micros(),
    )
    .await
    .map_err(|e| match e {
        WireError::Tls(e) => fail(format!(
            "{e} (`picokubelet check` with this kubeconfig says more)"
        )),
        other => fail(format!("the TLS handshake with {server} failed: {other:?}")),
    })?;
    let mut client = picokubelet_core::client::ApiClient::new(
        session,
        &wire.clock,
        setup.endpoint(),
        &mut wire.http,
        &wire.metrics,
        STEP_TIMEOUT,
    );
    let answer = ask::create(&mut client, ApiPath::KubeSystemSecrets, body.as_bytes())
        .await
        .map_err(|e| {
            fail(format!(
                "POST /api/v1/namespaces/kube-system/secrets failed: {e:?}"
            ))
        })?;
    let message = answer.failure.message.as_str();
    match answer.reply.status {
        200 | 201 => Ok(Created::Yes),
        409 => Ok(Created::Taken),
        401 => Err(fail(
            "the server rejected the kubeconfig's credentials (401 Unauthorized): log in again (the exec plugin's login), then run provision again".into(),
        )),
        403 => Err(fail(format!(
            "the kubeconfig's user may not create Secrets in kube-system ({message}); minting a bootstrap token needs what `kubeadm token create` needs: use an admin's kubeconfig, or make the token on the control plane and pass it with --bootstrap-token-file"
        ))),
        code => Err(fail(format!(
            "creating the bootstrap-token Secret got {code}: {message}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_are_of_the_bootstrap_token_alphabet() {
        for n in [6, 16] {
            let s = random_chars(n);
            assert_eq!(s.len(), n);
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{s}"
            );
        }
        assert_ne!(random_chars(16), random_chars(16));
        let token = format!("{}.{}", random_chars(6), random_chars(16));
        assert!(picokubelet_core::tls::jws::BootstrapToken::parse(&token).is_ok());
    }

    #[test]
    fn the_secret_is_kubeadms() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_685_858);
        let body = secret_body("abcdef", "0123456789abcdef", at);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for part in [
            r#""name":"bootstrap-token-abcdef","namespace":"kube-system""#.to_owned(),
            r#""type":"bootstrap.kubernetes.io/token""#.to_owned(),
            format!(r#""token-id":"{}""#, b64("abcdef")),
            format!(r#""token-secret":"{}""#, b64("0123456789abcdef")),
            format!(r#""expiration":"{}""#, b64("2025-12-02T14:30:58Z")),
            format!(r#""usage-bootstrap-authentication":"{}""#, b64("true")),
            format!(r#""usage-bootstrap-signing":"{}""#, b64("true")),
            format!(r#""auth-extra-groups":"{}""#, b64(KUBEADM_TOKEN_GROUP)),
        ] {
            assert!(body.contains(&part), "{part} in {body}");
        }
    }
}

//! `fleet` with TLS bootstrap: one bootstrap token, and every board its own P-256 key, CSR and
//! client certificate (`system:node:<board>`), kept in `<cert-dir>/<board>/` (so a restarted
//! fleet reuses them) and renewed at 70–90 % of its lifetime, as `run` does for one node.
//!
//! At scale: every certificate request's session waits for a slot of the fleet's handshake
//! pacer (so requests add no burst of handshakes beyond the agents' limit); routine steps are at
//! debug; requests waiting for a person are listed once, in one line, with the command that
//! approves them; refusals are counted by cause (the first of each cause logged as a sentence
//! with its fix) and shown in the summary line and `/metrics`.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::cert_dir::{unix_now, CertDir};
pub use super::figures::CertificateFigures;
use super::request::{CsrFailure, CsrObserver, APPROVAL_HINT_AFTER};
use super::{renewal_delay, BootstrapCluster, Bootstrapper};
use crate::args::{AgentArgs, NodeArgs};
use crate::kubeconfig::{ClientCertificate, Credentials, ResolvedConfig, Selection, TokenSource};
use crate::pacer::HandshakePacer;
use crate::secret::Secret;

/// The first wait before a board asks again after a refusal; it doubles up to
/// [`RETRY_MAX`]. A refusal is usually fixed by a person (RBAC, a new token), so the fleet
/// keeps asking, slowly, instead of exiting.
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Most request names one approval line lists; past that it gives a command for all of them.
const APPROVAL_NAMES_MAX: usize = 50;

/// What the fleet's boards share for their bootstrap. `Send + Sync`: every worker thread's
/// boards use the one behind an `Arc`.
#[derive(Debug)]
pub struct FleetBootstrap {
    target: BootstrapCluster,
    node: NodeArgs,
    agent: AgentArgs,
    /// Board `b`'s certificates are in `root/b`.
    root: PathBuf,
    lifetime: Option<Duration>,
    status: Status,
    /// A fleet's boards stop by being dropped; the watch the bootstrapper waits on must stay
    /// open until then (a closed one reads as "stop").
    _stop: watch::Sender<bool>,
    never: watch::Receiver<bool>,
}

/// The short name of a failure's cause, for counting.
pub fn cause_of(failure: &CsrFailure) -> &'static str {
    match failure {
        CsrFailure::Unauthorized { .. } => "unauthorized",
        CsrFailure::Forbidden { .. } => "forbidden",
        CsrFailure::Denied { .. } => "denied",
        CsrFailure::Failed { .. } => "signer-failed",
        CsrFailure::Unusable(_) => "unusable",
        CsrFailure::Stopped => "stopped",
    }
}

#[derive(Debug, Default)]
struct Status(Mutex<StatusInner>);

#[derive(Debug, Default)]
struct StatusInner {
    figures: CertificateFigures,
    /// Requests pending past the hint time, not yet decided.
    pending: BTreeSet<String>,
    /// Those already listed in an approval line.
    announced: BTreeSet<String>,
    /// Causes already logged as a sentence.
    warned: BTreeSet<&'static str>,
    /// A board's stored certificate was accepted by the server (see `Bootstrapper`).
    stored_accepted: bool,
}

impl Status {
    fn lock(&self) -> MutexGuard<'_, StatusInner> {
        // Poisoned only if a thread panicked between two counter updates.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn figures(&self) -> CertificateFigures {
        let inner = self.lock();
        CertificateFigures {
            awaiting_approval: inner.pending.len(),
            ..inner.figures.clone()
        }
    }

    /// Counts `failure` of board `node`; the first of its cause is logged as a sentence.
    fn refused(&self, node: &str, failure: &CsrFailure) {
        let cause = cause_of(failure);
        let first = {
            let mut inner = self.lock();
            *inner.figures.refusals.entry(cause).or_default() += 1;
            inner.warned.insert(cause)
        };
        if first {
            warn!(
                node,
                cause,
                "a board's certificate request failed: {failure}. The boards keep asking \
                 (every {} at most); the fleet summary counts them by cause",
                humantime::format_duration(RETRY_MAX)
            );
        } else {
            debug!(node, cause, "certificate request failed: {failure}");
        }
    }

    /// The request names that wait for a person and were not listed yet; they count as
    /// listed from now on.
    fn unannounced(&self) -> Vec<String> {
        let mut inner = self.lock();
        let fresh: Vec<String> = inner
            .pending
            .iter()
            .filter(|n| !inner.announced.contains(*n))
            .cloned()
            .collect();
        inner.announced.extend(fresh.iter().cloned());
        fresh
    }
}

impl CsrObserver for Status {
    fn waiting_for_approval(&self, name: &str) {
        self.lock().pending.insert(name.to_owned());
    }

    fn reused(&self) {
        self.lock().figures.reused += 1;
    }

    fn stored_certificate_accepted(&self) {
        self.lock().stored_accepted = true;
    }

    fn stored_certificates_accepted(&self) -> bool {
        self.lock().stored_accepted
    }

    fn settled(&self, name: &str, issued: bool) {
        let mut inner = self.lock();
        inner.pending.remove(name);
        inner.announced.remove(name);
        if issued {
            inner.figures.issued += 1;
        }
    }
}

/// The line that lists the requests `names` (sorted) waiting for approval.
pub fn approval_line(names: &[String]) -> String {
    let count = names.len();
    let what = if count == 1 {
        "1 certificate request waits".to_owned()
    } else {
        format!("{count} certificate requests wait")
    };
    let command = if count <= APPROVAL_NAMES_MAX {
        format!("kubectl certificate approve {}", names.join(" "))
    } else {
        // Every pending request of the kubelet signer, which may include other nodes'.
        "kubectl get csr --field-selector spec.signerName=kubernetes.io/kube-apiserver-client-kubelet \
         -o go-template='{{range .items}}{{if not .status}}{{.metadata.name}}{{\"\\n\"}}{{end}}{{end}}' \
         | xargs kubectl certificate approve"
            .to_owned()
    };
    format!(
        "{what} for approval: this cluster does not approve node client certificates \
         automatically (kube-controller-manager's csrapprover with deploy/bootstrap-rbac.yaml \
         would). Approve them with `{command}`; the boards keep waiting"
    )
}

impl FleetBootstrap {
    /// The fleet's bootstrap from the cluster `target` and the fleet's flags; certificates
    /// under `root`.
    pub fn new(
        target: BootstrapCluster,
        node: &NodeArgs,
        agent: &AgentArgs,
        root: PathBuf,
        lifetime: Option<Duration>,
    ) -> Self {
        let (stop, never) = watch::channel(false);
        FleetBootstrap {
            target,
            node: node.clone(),
            agent: agent.clone(),
            root,
            lifetime,
            status: Status::default(),
            _stop: stop,
            never,
        }
    }

    /// Where board `name` keeps its certificates.
    pub fn cert_dir_of(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn figures(&self) -> CertificateFigures {
        self.status.figures()
    }

    /// The credentials every board's agent starts from: none of its own (each board adds its
    /// certificate to its TLS opener), the bootstrap cluster's server and CA.
    pub fn shared_credentials(&self) -> ResolvedConfig {
        ResolvedConfig {
            selection: Selection {
                user: "system:node:<board> (TLS bootstrap, one certificate per board)".to_owned(),
                ..self.target.selection.clone()
            },
            cluster: self.target.cluster.clone(),
            credentials: Credentials {
                token: Secret::new(String::new()),
                source: TokenSource::None,
                client_certificate: None,
            },
        }
    }

    /// Logs, every [`APPROVAL_HINT_AFTER`], the requests that newly wait for a person (each
    /// request once). Never returns.
    pub async fn announce_approvals(&self) {
        let mut tick = tokio::time::interval(APPROVAL_HINT_AFTER);
        loop {
            tick.tick().await;
            let names = self.status.unannounced();
            if !names.is_empty() {
                warn!(requests = names.len(), "{}", approval_line(&names));
            }
        }
    }

    /// Board `name`'s life: its certificate (stored, or through a request), then `agent` with
    /// it until a renewed one replaces it, for ever. Failed requests are retried with a
    /// growing, jittered pause.
    pub async fn run_board<F, Fut>(&self, name: &str, gate: &HandshakePacer, mut agent: F)
    where
        F: FnMut(ClientCertificate) -> Fut,
        Fut: Future<Output = ()>,
    {
        self.status.lock().figures.without_certificate += 1;
        let mut node = self.node.clone();
        node.node_name = Some(name.to_owned());
        let dir = loop {
            match CertDir::open(&self.cert_dir_of(name)) {
                Ok(dir) => break dir,
                Err(why) => {
                    self.status.refused(name, &CsrFailure::Unusable(why));
                    tokio::time::sleep(RETRY_MAX).await;
                }
            }
        };
        let boot = Bootstrapper::new(&node, &self.agent, &self.target, dir, self.lifetime)
            .in_fleet(gate, &self.status);
        let mut stop = self.never.clone();
        let mut pause = RETRY_FIRST;
        let mut identity = loop {
            match boot.identity(&mut stop).await {
                Ok(identity) => break identity,
                Err(CsrFailure::Stopped) => return,
                Err(e) => {
                    self.status.refused(name, &e);
                    pause = wait_and_grow(pause).await;
                }
            }
        };
        {
            let mut inner = self.status.lock();
            inner.figures.without_certificate = inner.figures.without_certificate.saturating_sub(1);
        }
        loop {
            let renew_in = renewal_delay(&identity, unix_now(), OsRng.next_u32());
            debug!(
                node = name,
                renew_in = %humantime::format_duration(renew_in),
                "using the board's own client certificate"
            );
            let renewal = async {
                tokio::time::sleep(renew_in).await;
                let mut stop = self.never.clone();
                let mut pause = RETRY_FIRST;
                loop {
                    match boot.renew(&identity, &mut stop).await {
                        Ok(next) => return Some(next),
                        Err(CsrFailure::Stopped) => return None,
                        Err(e) => {
                            self.status.refused(name, &e);
                            pause = wait_and_grow(pause).await;
                        }
                    }
                }
            };
            let next = tokio::select! {
                () = agent(identity.certificate.clone()) => None,
                next = renewal => next,
            };
            match next {
                Some(next) => identity = next,
                None => return,
            }
        }
    }
}

/// Sleeps about `pause` (between half and all of it, so boards refused together do not ask
/// again together) and returns the next pause.
async fn wait_and_grow(pause: Duration) -> Duration {
    let half = pause / 2;
    let jitter = half.mul_f64(f64::from(OsRng.next_u32()) / f64::from(u32::MAX));
    tokio::time::sleep(half + jitter).await;
    (pause * 2).min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("csr-{i:05}")).collect()
    }

    #[test]
    fn the_approval_line_names_the_requests_or_gives_a_command_for_all() {
        let line = approval_line(&names(2));
        assert!(
            line.starts_with("2 certificate requests wait for approval"),
            "{line}"
        );
        assert!(
            line.contains("`kubectl certificate approve csr-00000 csr-00001`"),
            "{line}"
        );
        let one = approval_line(&names(1));
        assert!(one.starts_with("1 certificate request waits"), "{one}");
        let many = approval_line(&names(APPROVAL_NAMES_MAX + 1));
        assert!(!many.contains("csr-00000"), "{many}");
        assert!(
            many.contains("| xargs kubectl certificate approve"),
            "{many}"
        );
    }

    #[test]
    fn each_waiting_request_is_announced_once_and_settled_ones_leave() {
        let status = Status::default();
        status.waiting_for_approval("csr-a");
        status.waiting_for_approval("csr-b");
        assert_eq!(status.unannounced(), ["csr-a", "csr-b"]);
        assert!(status.unannounced().is_empty());
        status.waiting_for_approval("csr-c");
        assert_eq!(status.unannounced(), ["csr-c"]);
        assert_eq!(status.figures().awaiting_approval, 3);
        status.settled("csr-a", true);
        status.settled("csr-b", false);
        let f = status.figures();
        assert_eq!((f.awaiting_approval, f.issued), (1, 1));
    }

    #[test]
    fn refusals_are_counted_by_cause() {
        let status = Status::default();
        let forbidden = CsrFailure::Forbidden {
            message: "no".into(),
        };
        status.refused("b-1", &forbidden);
        status.refused("b-2", &forbidden);
        status.refused(
            "b-3",
            &CsrFailure::Unauthorized {
                credentials: "the bootstrap token".into(),
            },
        );
        let f = status.figures();
        assert_eq!(f.refusals.get("forbidden"), Some(&2));
        assert_eq!(f.refusals.get("unauthorized"), Some(&1));
        assert_eq!(
            f.to_string(),
            "0 issued, 0 reused, 0 without one, 0 awaiting approval, forbidden x2, unauthorized x1"
        );
    }
}

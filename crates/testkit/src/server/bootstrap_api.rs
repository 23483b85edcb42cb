//! The test's handle on kubelet TLS bootstrap and discovery (see [`crate::bootstrap`] for the
//! overview): bootstrap tokens, the auto-approver's switch, approvals, the RBAC, cluster-info.

use serde_json::Value;

use crate::auth::BootstrapRbac;
use crate::bootstrap::BootstrapToken;
use crate::clock::lock;
use crate::csr::Verdict;
use crate::discovery;

use super::{base64, TestApiServer};

impl TestApiServer {
    /// Wakes the watches after a change made here.
    fn changed(&self) {
        self.shared.changes.send_modify(|n| *n += 1);
    }

    /// Creates (or replaces) the Secret `kube-system/bootstrap-token-<id>`: the token
    /// authenticates, and signs cluster-info if its Secret allows.
    pub fn add_bootstrap_token(&self, token: BootstrapToken) {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.bootstrap.add(token);
        st.settle(now);
        drop(st);
        self.changed();
    }

    /// The token of the Secret `kube-system/bootstrap-token-<id>`, as the authenticator reads
    /// it (added here or created through the API).
    pub fn bootstrap_token(&self, id: &str) -> Option<BootstrapToken> {
        lock(&self.shared.state).bootstrap.get(id).cloned()
    }

    /// Deletes the Secret of token `id` (an authentication cached in the last 10 s still
    /// holds, as recorded in A15e). True when there was one.
    pub fn remove_bootstrap_token(&self, id: &str) -> bool {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        let removed = st.bootstrap.remove(id);
        st.settle(now);
        drop(st);
        self.changed();
        removed
    }

    /// Test-only: every certificate issued from now on is valid for `max` from its issue, no
    /// backdating (`None`: the controller-manager's rules, at least 600 s). A real server does
    /// not allow this; it lets a test watch a board renew within seconds.
    pub fn set_csr_max_duration(&self, max: Option<std::time::Duration>) {
        lock(&self.shared.state).csrs.max_duration = max;
    }

    /// Turns kube-controller-manager's auto-approver on (default, as kubeadm and kind) or off
    /// (k3s-like: every CSR stays pending until [`TestApiServer::approve_csr`] or a PUT of
    /// `/approval`).
    pub fn set_csr_auto_approval(&self, on: bool) {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.csrs.auto_approve = on;
        st.settle(now);
        drop(st);
        self.changed();
    }

    /// Approves CSR `name` as `kubectl certificate approve` does; the signer issues it at once.
    /// False when there is no such CSR or it was already approved or denied.
    pub fn approve_csr(&self, name: &str) -> bool {
        self.decide_csr(name, true)
    }

    /// Denies CSR `name` as `kubectl certificate deny` does.
    pub fn deny_csr(&self, name: &str) -> bool {
        self.decide_csr(name, false)
    }

    fn decide_csr(&self, name: &str, approve: bool) -> bool {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.settle(now);
        let (reason, message) = if approve {
            (
                "KubectlApprove",
                "This CSR was approved by kubectl certificate approve.",
            )
        } else {
            (
                "KubectlDeny",
                "This CSR was denied by kubectl certificate deny.",
            )
        };
        let crate::state::State { csrs, store, .. } = &mut *st;
        let verdict = Verdict {
            approve,
            reason,
            message,
        };
        let decided = csrs.decide(name, &verdict, "kubectl", &mut store.rv, now);
        st.settle(now);
        drop(st);
        self.changed();
        decided
    }

    /// The CSR `name` as a GET answers it.
    pub fn csr(&self, name: &str) -> Option<Value> {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.settle(now);
        st.csrs.get(name).map(|c| c.render(true))
    }

    /// The certificate PEM issued for CSR `name`, once issued.
    pub fn issued_certificate(&self, name: &str) -> Option<String> {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.settle(now);
        st.csrs.get(name).and_then(|c| c.certificate_pem())
    }

    /// Every CSR's name, in order.
    pub fn csr_names(&self) -> Vec<String> {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.settle(now);
        st.csrs.all().map(|c| c.name.clone()).collect()
    }

    /// Replaces the bootstrap RBAC ([`BootstrapRbac::kubeadm`] by default;
    /// [`BootstrapRbac::none`] for a cluster without kubeadm's bindings).
    pub fn set_bootstrap_rbac(&self, rbac: BootstrapRbac) {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.rbac.bootstrap = rbac;
        st.settle(now);
        drop(st);
        self.changed();
    }

    /// A kubeconfig like kubeadm's `bootstrap-kubelet.conf`: this server, its CA, the token.
    pub fn bootstrap_kubeconfig(&self, token: &BootstrapToken) -> String {
        self.kubeconfig(&token.token())
    }

    /// kubeadm's `--discovery-token-ca-cert-hash` of this server's CA: `sha256:<hex>`.
    pub fn ca_cert_hash(&self) -> String {
        discovery::ca_cert_hash(&self.shared.pki.ca_der).unwrap_or_default()
    }

    /// `kube-public/cluster-info` as an anonymous GET answers it.
    pub fn cluster_info(&self) -> Value {
        let now = self.shared.clock.now();
        let mut st = lock(&self.shared.state);
        st.settle(now);
        st.cluster_info.render()
    }

    /// The CA PEM base64-encoded, as kubeconfigs carry it.
    pub fn ca_data(&self) -> String {
        base64(self.shared.pki.ca_pem.as_bytes())
    }
}

//! Bootstrap tokens as kube-apiserver's bootstrap-token authenticator and kube-controller-manager's
//! tokencleaner treat them (recorded-2 A14, A15*, C02).
//!
//! # kubelet TLS bootstrap in the test server: the testkit API
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use picokubelet_testkit::{BootstrapRbac, BootstrapToken, ServerOptions, TestApiServer};
//! let server = TestApiServer::start(ServerOptions::default()).await?;
//! // A token as `kubeadm token create` makes it (both usages, group
//! // system:bootstrappers:kubeadm:default-node-token); the kubeadm RBAC is on by default.
//! let token = BootstrapToken::new("abcdef", "0123456789abcdef");
//! server.add_bootstrap_token(token.clone());
//! let kubeconfig = server.bootstrap_kubeconfig(&token); // bearer `abcdef.0123456789abcdef`
//! // k3s-like: no auto-approval; CSRs stay pending until a test approves them
//! // (or a client PUTs /approval as `kubectl certificate approve` does).
//! server.set_csr_auto_approval(false); // or ServerOptions::with_csr_auto_approval(false)
//! server.approve_csr("csr-abc12");
//! // A cluster without kubeadm's bindings (403 on the CSR create until deploy/bootstrap-rbac.yaml
//! // is "applied"):
//! server.set_bootstrap_rbac(BootstrapRbac::none());
//! let csr = server.csr("csr-abc12"); // the object as a GET shows it
//! let pem = server.issued_certificate("csr-abc12"); // Some(PEM) once issued
//! // Clients may also watch: `GET …/certificatesigningrequests?watch=1&fieldSelector=
//! // metadata.name%3D<name>&timeoutSeconds=<s>` streams ADDED, MODIFIED (approved), MODIFIED
//! // (issued), one per chunk, as recorded in A05.
//! // Discovery: kube-public/cluster-info (anonymous GET) carries `jws-kubeconfig-abcdef`;
//! // `server.ca_cert_hash()` is kubeadm's `sha256:<hex>` of the CA's public key.
//! server.remove_bootstrap_token("abcdef");
//! # let _ = (kubeconfig, csr, pem); Ok(()) }
//! ```
//!
//! Issued certificates authenticate as their subject (`system:node:<name>`, group
//! `system:nodes`) on later TLS connections, like any certificate from the client CA.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use crate::auth::{User, KUBEADM_TOKEN_GROUP};

/// How long kube-apiserver caches a successful token authentication
/// (`--token-auth-cache-ttl`'s success TTL): A15e, a token still accepted 2 s after it expired
/// (its Secret already deleted), then A15f refused 19 s after its first use.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(10);

/// One `kube-system/bootstrap-token-<id>` Secret (type `bootstrap.kubernetes.io/token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// `token-id`: 6 characters `[a-z0-9]`.
    pub id: String,
    /// `token-secret`: 16 characters `[a-z0-9]`.
    pub secret: String,
    /// `expiration`: refused from this instant on (and its Secret deleted by the tokencleaner).
    pub expiration: Option<SystemTime>,
    /// `usage-bootstrap-authentication: "true"`: accepted as a bearer token.
    pub authentication: bool,
    /// `usage-bootstrap-signing: "true"`: signs `kube-public/cluster-info`.
    pub signing: bool,
    /// `auth-extra-groups`, after `system:bootstrappers`.
    pub extra_groups: Vec<String>,
}

impl BootstrapToken {
    /// A token as `kubeadm token create` makes it: both usages, the kubeadm extra group, no
    /// expiration (kubeadm's default is 24 h; set one with [`BootstrapToken::expiring`]).
    pub fn new(id: &str, secret: &str) -> Self {
        BootstrapToken {
            id: id.to_string(),
            secret: secret.to_string(),
            expiration: None,
            authentication: true,
            signing: true,
            extra_groups: vec![KUBEADM_TOKEN_GROUP.to_string()],
        }
    }

    /// `abcdef.0123456789abcdef` → a token with kubeadm's defaults; `None` when not of that shape.
    pub fn parse(token: &str) -> Option<Self> {
        let (id, secret) = split_token(token)?;
        Some(Self::new(id, secret))
    }

    /// The same token with an `expiration`.
    pub fn expiring(mut self, at: SystemTime) -> Self {
        self.expiration = Some(at);
        self
    }

    /// The same token with these `auth-extra-groups`.
    pub fn with_extra_groups(mut self, groups: &[&str]) -> Self {
        self.extra_groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }

    /// The bearer token: `<id>.<secret>`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// `system:bootstrap:<id>` in `system:bootstrappers`, the extra groups and
    /// `system:authenticated` (C02).
    pub fn user(&self) -> User {
        let mut groups = vec!["system:bootstrappers".to_string()];
        groups.extend(self.extra_groups.iter().cloned());
        groups.push("system:authenticated".to_string());
        User {
            name: format!("system:bootstrap:{}", self.id),
            groups,
        }
    }

    /// Expired at `now` (the tokencleaner deletes it, the authenticator refuses it).
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expiration.is_some_and(|e| e <= now)
    }
}

/// `<id>.<secret>` with the bootstrap token alphabet and lengths (`[a-z0-9]{6}\.[a-z0-9]{16}`).
fn split_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// The bootstrap-token Secrets and the authenticator's success cache.
#[derive(Debug, Clone, Default)]
pub struct BootstrapTokens {
    by_id: BTreeMap<String, BootstrapToken>,
    /// Bearer token → user and the instant the cached success lapses.
    cache: HashMap<String, (User, SystemTime)>,
    /// The time of the last [`BootstrapTokens::clean`] (for [`BootstrapTokens::peek`]).
    seen: Option<SystemTime>,
}

impl BootstrapTokens {
    /// Adds or replaces the Secret of `token.id`.
    pub fn add(&mut self, token: BootstrapToken) {
        self.by_id.insert(token.id.clone(), token);
    }

    /// The Secret of `id`, if the server holds one.
    pub fn get(&self, id: &str) -> Option<&BootstrapToken> {
        self.by_id.get(id)
    }

    /// Deletes the Secret of `id` (an authentication cached in the last 10 s still holds, as
    /// recorded). True when there was one.
    pub fn remove(&mut self, id: &str) -> bool {
        self.by_id.remove(id).is_some()
    }

    /// The tokencleaner: deletes the Secrets expired at `now` (A15c: at once).
    pub fn clean(&mut self, now: SystemTime) {
        self.by_id.retain(|_, t| !t.expired(now));
        self.seen = Some(now);
    }

    /// The live tokens whose Secret allows signing, by id.
    pub fn signing(&self, now: SystemTime) -> impl Iterator<Item = &BootstrapToken> {
        self.by_id
            .values()
            .filter(move |t| t.signing && !t.expired(now))
    }

    /// Authenticates a bearer token at `now`: `None` when it is not shaped like a bootstrap token
    /// (another authenticator's), `Some(None)` when refused (wrong secret, expired, deleted,
    /// authentication not allowed — one 401 for all, A14/A15), `Some(Some(user))` when accepted.
    /// A success is cached for [`AUTH_CACHE_TTL`]; refusals are not cached (the apiserver's
    /// failure TTL is 0).
    pub fn authenticate(&mut self, bearer: &str, now: SystemTime) -> Option<Option<User>> {
        let (id, secret) = split_token(bearer)?;
        if let Some((user, until)) = self.cache.get(bearer) {
            if now < *until {
                return Some(Some(user.clone()));
            }
        }
        self.cache.retain(|_, (_, until)| now < *until);
        let Some(user) = self.check(id, secret, now) else {
            return Some(None);
        };
        self.cache
            .insert(bearer.to_string(), (user.clone(), now + AUTH_CACHE_TTL));
        Some(Some(user))
    }

    /// [`BootstrapTokens::authenticate`] as of the last [`BootstrapTokens::clean`], without
    /// touching the cache (for answers that do not pass the authenticator: injected faults).
    pub fn peek(&self, bearer: &str) -> Option<Option<User>> {
        let (id, secret) = split_token(bearer)?;
        let now = self.seen?;
        if let Some((user, _)) = self.cache.get(bearer).filter(|(_, until)| now < *until) {
            return Some(Some(user.clone()));
        }
        Some(self.check(id, secret, now))
    }

    fn check(&self, id: &str, secret: &str, now: SystemTime) -> Option<User> {
        self.by_id
            .get(id)
            .filter(|t| t.authentication && !t.expired(now))
            .filter(|t| constant_time_eq(t.secret.as_bytes(), secret.as_bytes()))
            .map(BootstrapToken::user)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_token_is_accepted_until_it_expires_plus_the_cache_of_its_last_success() {
        let mut tokens = BootstrapTokens::default();
        // A15d–f: expiration 5 s after creation, used at +1, +7 (still 200), +26 (401).
        tokens.add(BootstrapToken::new("exp002", "0123456789abcdef").expiring(at(105)));
        let bearer = "exp002.0123456789abcdef";
        let user = tokens.authenticate(bearer, at(101)).unwrap().unwrap();
        assert_eq!(user.name, "system:bootstrap:exp002");
        tokens.clean(at(106));
        assert_eq!(tokens.authenticate(bearer, at(107)), Some(Some(user)));
        assert_eq!(tokens.authenticate(bearer, at(126)), Some(None));
    }

    #[test]
    fn a_wrong_secret_an_unknown_id_and_other_shapes() {
        let mut tokens = BootstrapTokens::default();
        tokens.add(BootstrapToken::new("9bc31e", "0123456789abcdef"));
        assert_eq!(
            tokens.authenticate("9bc31e.0000000000000000", at(1)),
            Some(None)
        );
        assert_eq!(
            tokens.authenticate("zzzzzz.0123456789abcdef", at(1)),
            Some(None)
        );
        assert_eq!(tokens.authenticate("0123456789abcdef0123", at(1)), None);
        assert_eq!(tokens.authenticate("9BC31E.0123456789abcdef", at(1)), None);
        let mut no_auth = BootstrapToken::new("signer", "0123456789abcdef");
        no_auth.authentication = false;
        tokens.add(no_auth);
        assert_eq!(
            tokens.authenticate("signer.0123456789abcdef", at(1)),
            Some(None)
        );
    }
}

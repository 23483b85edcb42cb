//! CertificateSigningRequests (`certificates.k8s.io/v1`): their storage, and the two
//! kube-controller-manager controllers that act on them — csrapproving (the auto-approver: a
//! kubelet client request approved after a SubjectAccessReview of `…/nodeclient` or, for a
//! renewal by the same node, `…/selfnodeclient`) and csrsigning (the client signers, see
//! [`crate::signer`]). Recorded: A01–A06, A11–A13, A16.
//!
//! What a client sees: the POST answers `status: {}`; by the next request the CSR carries ONE
//! condition `Approved` (reason `AutoApproved`, no `Issued` condition) and `status.certificate`
//! (base64 of a PEM), two writes (two resourceVersions, A05's two MODIFIED events), stamped at
//! the time of the create. A request the approver does not recognise (other usages, another
//! signer) or whose requester lacks the permission stays pending without any condition (A12,
//! A13). Without auto-approval (k3s-like) every CSR waits for an approval (a test's, or a PUT
//! of `/approval` as `kubectl certificate approve` sends).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::auth::{authorize, Attributes, Rbac, User};
use crate::clock::format_time;
use crate::signer::{self, Signer, CLIENT_SIGNER, KUBELET_CLIENT_SIGNER};

/// kube-controller-manager's field manager.
const KCM: &str = "kube-controller-manager";

/// One stored CSR.
#[derive(Debug, Clone)]
pub struct Csr {
    /// `metadata.name`.
    pub name: String,
    generate_name: String,
    uid: String,
    resource_version: u64,
    created: SystemTime,
    /// `spec` in the Go struct's field order (request, signerName, expirationSeconds, usages,
    /// username, uid, groups, extra).
    spec: Value,
    /// `status.conditions`.
    conditions: Vec<Value>,
    /// `status.certificate`: base64 of the PEM.
    certificate: String,
    /// `metadata.managedFields`. Tracked only when the create owned a field (`generateName`,
    /// A16): a CSR created with only a name has none, not even after the controller's writes
    /// (A03).
    managed: Vec<Value>,
    /// The requested CN when the request is a well-formed kubelet client request for the
    /// kubelet signer (what the approver recognises), worked out once at create.
    kubelet_client_cn: Option<String>,
}

/// What a create carries besides the requester.
#[derive(Debug, Clone)]
pub struct NewCsr {
    /// `metadata.name` (possibly generated).
    pub name: String,
    /// `metadata.generateName`.
    pub generate_name: String,
    /// `spec` as validated, without the requester fields.
    pub request: String,
    /// `spec.signerName`.
    pub signer_name: String,
    /// `spec.expirationSeconds`.
    pub expiration_seconds: Option<u64>,
    /// `spec.usages`.
    pub usages: Vec<String>,
    /// The creating request's field manager.
    pub manager: String,
}

/// Who created a CSR, as the apiserver stamps it into the spec.
#[derive(Debug, Clone)]
pub struct Requester {
    /// `spec.username`.
    pub username: String,
    /// `spec.uid` (static tokens only).
    pub uid: Option<String>,
    /// `spec.groups`.
    pub groups: Vec<String>,
    /// `spec.extra` (a certificate's credential-id).
    pub extra: Option<Value>,
}

impl Csr {
    fn has_condition(&self, kind: &str) -> bool {
        self.conditions.iter().any(|c| c["type"] == kind)
    }

    /// Approved, denied or failed: the approver leaves it alone.
    fn decided(&self) -> bool {
        self.has_condition("Approved") || self.has_condition("Denied")
    }

    fn spec_str(&self, field: &str) -> &str {
        self.spec.get(field).and_then(Value::as_str).unwrap_or("")
    }

    fn usages(&self) -> Vec<String> {
        self.spec["usages"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn requester(&self) -> User {
        let groups = self.spec["groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        User {
            name: self.spec_str("username").to_string(),
            groups,
        }
    }

    fn request_pem(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(self.spec_str("request"))
            .unwrap_or_default()
    }

    /// The object as a GET answers it (with `kind` and `apiVersion` when `with_type`).
    pub fn render(&self, with_type: bool) -> Value {
        let mut meta = Map::new();
        meta.insert("name".into(), self.name.clone().into());
        if !self.generate_name.is_empty() {
            meta.insert("generateName".into(), self.generate_name.clone().into());
        }
        meta.insert("uid".into(), self.uid.clone().into());
        meta.insert(
            "resourceVersion".into(),
            self.resource_version.to_string().into(),
        );
        meta.insert("creationTimestamp".into(), format_time(self.created).into());
        if !self.managed.is_empty() {
            meta.insert("managedFields".into(), Value::Array(self.managed.clone()));
        }
        let mut status = Map::new();
        if !self.conditions.is_empty() {
            status.insert("conditions".into(), Value::Array(self.conditions.clone()));
        }
        if !self.certificate.is_empty() {
            status.insert("certificate".into(), self.certificate.clone().into());
        }
        let mut out = Map::new();
        if with_type {
            out.insert("kind".into(), "CertificateSigningRequest".into());
            out.insert("apiVersion".into(), "certificates.k8s.io/v1".into());
        }
        out.insert("metadata".into(), Value::Object(meta));
        out.insert("spec".into(), self.spec.clone());
        out.insert("status".into(), Value::Object(status));
        Value::Object(out)
    }

    /// The certificate PEM once issued.
    pub fn certificate_pem(&self) -> Option<String> {
        if self.certificate.is_empty() {
            return None;
        }
        let pem = base64::engine::general_purpose::STANDARD
            .decode(&self.certificate)
            .ok()?;
        String::from_utf8(pem).ok()
    }

    /// Adds (or replaces) `manager`'s entry for a write through `subresource` owning `fields`,
    /// sorted as the apiserver sorts entries (time, then manager, then subresource).
    fn own(&mut self, manager: &str, subresource: &str, fields: Value, now: SystemTime) {
        if self.managed.is_empty() {
            return;
        }
        self.managed.retain(|e| {
            !(e["manager"] == manager && e["subresource"].as_str().unwrap_or("") == subresource)
        });
        let mut entry = Map::new();
        entry.insert("manager".into(), manager.into());
        entry.insert("operation".into(), "Update".into());
        entry.insert("apiVersion".into(), "certificates.k8s.io/v1".into());
        entry.insert("time".into(), format_time(now).into());
        entry.insert("fieldsType".into(), "FieldsV1".into());
        entry.insert("fieldsV1".into(), fields);
        if !subresource.is_empty() {
            entry.insert("subresource".into(), subresource.into());
        }
        self.managed.push(Value::Object(entry));
        let key = |e: &Value| {
            (
                e["time"].as_str().unwrap_or("").to_string(),
                e["manager"].as_str().unwrap_or("").to_string(),
                e["subresource"].as_str().unwrap_or("").to_string(),
            )
        };
        self.managed.sort_by_key(key);
    }
}

/// A condition in the Go struct's field order.
fn condition(kind: &str, reason: &str, message: &str, now: SystemTime) -> Value {
    let t = format_time(now);
    json!({
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastUpdateTime": t,
        "lastTransitionTime": t,
    })
}

/// fieldsV1 of a condition list entry written through `/approval`.
fn condition_fields(kind: &str) -> Value {
    json!({"f:status": {"f:conditions": {
        ".": {},
        format!("k:{{\"type\":\"{kind}\"}}"): {
            ".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {}, "f:message": {},
            "f:reason": {}, "f:status": {}, "f:type": {}
        }
    }}})
}

/// An approval or denial: the condition's type, reason and message.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    /// `Approved` (true) or `Denied`.
    pub approve: bool,
    /// The condition's reason (`AutoApproved`, `KubectlApprove`, …).
    pub reason: &'a str,
    /// The condition's message.
    pub message: &'a str,
}

/// The CSRs, and the controllers' settings.
#[derive(Debug, Clone)]
pub struct Csrs {
    by_name: BTreeMap<String, Csr>,
    /// csrapproving runs (kubeadm, kind); off: every CSR waits for an approval (k3s-like).
    pub auto_approve: bool,
    /// The client CA as csrsigning holds it (none: approved CSRs are never issued).
    pub signer: Option<Arc<Signer>>,
    // test-only: a real kube-controller-manager grants at least 600 s (+ 5 min backdating);
    // this lets a test see a board renew within seconds (`signer::test_only_validity`).
    /// When set, every issued certificate is valid from its issue for this long.
    pub max_duration: Option<std::time::Duration>,
    /// The last writes as watch events: resourceVersion, type, the object after the write.
    log: VecDeque<(u64, &'static str, Value)>,
}

/// How many watch events are kept (older ones are gone, as etcd compacts).
const LOG_LIMIT: usize = 1024;

impl Default for Csrs {
    fn default() -> Self {
        Csrs {
            by_name: BTreeMap::new(),
            auto_approve: true,
            signer: None,
            max_duration: None,
            log: VecDeque::new(),
        }
    }
}

impl Csrs {
    /// No CSRs yet; issued by `signer`; auto-approved when `auto_approve`.
    pub fn with_signer(signer: Arc<Signer>, auto_approve: bool) -> Self {
        Csrs {
            signer: Some(signer),
            auto_approve,
            ..Csrs::default()
        }
    }

    /// A stored CSR.
    pub fn get(&self, name: &str) -> Option<&Csr> {
        self.by_name.get(name)
    }

    /// Every CSR, by name.
    pub fn all(&self) -> impl Iterator<Item = &Csr> {
        self.by_name.values()
    }

    /// Deletes CSR `name` (a write: it takes resourceVersion `rv`); its uid.
    pub fn remove(&mut self, name: &str, rv: &mut u64) -> Option<String> {
        let mut gone = self.by_name.remove(name)?;
        *rv += 1;
        gone.resource_version = *rv;
        self.log_event(*rv, "DELETED", gone.render(true));
        Some(gone.uid)
    }

    fn log_event(&mut self, rv: u64, kind: &'static str, object: Value) {
        if self.log.len() >= LOG_LIMIT {
            self.log.pop_front();
        }
        self.log.push_back((rv, kind, object));
    }

    /// Logs the current state of `name` as a `kind` event.
    fn note(&mut self, name: &str, kind: &'static str) {
        if let Some(csr) = self.by_name.get(name) {
            let (rv, object) = (csr.resource_version, csr.render(true));
            self.log_event(rv, kind, object);
        }
    }

    /// Watch events (`{"type":…,"object":…}`) of the CSRs `matches` accepts: after `after`,
    /// from the log, or (`None`) the current ones as `ADDED`.
    pub fn events(&self, after: Option<u64>, matches: impl Fn(&str) -> bool) -> Vec<Value> {
        let event = |kind: &str, object: &Value| json!({"type": kind, "object": object});
        match after {
            None => self
                .by_name
                .values()
                .filter(|c| matches(&c.name))
                .map(|c| event("ADDED", &c.render(true)))
                .collect(),
            Some(rv) => self
                .log
                .iter()
                .filter(|(at, _, o)| {
                    *at > rv && matches(o["metadata"]["name"].as_str().unwrap_or(""))
                })
                .map(|(_, kind, o)| event(kind, o))
                .collect(),
        }
    }

    /// Forgets every CSR (an etcd wipe).
    pub fn clear(&mut self) {
        self.by_name.clear();
    }

    /// Stores a new CSR with resourceVersion `rv`.
    pub fn insert(&mut self, new: NewCsr, by: Requester, uid: String, rv: u64, now: SystemTime) {
        let name = new.name.clone();
        let kubelet_client_cn = (new.signer_name == KUBELET_CLIENT_SIGNER)
            .then(|| {
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(&new.request)
                    .ok()?;
                let req = signer::parse_request(&pem).ok()?;
                signer::kubelet_client_problem(&req, &new.usages)
                    .is_none()
                    .then_some(req.common_name)
            })
            .flatten();
        let mut spec = Map::new();
        spec.insert("request".into(), new.request.into());
        spec.insert("signerName".into(), new.signer_name.into());
        if let Some(s) = new.expiration_seconds {
            spec.insert("expirationSeconds".into(), s.into());
        }
        spec.insert("usages".into(), json!(new.usages));
        spec.insert("username".into(), by.username.into());
        if let Some(uid) = by.uid {
            spec.insert("uid".into(), uid.into());
        }
        spec.insert("groups".into(), json!(by.groups));
        if let Some(extra) = by.extra {
            spec.insert("extra".into(), extra);
        }
        let managed = if new.generate_name.is_empty() {
            Vec::new()
        } else {
            vec![json!({
                "manager": new.manager,
                "operation": "Update",
                "apiVersion": "certificates.k8s.io/v1",
                "time": format_time(now),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generateName": {}}},
            })]
        };
        self.by_name.insert(
            new.name.clone(),
            Csr {
                name: new.name,
                generate_name: new.generate_name,
                uid,
                resource_version: rv,
                created: now,
                spec: Value::Object(spec),
                conditions: Vec::new(),
                certificate: String::new(),
                managed,
                kubelet_client_cn,
            },
        );
        self.note(&name, "ADDED");
    }

    /// Sets the conditions a `/approval` write (or a test) asks for: an `Approved` or `Denied`
    /// condition is added unless the CSR was already decided; `false` when nothing changed.
    /// guess: not recorded (kubectl certificate approve was not run against the recorded server).
    pub fn decide(
        &mut self,
        name: &str,
        verdict: &Verdict<'_>,
        manager: &str,
        rv: &mut u64,
        now: SystemTime,
    ) -> bool {
        let Some(csr) = self.by_name.get_mut(name) else {
            return false;
        };
        let kind = if verdict.approve {
            "Approved"
        } else {
            "Denied"
        };
        if csr.decided() {
            return false;
        }
        csr.conditions
            .push(condition(kind, verdict.reason, verdict.message, now));
        csr.own(manager, "approval", condition_fields(kind), now);
        *rv += 1;
        csr.resource_version = *rv;
        self.note(name, "MODIFIED");
        true
    }

    /// Runs csrapproving and csrsigning over every CSR up to `now`; `rv` is the store's
    /// resourceVersion counter (each controller write takes one), `random` the serial source.
    pub fn catch_up(
        &mut self,
        rbac: &Rbac,
        random: &mut dyn FnMut() -> u64,
        rv: &mut u64,
        now: SystemTime,
    ) {
        let names: Vec<String> = self.by_name.keys().cloned().collect();
        for name in names {
            if self.auto_approve {
                self.approve(&name, rbac, rv, now);
            }
            self.sign(&name, random, rv, now);
        }
    }

    /// csrapproving's sarApprover: the first recognizer whose SubjectAccessReview allows it
    /// approves; recognised but refused, or not recognised: left pending.
    fn approve(&mut self, name: &str, rbac: &Rbac, rv: &mut u64, now: SystemTime) {
        let Some(csr) = self.by_name.get(name) else {
            return;
        };
        if csr.decided() || !csr.certificate.is_empty() {
            return;
        }
        let Some(common_name) = &csr.kubelet_client_cn else {
            return;
        };
        let requester = csr.requester();
        let recognizers = [
            (
                requester.name == *common_name,
                "selfnodeclient",
                "Auto approving self kubelet client certificate after SubjectAccessReview.",
            ),
            (
                true,
                "nodeclient",
                "Auto approving kubelet client certificate after SubjectAccessReview.",
            ),
        ];
        for (recognized, subresource, message) in recognizers {
            if !recognized {
                continue;
            }
            let review = Attributes {
                verb: "create",
                group: "certificates.k8s.io",
                resource: "certificatesigningrequests",
                subresource,
                namespace: "",
                name: "",
                path: "",
            };
            if authorize(rbac, &requester, &review).is_ok() {
                let verdict = Verdict {
                    approve: true,
                    reason: "AutoApproved",
                    message,
                };
                self.decide(name, &verdict, KCM, rv, now);
                return;
            }
        }
    }

    /// csrsigning for the two client signers: an approved, unissued CSR gets its certificate, or
    /// a `Failed` condition when the kubelet signer refuses its shape.
    fn sign(&mut self, name: &str, random: &mut dyn FnMut() -> u64, rv: &mut u64, now: SystemTime) {
        let Some(signer) = self.signer.clone() else {
            return;
        };
        let max_duration = self.max_duration;
        let Some(csr) = self.by_name.get_mut(name) else {
            return;
        };
        let pending = csr.has_condition("Approved")
            && !csr.has_condition("Denied")
            && !csr.has_condition("Failed")
            && csr.certificate.is_empty();
        let signer_name = csr.spec_str("signerName");
        if !pending || !(signer_name == KUBELET_CLIENT_SIGNER || signer_name == CLIENT_SIGNER) {
            return;
        }
        let usages = csr.usages();
        let issued = signer::parse_request(&csr.request_pem()).and_then(|req| {
            if signer_name == KUBELET_CLIENT_SIGNER {
                if let Some(problem) = signer::kubelet_client_problem(&req, &usages) {
                    return Err(problem);
                }
            }
            let mut serial = [0u8; 16];
            serial[..8].copy_from_slice(&random().to_be_bytes());
            serial[8..].copy_from_slice(&random().to_be_bytes());
            let expiration = csr.spec.get("expirationSeconds").and_then(Value::as_u64);
            let validity = match max_duration {
                Some(max) => signer::test_only_validity(now, max),
                None => signer::validity(now, expiration),
            };
            signer.sign(&req, &usages, validity, serial)
        });
        match issued {
            Ok(pem) => {
                csr.certificate = base64::engine::general_purpose::STANDARD.encode(pem);
                csr.own(
                    KCM,
                    "status",
                    json!({"f:status": {"f:certificate": {}}}),
                    now,
                );
            }
            Err(why) => {
                // guess: not recorded (the recorded wrong CSRs were never approved); csrsigning's
                // reason for a request its signer refuses.
                csr.conditions
                    .push(condition("Failed", "SignerValidationFailure", &why, now));
                csr.own(KCM, "status", condition_fields("Failed"), now);
            }
        }
        *rv += 1;
        csr.resource_version = *rv;
        self.note(name, "MODIFIED");
    }
}

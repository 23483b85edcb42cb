//! Admission: NamespaceLifecycle (the namespace must exist), NodeRestriction (a node touches only
//! its own Node and Lease, no forbidden label keys, no taint changes after create) and
//! TaintNodesByCondition (`not-ready:NoSchedule` on every new Node).

use serde_json::{json, Map, Value};

use crate::auth::forbidden_node_labels;
use crate::status::{self, ApiError};
use crate::store::{meta_str, set_meta, Kind};

use super::op::Op;

const NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

fn labels_of(v: &Value) -> Map<String, Value> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

impl Op<'_> {
    /// NamespaceLifecycle plus the namespace consistency check of the REST handler.
    pub(super) fn check_namespace(&self, body: &mut Value) -> Result<(), ApiError> {
        if !self.kind.namespaced() {
            if let Some(Value::Object(m)) = body.get_mut("metadata") {
                m.shift_remove("namespace");
            }
            return Ok(());
        }
        let given = meta_str(body, "namespace");
        if !given.is_empty() && given != self.namespace {
            return Err(status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        set_meta(body, "namespace", Value::String(self.namespace.to_string()));
        if !NAMESPACES.contains(&self.namespace) {
            return Err(status::not_found(
                status::ResourceName {
                    group: "",
                    resource: "namespaces",
                },
                self.namespace,
            ));
        }
        Ok(())
    }

    /// NodeRestriction for Leases.
    pub(super) fn admit_lease(&self, name: &str) -> Result<(), ApiError> {
        let Some(node) = self.user.node_name() else {
            return Ok(());
        };
        if self.kind != Kind::Lease {
            return Ok(());
        }
        if self.namespace != "kube-node-lease" {
            return Err(status::forbidden(
                self.kind.resource(),
                name,
                "can only access leases in the \"kube-node-lease\" system namespace",
            ));
        }
        if name != node {
            return Err(status::forbidden(
                self.kind.resource(),
                name,
                "can only access node lease with the same name as the requesting node",
            ));
        }
        Ok(())
    }

    /// NodeRestriction for Nodes (`old` is None on create).
    pub(super) fn admit_node(
        &self,
        name: &str,
        new: &Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(node) = self.user.node_name() else {
            return Ok(());
        };
        let forbid = |why: String| Err(status::forbidden(self.kind.resource(), name, &why));
        if name != node {
            return forbid(format!(
                "node {node:?} is not allowed to modify node {name:?}"
            ));
        }
        let new_labels = labels_of(new);
        match old {
            None => {
                let keys: Vec<String> = new_labels.keys().cloned().collect();
                let bad = forbidden_node_labels(&keys);
                if !bad.is_empty() {
                    return forbid(format!(
                        "node {node:?} is not allowed to set the following labels: {}",
                        bad.join(", ")
                    ));
                }
            }
            Some(old) => {
                if new.pointer("/spec/taints") != old.pointer("/spec/taints") {
                    return forbid(format!("node {node:?} is not allowed to modify taints"));
                }
                let old_labels = labels_of(old);
                let mut modified: Vec<String> = new_labels
                    .iter()
                    .filter(|(k, v)| old_labels.get(*k) != Some(*v))
                    .map(|(k, _)| k.clone())
                    .collect();
                modified.extend(
                    old_labels
                        .keys()
                        .filter(|k| !new_labels.contains_key(*k))
                        .cloned(),
                );
                let bad = forbidden_node_labels(&modified);
                if !bad.is_empty() {
                    return forbid(format!(
                        "is not allowed to modify labels: {}",
                        bad.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

/// TaintNodesByCondition admission: every new Node gets `node.kubernetes.io/not-ready:NoSchedule`.
pub(super) fn add_not_ready_taint(node: &mut Value) {
    let taint = json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"});
    let Some(spec) = node.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let taints = spec
        .entry("taints")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = taints.as_array_mut() {
        let present = list
            .iter()
            .any(|t| t.get("key") == taint.get("key") && t.get("effect") == taint.get("effect"));
        if !present {
            list.push(taint);
        }
    }
}

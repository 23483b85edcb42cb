//! `metadata.managedFields` for `Update` operations, after structured-merge-diff.
//!
//! For every write the old and new object are compared with the type tables of [`crate::schema`];
//! the fields the write added or changed move to the writer's entry (keyed by manager, operation,
//! apiVersion and subresource), and leave every other entry; removed fields leave every entry.
//! Fields reset by the subresource's strategy (`status` for the main resource, `spec` for
//! `/status`) and the object's identity fields are never owned. A write that takes no field does
//! not touch the entry's time. Entries are sorted as the apiserver sorts them (operation, time,
//! manager, apiVersion, subresource). Server-side apply is not emulated.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::schema::{ListKind, StructDef, Ty};

/// One path element as fieldsV1 prints it: `f:name`, `k:{"type":"Ready"}`, `v:"x"`, `i:0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathElement(String);

impl PathElement {
    fn rank(&self) -> u8 {
        match self.0.as_bytes().first() {
            Some(b'f') => 0,
            Some(b'k') => 1,
            Some(b'v') => 2,
            _ => 3,
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank()
            .cmp(&other.rank())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A set of field paths, as a tree. `member` marks that the node's own path is in the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// True when no path is in the set.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((head, rest)) => self.children.entry(head.clone()).or_default().insert(rest),
        }
    }

    /// Adds every path of `other`.
    pub fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, v) in &other.children {
            self.children.entry(k.clone()).or_default().union(v);
        }
    }

    /// Removes exactly the paths of `other` (not their descendants).
    pub fn difference(&mut self, other: &FieldSet) {
        if other.member {
            self.member = false;
        }
        for (k, v) in &other.children {
            if let Some(mine) = self.children.get_mut(k) {
                mine.difference(v);
            }
        }
        self.prune();
    }

    /// Removes the path and everything below it.
    fn remove_subtree(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => {
                self.member = false;
                self.children.clear();
            }
            Some((head, rest)) => {
                if let Some(child) = self.children.get_mut(head) {
                    child.remove_subtree(rest);
                }
                self.prune();
            }
        }
    }

    fn prune(&mut self) {
        self.children.retain(|_, c| {
            c.prune();
            !c.is_empty()
        });
    }

    /// The fieldsV1 encoding.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (k, child) in &self.children {
            if child.is_empty() {
                continue;
            }
            let mut inner = child.to_json();
            if child.member && !child.children.is_empty() {
                if let Value::Object(m) = &mut inner {
                    let mut with_dot = Map::new();
                    with_dot.insert(".".to_string(), Value::Object(Map::new()));
                    with_dot.extend(std::mem::take(m));
                    *m = with_dot;
                }
            }
            out.insert(k.0.clone(), inner);
        }
        Value::Object(out)
    }
}

fn field(name: &str) -> PathElement {
    PathElement(format!("f:{name}"))
}

#[derive(Default)]
struct Comparison {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

impl Comparison {
    fn leaf(&mut self, path: &[PathElement], old: Option<&Value>, new: Option<&Value>) {
        match (old, new) {
            (None, Some(_)) => self.added.insert(path),
            (Some(_), None) => self.removed.insert(path),
            (Some(a), Some(b)) if a != b => self.modified.insert(path),
            _ => {}
        }
    }

    fn container(&mut self, path: &[PathElement], old: Option<&Value>, new: Option<&Value>) {
        match (old, new) {
            (None, Some(_)) => self.added.insert(path),
            (Some(_), None) => self.removed.insert(path),
            _ => {}
        }
    }
}

fn compare(
    cmp: &mut Comparison,
    path: &mut Vec<PathElement>,
    old: Option<&Value>,
    new: Option<&Value>,
    ty: &Ty,
) {
    if old.is_none() && new.is_none() {
        return;
    }
    match ty {
        Ty::Struct(def) if !def.atomic => compare_struct(cmp, path, old, new, def),
        Ty::StrMap | Ty::QtyMap => {
            cmp.container(path, old, new);
            let (om, nm) = (as_map(old), as_map(new));
            for key in union_keys(om, nm) {
                path.push(field(&key));
                cmp.leaf(
                    path,
                    om.and_then(|m| m.get(&key)),
                    nm.and_then(|m| m.get(&key)),
                );
                path.pop();
            }
        }
        Ty::List(elem, kind @ (ListKind::Map(_) | ListKind::Set)) => {
            cmp.container(path, old, new);
            let keyed = |v: Option<&Value>| -> Vec<(PathElement, Value)> {
                match v {
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|item| (element_key(item, *kind), item.clone()))
                        .collect(),
                    _ => Vec::new(),
                }
            };
            let (ol, nl) = (keyed(old), keyed(new));
            let mut keys: Vec<&PathElement> = Vec::new();
            for (k, _) in ol.iter().chain(nl.iter()) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            for key in keys {
                let o = ol.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                let n = nl.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                path.push(key.clone());
                match (kind, elem) {
                    (ListKind::Map(_), Ty::Struct(def)) if !def.atomic => {
                        compare_struct(cmp, path, o, n, def)
                    }
                    _ => cmp.leaf(path, o, n),
                }
                path.pop();
            }
        }
        _ => cmp.leaf(path, old, new),
    }
}

fn compare_struct(
    cmp: &mut Comparison,
    path: &mut Vec<PathElement>,
    old: Option<&Value>,
    new: Option<&Value>,
    def: &'static StructDef,
) {
    if !path.is_empty() {
        cmp.container(path, old, new);
    }
    let (om, nm) = (as_map(old), as_map(new));
    for f in def.fields {
        let (o, n) = (
            om.and_then(|m| m.get(f.name)),
            nm.and_then(|m| m.get(f.name)),
        );
        path.push(field(f.name));
        compare(cmp, path, o, n, &f.ty);
        path.pop();
    }
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn union_keys(a: Option<&Map<String, Value>>, b: Option<&Map<String, Value>>) -> Vec<String> {
    let mut keys: Vec<String> = a.map(|m| m.keys().cloned().collect()).unwrap_or_default();
    for k in b.into_iter().flat_map(|m| m.keys()) {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    keys
}

fn element_key(item: &Value, kind: ListKind) -> PathElement {
    match kind {
        ListKind::Map(keys) => {
            let mut sorted: Vec<&str> = keys.to_vec();
            sorted.sort_unstable();
            let mut m = Map::new();
            for k in sorted {
                m.insert(k.to_string(), item.get(k).cloned().unwrap_or(Value::Null));
            }
            PathElement(format!("k:{}", Value::Object(m)))
        }
        _ => PathElement(format!("v:{item}")),
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedEntry {
    /// Manager name (the client's user agent up to the first `/`, or `?fieldManager=`).
    pub manager: String,
    /// Always `Update` here.
    pub operation: String,
    /// API version the write used.
    pub api_version: String,
    /// RFC 3339 time of the last write that took a field.
    pub time: String,
    /// Owned fields.
    pub fields: FieldSet,
    /// `""` or `status`.
    pub subresource: String,
}

impl ManagedEntry {
    /// The JSON form, in `ManagedFieldsEntry` field order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation.clone()));
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        m.insert("time".into(), Value::String(self.time.clone()));
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.fields.to_json());
        if !self.subresource.is_empty() {
            m.insert(
                "subresource".into(),
                Value::String(self.subresource.clone()),
            );
        }
        Value::Object(m)
    }
}

/// What one write looks like to the field manager.
pub struct Write<'a> {
    /// Manager name.
    pub manager: &'a str,
    /// API version of the request.
    pub api_version: &'a str,
    /// `""` or `status`.
    pub subresource: &'a str,
    /// The top-level field whose changes are not tracked (`status` or `spec`).
    pub ignored: Option<&'a str>,
    /// RFC 3339 time of the write.
    pub now: &'a str,
}

const STRIPPED_META: [&str; 8] = [
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// Updates `entries` for a write from `old` to `new` (both encoded objects of type `def`, without
/// `managedFields`).
pub fn record_update(
    entries: &mut Vec<ManagedEntry>,
    old: &Value,
    new: &Value,
    def: &'static StructDef,
    w: &Write<'_>,
) {
    let mut cmp = Comparison::default();
    let mut path = Vec::new();
    compare_struct(&mut cmp, &mut path, Some(old), Some(new), def);
    if let Some(ignored) = w.ignored {
        for set in [&mut cmp.added, &mut cmp.modified, &mut cmp.removed] {
            set.remove_subtree(&[field(ignored)]);
        }
    }
    let mut taken = cmp.added.clone();
    taken.union(&cmp.modified);
    for e in entries.iter_mut() {
        e.fields.difference(&taken);
        e.fields.difference(&cmp.removed);
    }
    entries.retain(|e| !e.fields.is_empty());

    // The identity fields are never owned.
    let mut strip = FieldSet::default();
    strip.insert(&[field("apiVersion")]);
    strip.insert(&[field("kind")]);
    strip.insert(&[field("metadata")]);
    for name in STRIPPED_META {
        strip.insert(&[field("metadata"), field(name)]);
    }
    taken.difference(&strip);
    if taken.is_empty() {
        return;
    }
    match entries.iter_mut().find(|e| {
        e.manager == w.manager
            && e.operation == "Update"
            && e.api_version == w.api_version
            && e.subresource == w.subresource
    }) {
        Some(e) => {
            e.fields.union(&taken);
            e.time = w.now.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: w.manager.to_string(),
            operation: "Update".to_string(),
            api_version: w.api_version.to_string(),
            time: w.now.to_string(),
            fields: taken,
            subresource: w.subresource.to_string(),
        }),
    }
    entries.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| a.time.cmp(&b.time))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
}

/// The manager name the apiserver derives from a user agent: the text before the first `/`.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    user_agent.split('/').next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{normalize, zero, LEASE, NODE};
    use serde_json::json;

    fn w<'a>(manager: &'a str, sub: &'a str, ignored: &'a str, now: &'a str) -> Write<'a> {
        Write {
            manager,
            api_version: "v1",
            subresource: sub,
            ignored: Some(ignored),
            now,
        }
    }

    #[test]
    fn create_owns_labels_and_taints_but_not_status() {
        let body = json!({"metadata":{"name":"n","labels":{"kubernetes.io/os":"none"}},
            "spec":{"taints":[{"key":"a","effect":"NoSchedule"}]},
            "status":{"capacity":{"cpu":"1"}}});
        let new = normalize(&body, &NODE).unwrap();
        let mut entries = Vec::new();
        record_update(
            &mut entries,
            &zero(&NODE),
            &new,
            &NODE,
            &w("pk", "", "status", "t1"),
        );
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].fields.to_json().to_string(),
            r#"{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/os":{}}},"f:spec":{"f:taints":{}}}"#
        );
    }

    #[test]
    fn status_write_takes_changed_condition_fields_from_others() {
        let base = normalize(&json!({"status":{"conditions":[{"type":"Ready","status":"True","reason":"A","lastHeartbeatTime":"2026-01-01T00:00:00Z"}]}}), &NODE).unwrap();
        let mut entries = Vec::new();
        record_update(
            &mut entries,
            &zero(&NODE),
            &base,
            &NODE,
            &w("pk", "status", "spec", "t1"),
        );
        let unknown = normalize(&json!({"status":{"conditions":[{"type":"Ready","status":"Unknown","reason":"B","lastHeartbeatTime":"2026-01-01T00:00:00Z"}]}}), &NODE).unwrap();
        record_update(
            &mut entries,
            &base,
            &unknown,
            &NODE,
            &w("kcm", "status", "spec", "t2"),
        );
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].manager, "pk");
        assert_eq!(
            entries[0].fields.to_json().to_string(),
            r#"{"f:status":{"f:conditions":{".":{},"k:{\"type\":\"Ready\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:type":{}}}}}"#
        );
        assert_eq!(
            entries[1].fields.to_json().to_string(),
            r#"{"f:status":{"f:conditions":{"k:{\"type\":\"Ready\"}":{"f:reason":{},"f:status":{}}}}}"#
        );
        // A no-op write keeps the time.
        record_update(
            &mut entries,
            &unknown,
            &unknown,
            &NODE,
            &w("kcm", "status", "spec", "t3"),
        );
        assert_eq!(entries[1].time, "t2");
    }

    #[test]
    fn lease_owner_references_are_keyed_by_uid() {
        let body = json!({"metadata":{"name":"l","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n","uid":"u1"}]},"spec":{"holderIdentity":"n"}});
        let new = normalize(&body, &LEASE).unwrap();
        let mut entries = Vec::new();
        let write = Write {
            manager: "pk",
            api_version: "coordination.k8s.io/v1",
            subresource: "",
            ignored: None,
            now: "t",
        };
        record_update(&mut entries, &zero(&LEASE), &new, &LEASE, &write);
        assert_eq!(
            entries[0].fields.to_json().to_string(),
            r#"{"f:metadata":{"f:ownerReferences":{".":{},"k:{\"uid\":\"u1\"}":{}}},"f:spec":{"f:holderIdentity":{}}}"#
        );
    }
}

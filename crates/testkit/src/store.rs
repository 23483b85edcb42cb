//! Object state: Nodes, Leases and Events, a global resourceVersion, and the write path shared by
//! API requests and the emulated controllers (managed fields, no-op detection, uid, timestamps).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::clock::{format_time, parse_rfc3339};
use crate::fieldset::{record_update, ManagedEntry, Write};
use crate::schema::{normalize, zero, StructDef, CORE_EVENT, EVENTS_V1_EVENT, LEASE, NODE};
use crate::status::ResourceName;

/// The resource kinds this server serves (two API versions of Event share one storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `v1` Node (cluster-scoped).
    Node,
    /// `coordination.k8s.io/v1` Lease.
    Lease,
    /// `v1` Event.
    Event,
    /// `events.k8s.io/v1` Event.
    EventV1,
}

/// Which map an object lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coll {
    /// Nodes by name.
    Nodes,
    /// Leases by `namespace/name`.
    Leases,
    /// Events by `namespace/name`, stored in core/v1 form.
    Events,
}

impl Kind {
    /// The Go type of this version.
    pub fn def(self) -> &'static StructDef {
        match self {
            Kind::Node => &NODE,
            Kind::Lease => &LEASE,
            Kind::Event => &CORE_EVENT,
            Kind::EventV1 => &EVENTS_V1_EVENT,
        }
    }

    /// `kind`
    pub fn kind(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::Lease => "Lease",
            Kind::Event | Kind::EventV1 => "Event",
        }
    }

    /// `apiVersion`
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Node | Kind::Event => "v1",
            Kind::Lease => "coordination.k8s.io/v1",
            Kind::EventV1 => "events.k8s.io/v1",
        }
    }

    /// Resource name for messages.
    pub fn resource(self) -> ResourceName<'static> {
        match self {
            Kind::Node => ResourceName {
                group: "",
                resource: "nodes",
            },
            Kind::Lease => ResourceName {
                group: "coordination.k8s.io",
                resource: "leases",
            },
            Kind::Event => ResourceName {
                group: "",
                resource: "events",
            },
            Kind::EventV1 => ResourceName {
                group: "events.k8s.io",
                resource: "events",
            },
        }
    }

    /// Storage map.
    pub fn coll(self) -> Coll {
        match self {
            Kind::Node => Coll::Nodes,
            Kind::Lease => Coll::Leases,
            Kind::Event | Kind::EventV1 => Coll::Events,
        }
    }

    /// Namespaced or cluster-scoped.
    pub fn namespaced(self) -> bool {
        self != Kind::Node
    }

    /// The top-level field a write through `subresource` may not change (and does not own).
    pub fn reset_field(self, subresource: &str) -> Option<&'static str> {
        match (self, subresource) {
            (Kind::Node, "status") => Some("spec"),
            (Kind::Node, _) => Some("status"),
            _ => None,
        }
    }
}

/// The storage key: `name` or `namespace/name`.
pub fn key(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

/// One stored object: its encoding without `managedFields`, and the managed-fields entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Normalized encoding without `kind`, `apiVersion` and `metadata.managedFields`.
    pub value: Value,
    /// `metadata.managedFields`.
    pub managed: Vec<ManagedEntry>,
}

impl Stored {
    /// `metadata.<field>` as a string (empty when missing).
    pub fn meta(&self, field: &str) -> &str {
        meta_str(&self.value, field)
    }
}

/// `metadata.<field>` of an encoded object, as a string.
pub fn meta_str<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// All objects plus the global resourceVersion counter (etcd's revision).
#[derive(Debug, Clone)]
pub struct Store {
    /// The last resourceVersion handed out.
    pub rv: u64,
    /// Names of the Nodes whose Node or `kube-node-lease` Lease was written or deleted since the
    /// controller last looked: its informers' feed, so a monitor tick touches only those.
    node_changes: BTreeSet<String>,
    nodes: BTreeMap<String, Stored>,
    leases: BTreeMap<String, Stored>,
    events: BTreeMap<String, Stored>,
    /// When expired Events are next looked for (see [`Store::expire_events`]).
    next_event_sweep: Option<SystemTime>,
}

/// How long kube-apiserver keeps an Event after its last write (`--event-ttl`, default 1h: an
/// etcd lease per write). Documented default, not recorded here.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);
/// How often expired Events are looked for: the work stays proportional to requests, not to
/// Events times requests.
const EVENT_SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Store {
    /// An empty store whose first write gets `first_rv`.
    pub fn new(first_rv: u64) -> Self {
        Store {
            rv: first_rv.saturating_sub(1),
            node_changes: BTreeSet::new(),
            nodes: BTreeMap::new(),
            leases: BTreeMap::new(),
            events: BTreeMap::new(),
            next_event_sweep: None,
        }
    }

    /// Drops the Events last written more than [`EVENT_TTL`] before `now` (etcd's lease
    /// expiry, a delete that consumes a resourceVersion). The last write is the Event's
    /// `lastTimestamp` (a repeat updates it), else its creation.
    pub fn expire_events(&mut self, now: SystemTime) {
        if self.next_event_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_event_sweep = Some(now + EVENT_SWEEP_EVERY);
        let Some(cutoff) = now.checked_sub(EVENT_TTL) else {
            return;
        };
        let expired: Vec<String> = self
            .events
            .iter()
            .filter(|(_, e)| {
                let last = e
                    .value
                    .get("lastTimestamp")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| e.meta("creationTimestamp"));
                parse_rfc3339(last).is_some_and(|at| at < cutoff)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.remove(Coll::Events, &key);
        }
    }

    fn map(&self, c: Coll) -> &BTreeMap<String, Stored> {
        match c {
            Coll::Nodes => &self.nodes,
            Coll::Leases => &self.leases,
            Coll::Events => &self.events,
        }
    }

    fn map_mut(&mut self, c: Coll) -> &mut BTreeMap<String, Stored> {
        match c {
            Coll::Nodes => &mut self.nodes,
            Coll::Leases => &mut self.leases,
            Coll::Events => &mut self.events,
        }
    }

    /// Looks an object up.
    pub fn get(&self, c: Coll, key: &str) -> Option<&Stored> {
        self.map(c).get(key)
    }

    /// Every object of a collection, by key.
    pub fn all(&self, c: Coll) -> impl Iterator<Item = (&String, &Stored)> {
        self.map(c).iter()
    }

    /// The names whose Node or node Lease changed since the last call (see `node_changes`).
    pub fn take_node_changes(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.node_changes)
    }

    fn note_change(&mut self, c: Coll, key: &str) {
        let name = match c {
            Coll::Nodes => Some(key),
            Coll::Leases => key.strip_prefix("kube-node-lease/"),
            Coll::Events => None,
        };
        if let Some(name) = name {
            self.node_changes.insert(name.to_string());
        }
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Stores a new object, stamping `resourceVersion`; returns it.
    pub fn insert(&mut self, c: Coll, key: &str, mut value: Value, managed: Vec<ManagedEntry>) {
        let rv = self.next_rv();
        self.note_change(c, key);
        set_meta(&mut value, "resourceVersion", Value::String(rv));
        self.map_mut(c).insert(
            key.to_string(),
            Stored {
                value: renormalize(c, value),
                managed,
            },
        );
    }

    /// Removes an object (a delete is a write: it consumes a resourceVersion).
    pub fn remove(&mut self, c: Coll, key: &str) -> Option<Stored> {
        let gone = self.map_mut(c).remove(key);
        if gone.is_some() {
            self.rv += 1;
            self.note_change(c, key);
        }
        gone
    }
}

fn renormalize(c: Coll, value: Value) -> Value {
    let def = match c {
        Coll::Nodes => &NODE,
        Coll::Leases => &LEASE,
        Coll::Events => &CORE_EVENT,
    };
    normalize(&value, def).unwrap_or(value)
}

/// Sets `metadata.<field>` (order is restored by renormalizing).
pub fn set_meta(v: &mut Value, field: &str, value: Value) {
    if let Value::Object(root) = v {
        let meta = root
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = meta {
            m.insert(field.to_string(), value);
        }
    }
}

/// The object as `kind` shows it (events.k8s.io converts), normalized, without managedFields.
pub fn view(stored: &Stored, kind: Kind) -> Value {
    match kind {
        Kind::EventV1 => {
            normalize(&core_to_v1(&stored.value), &EVENTS_V1_EVENT).unwrap_or(Value::Null)
        }
        _ => stored.value.clone(),
    }
}

/// The full answer body for one object: `kind`, `apiVersion`, then the object with managedFields.
pub fn render(stored: &Stored, kind: Kind, with_type: bool) -> Value {
    let mut body = view(stored, kind);
    if !stored.managed.is_empty() {
        let entries = stored.managed.iter().map(ManagedEntry::to_json).collect();
        set_meta(&mut body, "managedFields", Value::Array(entries));
    }
    let mut out = Map::new();
    if with_type {
        out.insert("kind".into(), kind.kind().into());
        out.insert("apiVersion".into(), kind.api_version().into());
    }
    if let Value::Object(m) = body {
        out.extend(m);
    }
    Value::Object(out)
}

fn move_field(from: &Map<String, Value>, to: &mut Map<String, Value>, a: &str, b: &str) {
    if let Some(v) = from.get(a) {
        to.insert(b.to_string(), v.clone());
    }
}

const EVENT_FIELD_PAIRS: [(&str, &str); 14] = [
    ("metadata", "metadata"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("message", "note"),
    ("type", "type"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
];

/// core/v1 Event → events.k8s.io/v1 Event.
pub fn core_to_v1(core: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = core {
        for (a, b) in EVENT_FIELD_PAIRS {
            move_field(m, &mut out, a, b);
        }
        move_field(m, &mut out, "count", "deprecatedCount");
    }
    Value::Object(out)
}

/// events.k8s.io/v1 Event → core/v1 Event.
pub fn v1_to_core(v1: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = v1 {
        for (a, b) in EVENT_FIELD_PAIRS {
            move_field(m, &mut out, b, a);
        }
        move_field(m, &mut out, "deprecatedCount", "count");
    }
    normalize(&Value::Object(out), &CORE_EVENT).unwrap_or(Value::Null)
}

/// Who writes, through which subresource, when.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// Field manager name.
    pub manager: &'a str,
    /// `""` or `status`.
    pub subresource: &'a str,
    /// Time of the write.
    pub now: SystemTime,
}

impl Writer<'_> {
    fn fm(&self, kind: Kind) -> (String, Option<&'static str>) {
        (format_time(self.now), kind.reset_field(self.subresource))
    }
}

/// Managed fields of a create (compared against the type's zero value).
pub fn managed_for_create(kind: Kind, new_view: &Value, w: &Writer<'_>) -> Vec<ManagedEntry> {
    let (now, ignored) = w.fm(kind);
    let mut entries = Vec::new();
    record_update(
        &mut entries,
        &zero(kind.def()),
        new_view,
        kind.def(),
        &Write {
            manager: w.manager,
            api_version: kind.api_version(),
            subresource: w.subresource,
            ignored,
            now: &now,
        },
    );
    entries
}

/// Creates an object (the view is in `kind`'s version), filling uid and creationTimestamp.
pub fn create(
    store: &mut Store,
    kind: Kind,
    key: &str,
    new_view: Value,
    managed: Vec<ManagedEntry>,
    uid: String,
    now: SystemTime,
) {
    let created = preview(kind, new_view, managed, uid, now);
    store.insert(kind.coll(), key, created.value, created.managed);
}

/// The object `create` would store, without a resourceVersion and without storing it (what a
/// dry run answers, C50).
pub fn preview(
    kind: Kind,
    mut new_view: Value,
    managed: Vec<ManagedEntry>,
    uid: String,
    now: SystemTime,
) -> Stored {
    set_meta(&mut new_view, "uid", Value::String(uid));
    set_meta(
        &mut new_view,
        "creationTimestamp",
        Value::String(format_time(now)),
    );
    Stored {
        value: renormalize(kind.coll(), to_core(kind, new_view)),
        managed,
    }
}

fn to_core(kind: Kind, v: Value) -> Value {
    match kind {
        Kind::EventV1 => v1_to_core(&v),
        _ => v,
    }
}

/// Replaces an existing object with `new_view` (in `kind`'s version). Identity metadata is kept
/// from the stored object. Returns false (and writes nothing) when nothing would change.
pub fn update(store: &mut Store, kind: Kind, key: &str, new_view: Value, w: &Writer<'_>) -> bool {
    let Some(stored) = store.get(kind.coll(), key) else {
        return false;
    };
    let old_view = view(stored, kind);
    let mut new_view = new_view;
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "resourceVersion",
    ] {
        match old_view.get("metadata").and_then(|m| m.get(f)) {
            Some(v) => set_meta(&mut new_view, f, v.clone()),
            None => {
                if let Some(Value::Object(m)) = new_view.get_mut("metadata") {
                    m.shift_remove(f);
                }
            }
        }
    }
    let new_view = normalize(&new_view, kind.def()).unwrap_or(new_view);
    let mut managed = stored.managed.clone();
    let (now, ignored) = w.fm(kind);
    record_update(
        &mut managed,
        &old_view,
        &new_view,
        kind.def(),
        &Write {
            manager: w.manager,
            api_version: kind.api_version(),
            subresource: w.subresource,
            ignored,
            now: &now,
        },
    );
    let core = to_core(kind, new_view);
    if core == stored.value && managed == stored.managed {
        return false;
    }
    store.insert(kind.coll(), key, core, managed);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn event(name: &str, created: SystemTime, last: Option<SystemTime>) -> Value {
        json!({
            "metadata": {"name": name, "namespace": "default",
                         "creationTimestamp": format_time(created)},
            "reason": "NodeReady",
            "lastTimestamp": last.map(format_time),
        })
    }

    #[test]
    fn events_expire_an_hour_after_their_last_write() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut store = Store::new(1);
        store.insert(Coll::Events, "default/old", event("old", t0, None), vec![]);
        // Created at t0, repeated 30 min later: its TTL restarts then.
        let repeat = t0 + Duration::from_secs(1800);
        store.insert(
            Coll::Events,
            "default/repeated",
            event("repeated", t0, Some(repeat)),
            vec![],
        );
        let names = |s: &Store| {
            s.all(Coll::Events)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };

        store.expire_events(t0 + EVENT_TTL - Duration::from_secs(1));
        assert_eq!(names(&store).len(), 2);
        // Within a sweep interval nothing is looked at, then the first Event is gone.
        store.expire_events(t0 + EVENT_TTL + Duration::from_secs(1));
        assert_eq!(names(&store).len(), 2);
        let rv = store.rv;
        store.expire_events(t0 + EVENT_TTL + EVENT_SWEEP_EVERY);
        assert_eq!(names(&store), ["default/repeated"]);
        assert_eq!(store.rv, rv + 1, "an expiry is a delete");
        store.expire_events(repeat + EVENT_TTL + EVENT_SWEEP_EVERY);
        assert!(names(&store).is_empty());
    }

    #[test]
    fn no_op_updates_do_not_consume_a_resource_version() {
        let mut store = Store::new(10);
        let w = Writer {
            manager: "pk",
            subresource: "",
            now: UNIX_EPOCH,
        };
        let v = normalize(
            &json!({"metadata":{"name":"l","namespace":"ns"},"spec":{"holderIdentity":"x"}}),
            &LEASE,
        )
        .unwrap();
        let managed = managed_for_create(Kind::Lease, &v, &w);
        create(
            &mut store,
            Kind::Lease,
            "ns/l",
            v,
            managed,
            "u".into(),
            UNIX_EPOCH,
        );
        assert_eq!(store.rv, 10);
        let current = view(store.get(Coll::Leases, "ns/l").unwrap(), Kind::Lease);
        assert!(!update(
            &mut store,
            Kind::Lease,
            "ns/l",
            current.clone(),
            &w
        ));
        assert_eq!(store.rv, 10);
        let mut changed = current;
        changed["spec"]["holderIdentity"] = json!("y");
        assert!(update(&mut store, Kind::Lease, "ns/l", changed, &w));
        assert_eq!(
            store
                .get(Coll::Leases, "ns/l")
                .unwrap()
                .meta("resourceVersion"),
            "11"
        );
    }

    #[test]
    fn events_convert_between_versions() {
        let v1 = json!({"metadata":{"name":"e","namespace":"default"},"eventTime":"2026-11-24T13:04:15.343059Z",
            "reportingController":"picokubelet","reportingInstance":"n","action":"Starting","reason":"Starting",
            "regarding":{"kind":"Node","apiVersion":"v1","name":"n","uid":"u"},"note":"Starting.","type":"Normal"});
        let core = v1_to_core(&normalize(&v1, &EVENTS_V1_EVENT).unwrap());
        assert_eq!(
            serde_json::to_string(&core).unwrap(),
            r#"{"metadata":{"name":"e","namespace":"default","creationTimestamp":null},"involvedObject":{"kind":"Node","name":"n","uid":"u","apiVersion":"v1"},"reason":"Starting","message":"Starting.","source":{},"firstTimestamp":null,"lastTimestamp":null,"type":"Normal","eventTime":"2026-11-24T13:04:15.343059Z","action":"Starting","reportingComponent":"picokubelet","reportingInstance":"n"}"#
        );
    }
}

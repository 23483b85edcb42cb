//! The parts of kube-controller-manager a node agent meets, driven by the injected clock.
//!
//! * Node lifecycle monitor, every `monitor_period` (5 s): registers new Nodes (`RegisteredNode`
//!   event), records when it last OBSERVED a Lease renewal (a later `renewTime`) or a new Ready
//!   heartbeat, and once `grace_period` (50 s; 60 s before the first Ready condition) has passed
//!   since then sets Ready, MemoryPressure, DiskPressure and PIDPressure to
//!   `Unknown/NodeStatusUnknown` ("Kubelet stopped posting node status.", lastTransitionTime = now,
//!   heartbeat kept; missing ones are added as `NodeStatusNeverUpdated`), records `NodeNotReady`
//!   when Ready was True, and leaves other conditions alone. It never sets anything back.
//!   Deleted Nodes get a `RemovingNode` event at the next tick.
//! * Reactions to Node writes, `reaction_delay` (500 ms) after the write: the TTL controller's
//!   `node.alpha.kubernetes.io/ttl: "0"` annotation, the NoSchedule condition taints
//!   (`not-ready`, `unreachable`, `*-pressure`, `unschedulable`) added with `timeAdded` or removed,
//!   and the `beta.kubernetes.io/arch|os` labels copied from `kubernetes.io/arch|os`.
//! * NoExecute taints (`unreachable`, `not-ready`) at a monitor tick while another Node is Ready
//!   (with one Node the real controller is in "master disruption mode" and adds none), removed
//!   at the first tick that sees Ready=True.
//!
//! A tick costs what changed, not the fleet: it visits the Nodes whose Node or Lease was written
//! since the last tick (the store's change feed, standing in for the informers) and the Nodes
//! whose grace deadline passed (a time-ordered index); events aggregate through the recorder's
//! correlation cache rather than a scan of all Events.
//!
//! Nothing runs in the background: every request (and every state accessor) first lets the
//! controller catch up to the clock's current time, processing ticks and reactions in time order
//! and stamping each write with its own scheduled time. The result is the same as a background
//! loop, and deterministic under a simulated clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::clock::{format_time, unix_nanos};
use crate::store::{self, key, meta_str, Coll, Kind, Store, Writer};

/// Timings of the emulated node lifecycle controller.
#[derive(Debug, Clone)]
pub struct LifecycleOptions {
    /// Run the emulation at all.
    pub enabled: bool,
    /// `--node-monitor-period` (5 s).
    pub monitor_period: Duration,
    /// `--node-monitor-grace-period` (50 s in v1.36).
    pub grace_period: Duration,
    /// Grace before a Node that never posted Ready goes Unknown (60 s).
    pub startup_grace_period: Duration,
    /// How long after a Node write the watch-driven controllers react (taints, labels, TTL).
    pub reaction_delay: Duration,
}

impl Default for LifecycleOptions {
    fn default() -> Self {
        LifecycleOptions {
            enabled: true,
            monitor_period: Duration::from_secs(5),
            grace_period: Duration::from_secs(50),
            startup_grace_period: Duration::from_secs(60),
            reaction_delay: Duration::from_millis(500),
        }
    }
}

const MANAGER: &str = "kube-controller-manager";
const TTL_ANNOTATION: &str = "node.alpha.kubernetes.io/ttl";
const CONDITION_TAINT_KEYS: [&str; 7] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/network-unavailable",
    "node.kubernetes.io/unschedulable",
];

#[derive(Debug, Clone)]
struct Health {
    uid: String,
    /// When the controller last saw the Node alive (a new Ready heartbeat or Lease renewal).
    probe: SystemTime,
    ready_heartbeat: Option<Value>,
    lease_renew: Option<String>,
    /// `probe` + grace, while the Node has not been found past it (an entry in `deadlines`).
    deadline: Option<SystemTime>,
}

/// Controller state: next tick, pending reactions, what it has observed per Node.
///
/// Work is proportional to changes, as the real controller's informers make it: a tick visits
/// only the Nodes whose Node or Lease was written since the last tick (the store's change feed)
/// and those whose grace period ran out since (`deadlines`); the others would be no-ops.
#[derive(Debug, Clone)]
pub struct Controller {
    opts: LifecycleOptions,
    next_tick: SystemTime,
    /// Reactions due, in time order (then name order), one per Node (`reaction_at`).
    reactions: BTreeSet<(SystemTime, String)>,
    reaction_at: HashMap<String, SystemTime>,
    health: BTreeMap<String, Health>,
    /// Grace deadlines of the Nodes in `health` not yet found past theirs.
    deadlines: BTreeSet<(SystemTime, String)>,
    /// The event recorder's correlation cache: (Node uid, reason, message) → Event key.
    recorded: HashMap<(String, &'static str, String), String>,
    /// How many Nodes the last tick looked at (for tests and benchmarks of the tick's cost).
    last_tick_visits: usize,
}

/// Produces uids for objects the controller creates.
pub trait UidSource {
    /// A fresh random UUID string.
    fn uid(&mut self) -> String;
}

impl Controller {
    /// A controller whose first monitor tick is one period after `start`.
    pub fn new(opts: LifecycleOptions, start: SystemTime) -> Self {
        let next_tick = start + opts.monitor_period;
        Controller {
            opts,
            next_tick,
            reactions: BTreeSet::new(),
            reaction_at: HashMap::new(),
            health: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            recorded: HashMap::new(),
            last_tick_visits: 0,
        }
    }

    /// A Node was written by someone other than this controller.
    pub fn node_changed(&mut self, name: &str, now: SystemTime) {
        if !self.opts.enabled {
            return;
        }
        let at = now + self.opts.reaction_delay;
        match self.reaction_at.get(name) {
            Some(slot) if *slot <= at => {}
            Some(slot) => {
                self.reactions.remove(&(*slot, name.to_string()));
                self.reactions.insert((at, name.to_string()));
                self.reaction_at.insert(name.to_string(), at);
            }
            None => {
                self.reactions.insert((at, name.to_string()));
                self.reaction_at.insert(name.to_string(), at);
            }
        }
    }

    /// Runs every tick and reaction due at or before `now`, in time order.
    pub fn catch_up(&mut self, store: &mut Store, uids: &mut dyn UidSource, now: SystemTime) {
        if !self.opts.enabled || self.opts.monitor_period.is_zero() {
            return;
        }
        loop {
            match self.reactions.first().cloned() {
                Some((at, name)) if at <= now && at <= self.next_tick => {
                    self.reactions.remove(&(at, name.clone()));
                    self.reaction_at.remove(&name);
                    react(store, &name, at);
                }
                _ if self.next_tick <= now => {
                    let at = self.next_tick;
                    self.tick(store, uids, at);
                    self.next_tick = at + self.opts.monitor_period;
                }
                _ => return,
            }
        }
    }

    fn set_deadline(&mut self, name: &str, deadline: Option<SystemTime>) {
        let Some(h) = self.health.get_mut(name) else {
            return;
        };
        if h.deadline == deadline {
            return;
        }
        if let Some(old) = h.deadline {
            self.deadlines.remove(&(old, name.to_string()));
        }
        if let Some(new) = deadline {
            self.deadlines.insert((new, name.to_string()));
        }
        h.deadline = deadline;
    }

    fn tick(&mut self, store: &mut Store, uids: &mut dyn UidSource, now: SystemTime) {
        let mut due = store.take_node_changes();
        while self.deadlines.first().is_some_and(|(at, _)| *at <= now) {
            let Some((_, name)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some(h) = self.health.get_mut(&name) {
                h.deadline = None;
            }
            due.insert(name);
        }
        // Nodes that disappeared (or were replaced by a new uid), before any registration.
        for name in &due {
            let Some(h) = self.health.get(name) else {
                continue;
            };
            if store
                .get(Coll::Nodes, name)
                .is_some_and(|n| n.meta("uid") == h.uid)
            {
                continue;
            }
            let uid = h.uid.clone();
            self.set_deadline(name, None);
            self.health.remove(name);
            let msg = format!("Node {name} event: Removing Node {name} from Controller");
            self.record_event(store, uids, name, &uid, "RemovingNode", &msg, now);
        }
        let mut ready_nodes = None;
        for name in &due {
            self.monitor(store, uids, name, now);
            no_execute_pass(store, name, now, &mut ready_nodes);
        }
        self.last_tick_visits = due.len();
    }

    /// How many Nodes the last monitor tick looked at.
    pub fn last_tick_visits(&self) -> usize {
        self.last_tick_visits
    }

    fn monitor(
        &mut self,
        store: &mut Store,
        uids: &mut dyn UidSource,
        name: &str,
        now: SystemTime,
    ) {
        let Some(node) = store.get(Coll::Nodes, name) else {
            return;
        };
        let uid = meta_str(&node.value, "uid").to_string();
        let ready = condition(&node.value, "Ready");
        let has_ready = ready.is_some();
        let heartbeat = ready.and_then(|c| c.get("lastHeartbeatTime")).cloned();
        let lease_renew = store
            .get(Coll::Leases, &key("kube-node-lease", name))
            .and_then(|l| l.value.pointer("/spec/renewTime"))
            .and_then(Value::as_str)
            .map(str::to_string);

        if !self.health.contains_key(name) {
            let msg = format!("Node {name} event: Registered Node {name} in Controller");
            self.record_event(store, uids, name, &uid, "RegisteredNode", &msg, now);
            self.health.insert(
                name.to_string(),
                Health {
                    uid: uid.clone(),
                    probe: now,
                    ready_heartbeat: heartbeat.clone(),
                    lease_renew: None,
                    deadline: None,
                },
            );
        }
        let Some(health) = self.health.get_mut(name) else {
            return;
        };
        if health.ready_heartbeat != heartbeat {
            health.ready_heartbeat = heartbeat;
            health.probe = now;
        }
        // MicroTime strings of one format compare in time order.
        if let Some(renew) = lease_renew {
            if health.lease_renew.as_ref().is_none_or(|seen| *seen < renew) {
                health.lease_renew = Some(renew);
                health.probe = now;
            }
        }
        let grace = if has_ready {
            self.opts.grace_period
        } else {
            self.opts.startup_grace_period
        };
        let deadline = health.probe + grace;
        if now < deadline {
            self.set_deadline(name, Some(deadline));
            return;
        }
        // Past the grace: this pass marks it Unknown (or finds it so); later passes would be
        // no-ops until the Node or its Lease changes, which brings it back through the feed.
        self.set_deadline(name, None);
        let Some(node) = store.get(Coll::Nodes, name) else {
            return;
        };
        let ready = condition(&node.value, "Ready").cloned();
        let was_ready_true = ready
            .as_ref()
            .and_then(|c| c.get("status"))
            .and_then(Value::as_str)
            == Some("True");
        let mut updated = node.value.clone();
        mark_unknown(&mut updated, now);
        let w = Writer {
            manager: MANAGER,
            subresource: "status",
            now,
        };
        if condition(&updated, "Ready") != ready.as_ref()
            && store::update(store, Kind::Node, name, updated, &w)
        {
            if was_ready_true {
                let msg = format!("Node {name} status is now: NodeNotReady");
                self.record_event(store, uids, name, &uid, "NodeNotReady", &msg, now);
            }
            taint_pass(store, name, now);
        }
    }

    /// Records (or aggregates, as the event recorder's correlator does) a `node-controller`
    /// event about a Node in namespace `default`.
    #[allow(clippy::too_many_arguments)]
    fn record_event(
        &mut self,
        store: &mut Store,
        uids: &mut dyn UidSource,
        node: &str,
        node_uid: &str,
        reason: &'static str,
        message: &str,
        now: SystemTime,
    ) {
        let w = Writer {
            manager: MANAGER,
            subresource: "",
            now,
        };
        let cache_key = (node_uid.to_string(), reason, message.to_string());
        if let Some(k) = self.recorded.get(&cache_key) {
            if let Some(existing) = store.get(Coll::Events, k) {
                let mut ev = existing.value.clone();
                let count = ev.get("count").and_then(Value::as_i64).unwrap_or(1);
                ev["count"] = json!(count + 1);
                ev["lastTimestamp"] = json!(format_time(now));
                let k = k.clone();
                store::update(store, Kind::Event, &k, ev, &w);
                return;
            }
        }
        let mut nanos = unix_nanos(now);
        let mut name = format!("{node}.{nanos:x}");
        while store.get(Coll::Events, &key("default", &name)).is_some() {
            nanos += 1;
            name = format!("{node}.{nanos:x}");
        }
        let ev = json!({
            "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": node, "uid": node_uid, "apiVersion": "v1"},
            "reason": reason,
            "message": message,
            "source": {"component": "node-controller"},
            "firstTimestamp": format_time(now),
            "lastTimestamp": format_time(now),
            "count": 1,
            "type": "Normal",
            "reportingComponent": "node-controller",
            "reportingInstance": "",
        });
        let Ok(view) = crate::schema::normalize(&ev, Kind::Event.def()) else {
            return;
        };
        let managed = store::managed_for_create(Kind::Event, &view, &w);
        let k = key("default", &name);
        store::create(store, Kind::Event, &k, view, managed, uids.uid(), now);
        self.recorded.insert(cache_key, k);
    }
}

fn condition<'a>(node: &'a Value, ty: &str) -> Option<&'a Value> {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        })
}

fn condition_status<'a>(node: &'a Value, ty: &str) -> Option<&'a str> {
    condition(node, ty)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
}

fn mark_unknown(node: &mut Value, now: SystemTime) {
    let now_s = format_time(now);
    let created = node
        .pointer("/metadata/creationTimestamp")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(status) = node.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    let conditions = status
        .entry("conditions")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    for ty in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        match list
            .iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        {
            None => list.push(json!({
                "type": ty,
                "status": "Unknown",
                "lastHeartbeatTime": created,
                "lastTransitionTime": now_s,
                "reason": "NodeStatusNeverUpdated",
                "message": "Kubelet never posted node status.",
            })),
            Some(c) if c.get("status").and_then(Value::as_str) != Some("Unknown") => {
                c["status"] = json!("Unknown");
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!("Kubelet stopped posting node status.");
                c["lastTransitionTime"] = json!(now_s);
            }
            Some(_) => {}
        }
    }
}

/// The watch-driven reactions to a Node write (TTL annotation, condition taints, beta labels).
fn react(store: &mut Store, name: &str, now: SystemTime) {
    let w = Writer {
        manager: MANAGER,
        subresource: "",
        now,
    };
    if let Some(node) = store.get(Coll::Nodes, name) {
        let mut node = node.value.clone();
        if node.pointer("/metadata/annotations/node.alpha.kubernetes.io~1ttl") != Some(&json!("0"))
        {
            let meta = &mut node["metadata"];
            if !meta.get("annotations").is_some_and(Value::is_object) {
                meta["annotations"] = json!({});
            }
            meta["annotations"][TTL_ANNOTATION] = json!("0");
            store::update(store, Kind::Node, name, node, &w);
        }
    }
    taint_pass(store, name, now);
    if let Some(node) = store.get(Coll::Nodes, name) {
        let mut node = node.value.clone();
        let mut changed = false;
        for (stable, beta) in [
            ("kubernetes.io/arch", "beta.kubernetes.io/arch"),
            ("kubernetes.io/os", "beta.kubernetes.io/os"),
        ] {
            let labels = &node["metadata"]["labels"];
            if let Some(v) = labels.get(stable).cloned() {
                if labels.get(beta) != Some(&v) {
                    node["metadata"]["labels"][beta] = v;
                    changed = true;
                }
            }
        }
        if changed {
            store::update(store, Kind::Node, name, node, &w);
        }
    }
}

/// The NoExecute taint of each Ready status (`doNoExecuteTaintingPass`, `markNodeAsReachable`).
fn no_execute_key(ready: Option<&str>) -> Option<&'static str> {
    match ready {
        Some("False") => Some("node.kubernetes.io/not-ready"),
        Some("Unknown") => Some("node.kubernetes.io/unreachable"),
        _ => None,
    }
}

/// NoExecute taints, at a monitor tick: added (with `timeAdded`) to a Node that is not Ready
/// only while another Node is Ready (with none, the real controller is in "master disruption
/// mode": recorded-compact 12b has no NoExecute, recorded-2 G4 with a healthy second Node has
/// it, in the same second as the NoSchedule one); removed at the first tick that sees Ready=True
/// (G4: ~5 s after the status write, the NoSchedule one ~1 s). Zones are not modelled (guess:
/// every Node in one zone, no rate limiting).
fn no_execute_pass(
    store: &mut Store,
    name: &str,
    now: SystemTime,
    ready_nodes: &mut Option<usize>,
) {
    let Some(node) = store.get(Coll::Nodes, name) else {
        return;
    };
    let wanted = no_execute_key(condition_status(&node.value, "Ready"));
    let taints: Vec<Value> = node
        .value
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ours = |t: &Value| {
        t.get("effect").and_then(Value::as_str) == Some("NoExecute")
            && t.get("key").and_then(Value::as_str).is_some_and(|k| {
                k == "node.kubernetes.io/not-ready" || k == "node.kubernetes.io/unreachable"
            })
    };
    let key_of = |t: &Value| t.get("key").and_then(Value::as_str).map(str::to_string);
    let stale = |t: &Value| ours(t) && key_of(t).as_deref() != wanted;
    let present = taints
        .iter()
        .any(|t| ours(t) && key_of(t).as_deref() == wanted);
    let add = match wanted {
        Some(_) if !present => {
            *ready_nodes.get_or_insert_with(|| {
                store
                    .all(Coll::Nodes)
                    .filter(|(_, n)| condition_status(&n.value, "Ready") == Some("True"))
                    .count()
            }) > 0
        }
        _ => false,
    };
    if !add && !taints.iter().any(stale) {
        return;
    }
    let mut updated = node.value.clone();
    let mut list: Vec<Value> = taints.into_iter().filter(|t| !stale(t)).collect();
    if let (true, Some(k)) = (add, wanted) {
        list.push(json!({"key": k, "effect": "NoExecute", "timeAdded": format_time(now)}));
    }
    updated["spec"]["taints"] = Value::Array(list);
    let w = Writer {
        manager: MANAGER,
        subresource: "",
        now,
    };
    store::update(store, Kind::Node, name, updated, &w);
}

/// `doNoScheduleTaintingPass`: one write adding missing condition taints (with `timeAdded`),
/// one removing stale ones.
fn taint_pass(store: &mut Store, name: &str, now: SystemTime) {
    let Some(node) = store.get(Coll::Nodes, name) else {
        return;
    };
    let node = node.value.clone();
    let mut wanted: Vec<&str> = Vec::new();
    match condition_status(&node, "Ready") {
        Some("False") => wanted.push("node.kubernetes.io/not-ready"),
        Some("Unknown") => wanted.push("node.kubernetes.io/unreachable"),
        _ => {}
    }
    for (ty, key) in [
        ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
        ("DiskPressure", "node.kubernetes.io/disk-pressure"),
        ("PIDPressure", "node.kubernetes.io/pid-pressure"),
        (
            "NetworkUnavailable",
            "node.kubernetes.io/network-unavailable",
        ),
    ] {
        if condition_status(&node, ty) == Some("True") {
            wanted.push(key);
        }
    }
    if node.pointer("/spec/unschedulable") == Some(&json!(true)) {
        wanted.push("node.kubernetes.io/unschedulable");
    }
    let taints: Vec<Value> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_condition_taint = |t: &Value| {
        t.get("effect").and_then(Value::as_str) == Some("NoSchedule")
            && t.get("key")
                .and_then(Value::as_str)
                .is_some_and(|k| CONDITION_TAINT_KEYS.contains(&k))
    };
    let has = |key: &str| {
        taints
            .iter()
            .any(|t| is_condition_taint(t) && t.get("key").and_then(Value::as_str) == Some(key))
    };
    let to_add: Vec<&str> = wanted.iter().copied().filter(|k| !has(k)).collect();
    let w = Writer {
        manager: MANAGER,
        subresource: "",
        now,
    };
    let mut current = taints.clone();
    if !to_add.is_empty() {
        for k in &to_add {
            current.push(json!({"key": k, "effect": "NoSchedule", "timeAdded": format_time(now)}));
        }
        let mut updated = node.clone();
        updated["spec"]["taints"] = Value::Array(current.clone());
        store::update(store, Kind::Node, name, updated, &w);
    }
    let stale = |t: &Value| {
        is_condition_taint(t)
            && !t
                .get("key")
                .and_then(Value::as_str)
                .is_some_and(|k| wanted.contains(&k))
    };
    if current.iter().any(stale) {
        let Some(latest) = store.get(Coll::Nodes, name) else {
            return;
        };
        let mut updated = latest.value.clone();
        current.retain(|t| !stale(t));
        updated["spec"]["taints"] = Value::Array(current);
        store::update(store, Kind::Node, name, updated, &w);
    }
}

/// The garbage collector: deletes Leases whose ownerReferences point at `owner_uid`.
pub fn collect_garbage(store: &mut Store, owner_uid: &str) -> Vec<String> {
    let owned: Vec<String> = store
        .all(Coll::Leases)
        .filter(|(_, l)| {
            l.value
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                })
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in &owned {
        store.remove(Coll::Leases, k);
    }
    owned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{format_micro_time, parse_rfc3339};

    struct Counter(u64);

    impl UidSource for Counter {
        fn uid(&mut self) -> String {
            self.0 += 1;
            format!("uid-{}", self.0)
        }
    }

    fn put(store: &mut Store, kind: Kind, k: &str, v: Value, now: SystemTime) {
        let view = crate::schema::normalize(&v, kind.def()).unwrap();
        let w = Writer {
            manager: "test",
            subresource: "",
            now,
        };
        if store.get(kind.coll(), k).is_some() {
            assert!(store::update(store, kind, k, view, &w));
        } else {
            let managed = store::managed_for_create(kind, &view, &w);
            store::create(store, kind, k, view, managed, format!("uid-{k}"), now);
        }
    }

    fn lease(name: &str, renew: SystemTime) -> Value {
        json!({"metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "renewTime": format_micro_time(renew)}})
    }

    #[test]
    fn a_tick_visits_only_nodes_that_changed_or_ran_out_of_grace() {
        let t0 = parse_rfc3339("2026-11-24T13:04:12Z").unwrap();
        let mut store = Store::new(600);
        let mut uids = Counter(0);
        let mut c = Controller::new(LifecycleOptions::default(), t0);
        let ready = json!([{"type": "Ready", "status": "True",
            "lastHeartbeatTime": "2026-11-24T13:04:12Z",
            "lastTransitionTime": "2026-11-24T13:04:12Z"}]);
        for n in ["a", "b", "c"] {
            let node = json!({"metadata": {"name": n}, "status": {"conditions": ready}});
            put(&mut store, Kind::Node, n, node, t0);
            put(
                &mut store,
                Kind::Lease,
                &key("kube-node-lease", n),
                lease(n, t0),
                t0,
            );
        }
        let at = |s: u64| t0 + Duration::from_secs(s);
        c.catch_up(&mut store, &mut uids, at(5));
        assert_eq!(
            c.last_tick_visits(),
            3,
            "registration looks at every new Node"
        );
        c.catch_up(&mut store, &mut uids, at(10));
        assert_eq!(c.last_tick_visits(), 0, "nothing changed");
        put(
            &mut store,
            Kind::Lease,
            &key("kube-node-lease", "b"),
            lease("b", at(12)),
            at(12),
        );
        c.catch_up(&mut store, &mut uids, at(15));
        assert_eq!(c.last_tick_visits(), 1, "one renewal");
        // a and c were observed at 13:04:17 (+5 s): Unknown at the tick at +55 s; b at +65 s.
        c.catch_up(&mut store, &mut uids, at(50));
        assert_eq!(c.last_tick_visits(), 0);
        c.catch_up(&mut store, &mut uids, at(55));
        assert_eq!(c.last_tick_visits(), 2, "a and c ran out of grace");
        let status = |s: &Store, n: &str| {
            condition_status(&s.get(Coll::Nodes, n).unwrap().value, "Ready").map(str::to_string)
        };
        assert_eq!(status(&store, "a").as_deref(), Some("Unknown"));
        assert_eq!(status(&store, "b").as_deref(), Some("True"));
        c.catch_up(&mut store, &mut uids, at(60));
        assert_eq!(
            c.last_tick_visits(),
            2,
            "the controller's own writes come back once"
        );
        c.catch_up(&mut store, &mut uids, at(65));
        assert_eq!(status(&store, "b").as_deref(), Some("Unknown"));
        c.catch_up(&mut store, &mut uids, at(75));
        assert_eq!(
            c.last_tick_visits(),
            0,
            "Unknown Nodes cost nothing until they change"
        );
        store.remove(Coll::Nodes, "c");
        c.catch_up(&mut store, &mut uids, at(80));
        assert_eq!(c.last_tick_visits(), 1);
        let reasons: Vec<String> = store
            .all(Coll::Events)
            .filter(|(_, e)| e.value.pointer("/involvedObject/name") == Some(&json!("c")))
            .map(|(_, e)| e.value["reason"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(reasons, ["RegisteredNode", "NodeNotReady", "RemovingNode"]);
    }
}

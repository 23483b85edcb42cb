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
//! * No NoExecute taints: with one Node the real controller is in "master disruption mode".
//!
//! Nothing runs in the background: every request (and every state accessor) first lets the
//! controller catch up to the clock's current time, processing ticks and reactions in time order
//! and stamping each write with its own scheduled time. The result is the same as a background
//! loop, and deterministic under a simulated clock.

use std::collections::BTreeMap;
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
    probe: SystemTime,
    ready_heartbeat: Option<Value>,
    lease_renew: Option<String>,
}

/// Controller state: next tick, pending reactions, what it has observed per Node.
#[derive(Debug, Clone)]
pub struct Controller {
    opts: LifecycleOptions,
    next_tick: SystemTime,
    pending: BTreeMap<String, SystemTime>,
    health: BTreeMap<String, Health>,
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
            pending: BTreeMap::new(),
            health: BTreeMap::new(),
        }
    }

    /// A Node was written by someone other than this controller.
    pub fn node_changed(&mut self, name: &str, now: SystemTime) {
        if !self.opts.enabled {
            return;
        }
        let at = now + self.opts.reaction_delay;
        let slot = self.pending.entry(name.to_string()).or_insert(at);
        if at < *slot {
            *slot = at;
        }
    }

    /// Runs every tick and reaction due at or before `now`, in time order.
    pub fn catch_up(&mut self, store: &mut Store, uids: &mut dyn UidSource, now: SystemTime) {
        if !self.opts.enabled || self.opts.monitor_period.is_zero() {
            return;
        }
        loop {
            let next_reaction = self
                .pending
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(n, t)| (n.clone(), *t));
            match next_reaction {
                Some((name, at)) if at <= now && at <= self.next_tick => {
                    self.pending.remove(&name);
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

    fn tick(&mut self, store: &mut Store, uids: &mut dyn UidSource, now: SystemTime) {
        // Nodes that disappeared (or were replaced by a new uid).
        let gone: Vec<(String, String)> = self
            .health
            .iter()
            .filter(|(name, h)| {
                store
                    .get(Coll::Nodes, name)
                    .is_none_or(|n| n.meta("uid") != h.uid)
            })
            .map(|(n, h)| (n.clone(), h.uid.clone()))
            .collect();
        for (name, uid) in gone {
            self.health.remove(&name);
            let msg = format!("Node {name} event: Removing Node {name} from Controller");
            record_event(store, uids, &name, &uid, "RemovingNode", &msg, now);
        }
        let names: Vec<String> = store.all(Coll::Nodes).map(|(k, _)| k.clone()).collect();
        for name in names {
            self.monitor(store, uids, &name, now);
        }
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
        let node = node.value.clone();
        let uid = meta_str(&node, "uid").to_string();
        let ready = condition(&node, "Ready").cloned();
        let heartbeat = ready
            .as_ref()
            .and_then(|c| c.get("lastHeartbeatTime").cloned());
        let lease_renew = store
            .get(Coll::Leases, &key("kube-node-lease", name))
            .and_then(|l| l.value.pointer("/spec/renewTime"))
            .and_then(Value::as_str)
            .map(str::to_string);

        if !self.health.contains_key(name) {
            let msg = format!("Node {name} event: Registered Node {name} in Controller");
            record_event(store, uids, name, &uid, "RegisteredNode", &msg, now);
            self.health.insert(
                name.to_string(),
                Health {
                    uid: uid.clone(),
                    probe: now,
                    ready_heartbeat: heartbeat.clone(),
                    lease_renew: None,
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
        let grace = if ready.is_some() {
            self.opts.grace_period
        } else {
            self.opts.startup_grace_period
        };
        if now < health.probe + grace {
            return;
        }
        let was_ready_true = ready
            .as_ref()
            .and_then(|c| c.get("status"))
            .and_then(Value::as_str)
            == Some("True");
        let mut updated = node.clone();
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
                record_event(store, uids, name, &uid, "NodeNotReady", &msg, now);
            }
            taint_pass(store, name, now);
        }
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

/// Records (or aggregates) a `node-controller` event about a Node in namespace `default`.
fn record_event(
    store: &mut Store,
    uids: &mut dyn UidSource,
    node: &str,
    node_uid: &str,
    reason: &str,
    message: &str,
    now: SystemTime,
) {
    let existing = store
        .all(Coll::Events)
        .find(|(_, e)| {
            let v = &e.value;
            v.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(node_uid)
                && v.get("reason").and_then(Value::as_str) == Some(reason)
                && v.get("message").and_then(Value::as_str) == Some(message)
                && v.pointer("/source/component").and_then(Value::as_str) == Some("node-controller")
        })
        .map(|(k, e)| (k.clone(), e.value.clone()));
    let w = Writer {
        manager: MANAGER,
        subresource: "",
        now,
    };
    if let Some((k, mut ev)) = existing {
        let count = ev.get("count").and_then(Value::as_i64).unwrap_or(1);
        ev["count"] = json!(count + 1);
        ev["lastTimestamp"] = json!(format_time(now));
        store::update(store, Kind::Event, &k, ev, &w);
        return;
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
    store::create(
        store,
        Kind::Event,
        &key("default", &name),
        view,
        managed,
        uids.uid(),
        now,
    );
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

//! Everything the API serves from: objects, the emulated controller, credentials and the seeded
//! random source, plus the operations that touch more than one of them.

use std::time::SystemTime;

use crate::auth::{Rbac, Tokens};
use crate::controller::{collect_garbage, Controller, LifecycleOptions, UidSource};
use crate::store::{Coll, Store};

/// Everything the API serves from: objects, controller, credentials, randomness.
#[derive(Debug, Clone)]
pub struct State {
    /// Objects.
    pub store: Store,
    /// Emulated kube-controller-manager.
    pub controller: Controller,
    /// Bearer tokens.
    pub tokens: Tokens,
    /// RBAC bindings granted besides the defaults.
    pub rbac: Rbac,
    /// Random source for uids, audit ids, tokens, generated names.
    pub rng: Rng,
    /// First resourceVersion of a fresh store.
    pub first_rv: u64,
    /// Controller timings (to rebuild the controller after a state-losing restart).
    pub lifecycle: LifecycleOptions,
    /// What `/readyz` and `/livez` report.
    pub health: ServerHealth,
}

/// The server's own condition, as its health checks see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerHealth {
    /// A graceful shutdown has begun (`/readyz` fails its `shutdown` check).
    pub shutting_down: bool,
    /// etcd does not answer (`/livez` fails its `etcd` check; requests that need it hang).
    pub storage_stalled: bool,
}

impl State {
    /// Forgets every object (an etcd wipe), keeping credentials.
    pub fn wipe(&mut self, now: SystemTime) {
        self.store = Store::new(self.first_rv);
        self.controller = Controller::new(self.lifecycle.clone(), now);
    }

    /// Lets the controller run up to `now`.
    pub fn settle(&mut self, now: SystemTime) {
        let State {
            store,
            controller,
            rng,
            ..
        } = self;
        controller.catch_up(store, rng, now);
        store.expire_events(now);
    }

    /// Deletes a Node as an admin would, with the garbage collector's Lease cleanup.
    pub fn delete_node(&mut self, name: &str, now: SystemTime) -> Option<String> {
        self.settle(now);
        let gone = self.store.remove(Coll::Nodes, name)?;
        let uid = gone.meta("uid").to_string();
        collect_garbage(&mut self.store, &uid);
        Some(uid)
    }
}

/// splitmix64: small, seedable, good enough for uids in tests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A version 4 UUID.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        let a = (a & !0xf000) | 0x4000;
        let b = (b & !(0xc << 60)) | (0x8 << 60);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    /// `n` random lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }
}

impl UidSource for Rng {
    fn uid(&mut self) -> String {
        self.uuid()
    }
}

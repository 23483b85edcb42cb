//! The registration reconciler's state (`agent/registration.rs` acts on it).
use crate::bounded::BoundedStr;
use crate::k8s::response::UID_LEN;

/// The registration reconciler's state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Registrar {
    registered: bool,
    /// The Node's uid (the Lease's owner).
    uid: BoundedStr<UID_LEN>,
    /// The `Starting` event was queued (once per boot).
    started_queued: bool,
    registrations: u32,
    taint_missing: u32,
}

impl Registrar {
    pub const NEW: Registrar = Registrar {
        registered: false,
        uid: BoundedStr::new(),
        started_queued: false,
        registrations: 0,
        taint_missing: 0,
    };

    pub fn is_registered(&self) -> bool {
        self.registered
    }

    pub fn uid(&self) -> &BoundedStr<UID_LEN> {
        &self.uid
    }

    /// Registrations completed: created (201) or adopted (409).
    pub fn registrations(&self) -> u32 {
        self.registrations
    }

    /// Times the Node was found without our taint.
    pub fn taint_missing(&self) -> u32 {
        self.taint_missing
    }

    /// The Node lacks our taint.
    pub fn record_taint_missing(&mut self) {
        self.taint_missing = self.taint_missing.saturating_add(1);
    }

    /// The Node is gone: register again (only [`super::AgentEvent::NodeGone`] calls this).
    pub(crate) fn forget(&mut self) {
        self.registered = false;
    }

    /// A read of the Node found its current uid (the Lease is created with it).
    pub(crate) fn learn_uid(&mut self, uid: &BoundedStr<UID_LEN>) {
        if !uid.is_empty() && !uid.is_truncated() {
            self.uid = *uid;
        }
    }

    /// Registered; true the first time since boot.
    pub fn registered(&mut self, uid: &BoundedStr<UID_LEN>) -> bool {
        self.registered = true;
        self.uid = *uid;
        self.registrations = self.registrations.saturating_add(1);
        !core::mem::replace(&mut self.started_queued, true)
    }
}

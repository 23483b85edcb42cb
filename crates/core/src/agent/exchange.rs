//! Every request the agent makes, as one typed value: [`Exchange`] names the operation the
//! status-code policy judges, the path, method and content type (through [`ApiWrite`] /
//! [`ApiPath`], derived from the resource as kube-rs derives them from the type), and writes its
//! own body. The body is written at send time, with the state as it is then (the renewal's
//! `renewTime`, the conditions of the status patch), and what it carried comes back as [`Sent`].
use crate::agent::config::AgentConfig;
use crate::agent::policy::Operation;
use crate::agent::state::AgentState;
use crate::client::api::ApiRequest;
use crate::k8s::body_error::BodyError;
use crate::k8s::event::{write_node_event, NodeEvent};
use crate::k8s::lease::{write_lease_create, write_lease_renewal};
use crate::k8s::node::{write_node_labels_patch, write_node_registration, NodeProfile};
use crate::k8s::paths::{ApiPath, ApiWrite};
use crate::k8s::status_patch::write_status_patch;
use crate::runtime::Instant;
use crate::time::{next_renew_time, UnixMicros};

/// One request; see the module notes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Exchange<'a> {
    /// `GET /version`: the `Date` anchors the wall clock.
    Version,
    /// `POST /api/v1/nodes` with the taint and the full status.
    RegisterNode {
        profile: &'a NodeProfile<'a>,
        /// The heap annotation rides in the registration (the Node carries it from the start).
        heap_free_bytes: u32,
    },
    /// `GET` our Node.
    ReadNode,
    /// Merge-patch our labels.
    PatchNodeLabels { profile: &'a NodeProfile<'a> },
    /// Strategic-merge `/status`: all conditions and the heap annotation; with `details`, the
    /// addresses and nodeInfo too.
    PatchNodeStatus {
        heap_free_bytes: u32,
        details: Option<&'a NodeProfile<'a>>,
    },
    /// `GET` our Lease.
    ReadLease,
    /// `POST` our Lease, owned by the Node `owner_uid`.
    CreateLease { owner_uid: &'a str },
    /// Merge-patch `spec.renewTime`.
    RenewLease,
    /// `POST` a Node Event.
    PostEvent {
        event: NodeEvent<'static>,
        unique: u64,
        at: Option<UnixMicros>,
    },
}

/// What a body carried, for the reconciler to record once the server accepted it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sent {
    /// The conditions' generation a registration or status patch carried.
    pub generation: u32,
    /// The `renewTime` a Lease create or renewal carried.
    pub renew_time: UnixMicros,
}

impl Exchange<'_> {
    /// What the policy judges the response by.
    pub const fn operation(&self) -> Operation {
        match self {
            Exchange::Version => Operation::Version,
            Exchange::RegisterNode { .. } => Operation::CreateNode,
            Exchange::ReadNode => Operation::ReadNode,
            Exchange::PatchNodeLabels { .. } | Exchange::PatchNodeStatus { .. } => {
                Operation::PatchNode
            }
            Exchange::ReadLease => Operation::ReadLease,
            Exchange::CreateLease { .. } => Operation::CreateLease,
            Exchange::RenewLease => Operation::RenewLease,
            Exchange::PostEvent { .. } => Operation::PostEvent,
        }
    }

    /// Method, path and content type for the configured node: reads by path, writes by
    /// [`ApiWrite`], which knows each write's method and body type.
    pub fn request<'n>(&self, config: &AgentConfig<'n>) -> ApiRequest<'n> {
        let node = config.profile.name;
        let write = match self {
            Exchange::Version => return ApiRequest::get(ApiPath::Version),
            Exchange::ReadNode => return ApiRequest::get(ApiPath::Node(node)),
            Exchange::ReadLease => return ApiRequest::get(ApiPath::Lease(node)),
            Exchange::RegisterNode { .. } => ApiWrite::RegisterNode,
            Exchange::PatchNodeLabels { .. } => ApiWrite::PatchNodeLabels,
            Exchange::PatchNodeStatus { .. } => ApiWrite::PatchNodeStatus,
            Exchange::CreateLease { .. } => ApiWrite::CreateLease,
            Exchange::RenewLease => ApiWrite::RenewLease,
            Exchange::PostEvent { .. } => ApiWrite::PostEvent,
        };
        ApiRequest::write(write, node)
    }

    /// Writes the body into `buf` as of `now` (reads without a body write nothing).
    pub fn write_body(
        &self,
        state: &AgentState,
        config: &AgentConfig<'_>,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<(usize, Sent), BodyError> {
        let wall = state.wall_now(now).unwrap_or(UnixMicros(0));
        let mut sent = Sent::default();
        let conditions = state.conditions_set();
        let len = match *self {
            Exchange::Version | Exchange::ReadNode | Exchange::ReadLease => 0,
            Exchange::RegisterNode {
                profile,
                heap_free_bytes,
            } => {
                let set = conditions.ok_or(NO_CONDITIONS)?;
                sent.generation = set.generation();
                let heap = Some(u64::from(heap_free_bytes));
                write_node_registration(profile, set.conditions(), heap, wall, buf)?
            }
            Exchange::PatchNodeLabels { profile } => write_node_labels_patch(profile, buf)?,
            Exchange::PatchNodeStatus {
                heap_free_bytes,
                details,
            } => {
                let set = conditions.ok_or(NO_CONDITIONS)?;
                sent.generation = set.generation();
                let heap = Some(u64::from(heap_free_bytes));
                write_status_patch(set.conditions(), wall, heap, details, buf)?
            }
            Exchange::CreateLease { owner_uid } => {
                sent.renew_time = next_renew_time(wall, state.last_renew_time());
                let duration = config.timing.lease_duration_secs;
                let name = config.profile.name;
                write_lease_create(name, owner_uid, duration, sent.renew_time, buf)?
            }
            Exchange::RenewLease => {
                sent.renew_time = next_renew_time(wall, state.last_renew_time());
                write_lease_renewal(sent.renew_time, buf)?
            }
            Exchange::PostEvent { event, unique, at } => {
                write_node_event(config.profile.name, &event, unique, at.unwrap_or(wall), buf)?
            }
        };
        Ok((len, sent))
    }
}

/// A status body without a condition set (only before the first anchoring, which
/// `ensure_anchored` rules out).
const NO_CONDITIONS: BodyError = BodyError::Invalid {
    field: "status.conditions",
};

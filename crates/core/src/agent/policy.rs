//! The status-code policy (DESIGN.md §5): one decision per (resource, operation, status code),
//! shared by every body. Reconcilers call [`decide`] and act on the [`Action`]; none of them
//! interprets a status code on its own.
use crate::http::response::RetryAfter;

/// What a request was trying to do, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET /version`, to anchor the clock.
    Version,
    /// `POST /api/v1/nodes`.
    CreateNode,
    /// `GET /api/v1/nodes/{name}`.
    ReadNode,
    /// `PATCH /api/v1/nodes/{name}` (labels) or `/status`.
    PatchNode,
    /// `POST …/leases`.
    CreateLease,
    /// `GET …/leases/{name}`.
    ReadLease,
    /// `PATCH`/`PUT …/leases/{name}`.
    RenewLease,
    /// `POST …/events`.
    PostEvent,
}

impl Operation {
    /// The verb and resource RBAC must allow, for a 403 message that says what is missing.
    pub const fn rbac(self) -> (&'static str, &'static str) {
        match self {
            Operation::Version => ("get", "/version (nonResourceURL)"),
            Operation::CreateNode => ("create", "nodes"),
            Operation::ReadNode => ("get", "nodes"),
            Operation::PatchNode => ("patch", "nodes, nodes/status"),
            Operation::CreateLease => ("create", "leases.coordination.k8s.io in kube-node-lease"),
            Operation::ReadLease => ("get", "leases.coordination.k8s.io in kube-node-lease"),
            Operation::RenewLease => ("patch", "leases.coordination.k8s.io in kube-node-lease"),
            Operation::PostEvent => ("create", "events in default"),
        }
    }
}

/// The decision for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// 2xx: it worked.
    Done,
    /// 404 on the Lease: create it again.
    RecreateLease,
    /// 404 on the Node (deleted behind our back): register again, then recreate the Lease.
    Reregister,
    /// 409 on create: the object exists; read it and adopt it.
    AdoptExisting,
    /// 409 on an update: someone else wrote first; read again and retry.
    RereadAndRetry,
    /// 401: the token was rejected. Keep trying, slowly (tokens get rotated), and show it.
    CredentialsRejected,
    /// 403: RBAC or NodeRestriction forbids this verb on this resource. Retrying will not help
    /// until someone fixes the cluster; retry slowly and say what is missing.
    Forbidden {
        verb: &'static str,
        resource: &'static str,
    },
    /// 429 / 503: the server asked us to wait this long (seconds), or to back off when it did
    /// not say how long.
    Throttled { retry_after_secs: Option<u32> },
    /// 5xx, or a code we do not expect: drop the connection and retry with backoff.
    Reconnect,
    /// 400 / 415 / 422 and other 4xx: our request is wrong. Retrying the same bytes cannot
    /// help; report it (a bug in the agent or a config value the server rejects).
    Rejected,
}

/// The policy. `retry_after` is the parsed `Retry-After` header, if any.
pub fn decide(op: Operation, status: u16, retry_after: Option<RetryAfter>) -> Action {
    match status {
        200..=299 => Action::Done,
        401 => Action::CredentialsRejected,
        403 => {
            let (verb, resource) = op.rbac();
            Action::Forbidden { verb, resource }
        }
        404 => match op {
            Operation::RenewLease | Operation::ReadLease => Action::RecreateLease,
            Operation::ReadNode | Operation::PatchNode => Action::Reregister,
            // A 404 on a create or on /version means the URL is wrong (a proxy, an aggregated
            // API missing): a connection problem, not a missing object.
            Operation::Version
            | Operation::CreateNode
            | Operation::CreateLease
            | Operation::PostEvent => Action::Reconnect,
        },
        409 => match op {
            Operation::CreateNode | Operation::CreateLease => Action::AdoptExisting,
            // An Event name collision: the event exists already; nothing to do.
            Operation::PostEvent => Action::Done,
            _ => Action::RereadAndRetry,
        },
        429 | 503 => Action::Throttled {
            retry_after_secs: match retry_after {
                Some(RetryAfter::Seconds(s)) => Some(s),
                Some(RetryAfter::Unknown) | None => None,
            },
        },
        400..=499 => Action::Rejected,
        _ => Action::Reconnect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation::*;

    const ALL_OPS: [Operation; 8] = [
        Version,
        CreateNode,
        ReadNode,
        PatchNode,
        CreateLease,
        ReadLease,
        RenewLease,
        PostEvent,
    ];

    #[test]
    fn success_is_done_for_every_operation() {
        for op in ALL_OPS {
            for code in [200, 201, 202] {
                assert_eq!(decide(op, code, None), Action::Done, "{op:?} {code}");
            }
        }
    }

    #[test]
    fn not_found_recreates_the_lease_or_reregisters_the_node() {
        assert_eq!(decide(RenewLease, 404, None), Action::RecreateLease);
        assert_eq!(decide(ReadLease, 404, None), Action::RecreateLease);
        assert_eq!(decide(PatchNode, 404, None), Action::Reregister);
        assert_eq!(decide(ReadNode, 404, None), Action::Reregister);
        assert_eq!(decide(CreateNode, 404, None), Action::Reconnect);
        assert_eq!(decide(Version, 404, None), Action::Reconnect);
    }

    #[test]
    fn conflict_adopts_on_create_and_rereads_on_update() {
        assert_eq!(decide(CreateNode, 409, None), Action::AdoptExisting);
        assert_eq!(decide(CreateLease, 409, None), Action::AdoptExisting);
        assert_eq!(decide(RenewLease, 409, None), Action::RereadAndRetry);
        assert_eq!(decide(PatchNode, 409, None), Action::RereadAndRetry);
        assert_eq!(decide(PostEvent, 409, None), Action::Done);
    }

    #[test]
    fn unauthorized_and_forbidden_say_what() {
        assert_eq!(decide(RenewLease, 401, None), Action::CredentialsRejected);
        assert_eq!(
            decide(PatchNode, 403, None),
            Action::Forbidden {
                verb: "patch",
                resource: "nodes, nodes/status"
            }
        );
        assert_eq!(
            decide(CreateLease, 403, None),
            Action::Forbidden {
                verb: "create",
                resource: "leases.coordination.k8s.io in kube-node-lease"
            }
        );
    }

    #[test]
    fn throttling_honours_retry_after() {
        // Recording 16a: 429 text/plain with Retry-After: 1.
        assert_eq!(
            decide(RenewLease, 429, Some(RetryAfter::Seconds(1))),
            Action::Throttled {
                retry_after_secs: Some(1)
            }
        );
        assert_eq!(
            decide(PatchNode, 503, Some(RetryAfter::Seconds(7))),
            Action::Throttled {
                retry_after_secs: Some(7)
            }
        );
        assert_eq!(
            decide(PatchNode, 503, None),
            Action::Throttled {
                retry_after_secs: None
            }
        );
        assert_eq!(
            decide(PatchNode, 429, Some(RetryAfter::Unknown)),
            Action::Throttled {
                retry_after_secs: None
            }
        );
    }

    #[test]
    fn client_errors_are_rejections_and_server_errors_reconnect() {
        for code in [400, 405, 413, 415, 422] {
            assert_eq!(decide(PatchNode, code, None), Action::Rejected, "{code}");
        }
        for code in [500, 502, 504, 599, 100, 302, 0, 999] {
            assert_eq!(decide(RenewLease, code, None), Action::Reconnect, "{code}");
        }
    }
}

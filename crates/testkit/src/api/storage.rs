//! Requests while etcd does not answer (recorded G3): which of them wait for storage, how long
//! until they time out, and the timeout answers. Authentication and authorization need no etcd
//! (tokens, certificates, the authorizer's graph), `/version` and `/readyz` neither; reads with
//! `resourceVersion=0` come from the watch cache at once.

use std::time::Duration;

use crate::auth::{authorize, Attributes, User};
use crate::json::encode_compact;
use crate::message::{Handled, Request, Response};
use crate::state::State;
use crate::status;

use super::authn::identify;
use super::health;
use super::negotiate::{negotiate, Output};
use super::respond::{audit_id, flow_uids, wants_pretty, Ctx};
use super::route::{route, verb, Check, Route};

/// How a request waits on stalled storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageWait {
    /// A write: 504 Timeout after 34.5 s, not stored (G3j, G3l, G3n).
    Write,
    /// A quorum read: 504 from the timeout filter after 60.5 s (G3k).
    Read,
    /// `/livez`: its etcd check gives up after 2.3 s (G3f), then answers 500.
    Liveness,
}

impl StorageWait {
    /// Clock time until the timeout answer.
    pub fn timeout(self) -> Duration {
        match self {
            StorageWait::Write => Duration::from_millis(34_500),
            StorageWait::Read => Duration::from_millis(60_500),
            StorageWait::Liveness => Duration::from_millis(2_300),
        }
    }
}

/// Whether (and how) `req` waits while storage is stalled; `None` answers at once.
pub fn storage_wait(state: &State, req: &Request) -> Option<StorageWait> {
    let (kind, namespace, name, subresource) = match route(&req.path) {
        Route::Health(Check::Livez) => return Some(StorageWait::Liveness),
        Route::Resource {
            kind,
            namespace,
            name,
            subresource,
        } => (kind, namespace, name, subresource),
        _ => return None,
    };
    let user = identify(state, req).ok()?;
    let watch = matches!(req.query_param("watch").as_deref(), Some("true" | "1"));
    let verb = verb(&req.method, name.is_empty(), watch)?;
    let r = kind.resource();
    let attrs = Attributes {
        verb,
        group: r.group,
        resource: r.resource,
        subresource: &subresource,
        namespace: &namespace,
        name: &name,
        path: &req.path,
    };
    authorize(&state.rbac, &user, &attrs).ok()?;
    match verb {
        "get" | "list" if req.query_param("resourceVersion").as_deref() == Some("0") => None,
        "get" | "list" | "watch" => Some(StorageWait::Read),
        _ => Some(StorageWait::Write),
    }
}

/// The answer `req` gets when its wait times out.
pub fn storage_timeout(state: &mut State, req: &Request, wait: StorageWait) -> Handled {
    let user = identify(state, req).ok();
    let name = user.as_ref().map(|u| u.name.clone());
    let audit_id = audit_id(state, req);
    let response = match wait {
        StorageWait::Liveness => {
            let ctx = Ctx {
                audit_id,
                pretty: false,
                flow: Some(flow_uids(
                    user.as_ref().unwrap_or(&User::anonymous()),
                    "",
                    "",
                )),
                output: Output::default(),
            };
            let verbose = req.query_param("verbose").is_some();
            let (code, text) = health::answer(Check::Livez, verbose, state.health);
            let nosniff = [("X-Content-Type-Options".to_string(), "nosniff".to_string())];
            ctx.text(code, &text, &nosniff)
        }
        StorageWait::Write => {
            let (group, resource) = match route(&req.path) {
                Route::Resource { kind, .. } => (kind.resource().group, kind.resource().resource),
                _ => ("", ""),
            };
            let anonymous = User::anonymous();
            let ctx = Ctx {
                audit_id,
                pretty: wants_pretty(req),
                flow: Some(flow_uids(
                    user.as_ref().unwrap_or(&anonymous),
                    group,
                    resource,
                )),
                output: negotiate(req.header("Accept")),
            };
            ctx.error(&status::write_timeout())
        }
        // The timeout filter writes its own answer: no APF headers, no Content-Type (Go sniffs
        // text/plain), compact JSON whatever the client.
        StorageWait::Read => Response {
            status: 504,
            headers: vec![
                ("Audit-Id".to_string(), audit_id),
                ("Cache-Control".to_string(), "no-cache, private".to_string()),
            ],
            body: encode_compact(&status::request_timeout_body()),
            sniffed_type: Some("text/plain; charset=utf-8"),
            watch: None,
        },
    };
    Handled {
        response,
        user: name,
    }
}

//! The answers of injected faults (APF's 429, Status errors), framed like the apiserver's own.

use crate::auth::User;
use crate::message::{Handled, Request};
use crate::state::State;
use crate::status;

use super::authn::identify;
use super::negotiate::{negotiate, Output};
use super::respond::{audit_id, flow_uids, wants_pretty, Ctx};
use super::route::{route, Route};

/// The 43-byte plain-text 429 API Priority and Fairness answers with (recorded 16a).
pub fn apf_rejection(state: &mut State, req: &Request) -> Handled {
    let user = identify(state, req).ok();
    let audit_id = audit_id(state, req);
    let (group, resource) = match route(&req.path) {
        Route::Resource { kind, .. } => (kind.resource().group, kind.resource().resource),
        _ => ("", ""),
    };
    let anonymous = User::anonymous();
    let flow = flow_uids(user.as_ref().unwrap_or(&anonymous), group, resource);
    let ctx = Ctx {
        audit_id,
        pretty: false,
        flow: Some(flow),
        output: Output::default(),
    };
    let extra = [
        ("Retry-After".to_string(), "1".to_string()),
        ("X-Content-Type-Options".to_string(), "nosniff".to_string()),
    ];
    Handled {
        response: ctx.text(429, "Too many requests, please try again later.\n", &extra),
        user: user.map(|u| u.name),
    }
}

/// An injected Status error (500, 503, …), framed like the apiserver's own.
pub fn injected_error(state: &mut State, req: &Request, code: u16, retry: Option<u32>) -> Handled {
    let user = identify(state, req).ok();
    let anonymous = User::anonymous();
    let ctx = Ctx {
        audit_id: audit_id(state, req),
        pretty: wants_pretty(req),
        flow: Some(flow_uids(user.as_ref().unwrap_or(&anonymous), "", "")),
        output: negotiate(req.header("Accept")),
    };
    Handled {
        response: ctx.error(&status::injected(code, retry)),
        user: user.map(|u| u.name),
    }
}

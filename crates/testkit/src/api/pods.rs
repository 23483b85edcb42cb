//! Pods: none ever run on these nodes, but `kubectl describe node` lists the node's pods
//! (`/api/v1/pods?fieldSelector=spec.nodeName=…`, D04), so the collection answers an empty list.

use serde_json::json;

use crate::auth::{authorize, forbidden_message, Attributes, User};
use crate::message::{Request, Response};
use crate::state::State;
use crate::status::{self, ResourceName};

use super::respond::{flow_uids, Ctx};

const PODS: ResourceName<'static> = ResourceName {
    group: "",
    resource: "pods",
};

/// A list of no pods for a GET, 405 for anything else.
pub(super) fn answer(state: &State, req: &Request, user: &User, ctx: &mut Ctx) -> Response {
    ctx.flow = Some(flow_uids(user, PODS.group, PODS.resource));
    if req.method != "GET" || req.query_param("watch").is_some() {
        // guess: not recorded (watch and writes of pods are not served).
        return ctx.error(&status::method_not_allowed());
    }
    let namespace = namespace_of(&req.path);
    let attrs = Attributes {
        verb: "list",
        group: PODS.group,
        resource: PODS.resource,
        subresource: "",
        namespace,
        name: "",
        path: &req.path,
    };
    if let Err(reason) = authorize(&state.rbac, user, &attrs) {
        // guess: not recorded for pods; the wording is the authorizer's as for nodes (D18).
        let e = status::forbidden(PODS, "", &forbidden_message(user, &attrs, &reason));
        let nosniff = [("X-Content-Type-Options".to_string(), "nosniff".to_string())];
        return ctx.object(e.code, &e.body, &nosniff);
    }
    // guess: recorded only as protobuf (D04, 36 bytes); this is its JSON form.
    let body = json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": state.store.rv.to_string()},
        "items": [],
    });
    ctx.json(200, &body, &[])
}

/// The namespace of `/api/v1/namespaces/<ns>/pods`, "" for `/api/v1/pods`.
fn namespace_of(path: &str) -> &str {
    path.strip_prefix("/api/v1/namespaces/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
}

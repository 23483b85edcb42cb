//! ConfigMaps, of which the test server holds one: `kube-public/cluster-info` (kubeadm
//! discovery, B01), readable by `system:anonymous` through kubeadm's RoleBinding; any other
//! ConfigMap or a list is the authorizer's 403 for anonymous (B02, B03) and a 404 or an empty
//! list for those allowed.

use serde_json::{json, Value};

use crate::auth::{authorize, forbidden_message, Attributes, User};
use crate::message::{Request, Response};
use crate::state::State;
use crate::status::{self, ResourceName};

use super::respond::{flow_uids, Ctx};
use super::route;

const CONFIGMAPS: ResourceName<'static> = ResourceName {
    group: "",
    resource: "configmaps",
};

/// Answers `/api/v1/namespaces/<namespace>/configmaps[/<name>]`.
pub(super) fn answer(
    state: &State,
    req: &Request,
    user: &User,
    (namespace, name): (&str, &str),
    ctx: &mut Ctx,
) -> Response {
    ctx.flow = Some(flow_uids(user, CONFIGMAPS.group, CONFIGMAPS.resource));
    let watch = matches!(req.query_param("watch").as_deref(), Some("true" | "1"));
    let Some(verb) = route::verb(&req.method, name.is_empty(), watch) else {
        return ctx.error(&status::method_not_allowed());
    };
    let attrs = Attributes {
        verb,
        group: CONFIGMAPS.group,
        resource: CONFIGMAPS.resource,
        subresource: "",
        namespace,
        name,
        path: &req.path,
    };
    if let Err(reason) = authorize(&state.rbac, user, &attrs) {
        let e = status::forbidden(CONFIGMAPS, name, &forbidden_message(user, &attrs, &reason));
        let nosniff = [("X-Content-Type-Options".to_string(), "nosniff".to_string())];
        return ctx.object(e.code, &e.body, &nosniff);
    }
    let cluster_info = (namespace == "kube-public").then(|| state.cluster_info.render());
    match verb {
        "get" => match cluster_info.filter(|_| name == "cluster-info") {
            Some(body) => ctx.json(200, &body, &[]),
            None => ctx.error(&status::not_found(CONFIGMAPS, name)),
        },
        // guess: not recorded for a user allowed to list.
        "list" => {
            let items: Vec<Value> = cluster_info
                .into_iter()
                .map(|mut c| {
                    if let Value::Object(m) = &mut c {
                        m.shift_remove("kind");
                        m.shift_remove("apiVersion");
                    }
                    c
                })
                .collect();
            let body = json!({
                "kind": "ConfigMapList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": state.store.rv.to_string()},
                "items": items,
            });
            ctx.json(200, &body, &[])
        }
        // guess: writes are not emulated.
        _ => ctx.error(&status::method_not_allowed()),
    }
}

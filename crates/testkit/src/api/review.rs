//! "Who am I" and "may I": SelfSubjectReview (recorded-2 C01–C06) and SelfSubjectAccessReview
//! (C10–C42). Access reviews ask the same `auth::authorize` the real requests go through, so an
//! answer and the request it predicts cannot disagree. Nothing is stored.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::auth::{authorize, forbidden_message, Attributes, User};
use crate::clock::format_time;
use crate::fieldset::manager_from_user_agent;
use crate::json::parse;
use crate::message::{Request, Response};
use crate::state::State;
use crate::status::{self, ResourceName};

use super::respond::{flow_uids, Ctx};

/// The two self reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Review {
    /// `authentication.k8s.io/v1` `selfsubjectreviews`.
    Subject,
    /// `authorization.k8s.io/v1` `selfsubjectaccessreviews`.
    Access,
}

impl Review {
    fn resource(self) -> ResourceName<'static> {
        match self {
            Review::Subject => ResourceName {
                group: "authentication.k8s.io",
                resource: "selfsubjectreviews",
            },
            Review::Access => ResourceName {
                group: "authorization.k8s.io",
                resource: "selfsubjectaccessreviews",
            },
        }
    }
}

/// Answers a POST of a review (anything else: 405).
pub(super) fn answer(
    state: &State,
    req: &Request,
    now: SystemTime,
    user: &User,
    review: Review,
    ctx: &mut Ctx,
) -> Response {
    let r = review.resource();
    ctx.flow = Some(flow_uids(user, r.group, r.resource));
    if req.method != "POST" {
        // guess: not recorded (the resources are create-only).
        return ctx.error(&status::method_not_allowed());
    }
    let attrs = Attributes {
        verb: "create",
        group: r.group,
        resource: r.resource,
        subresource: "",
        namespace: "",
        name: "",
        path: &req.path,
    };
    if let Err(reason) = authorize(&state.rbac, user, &attrs) {
        let e = status::forbidden(r, "", &forbidden_message(user, &attrs, &reason));
        let nosniff = [("X-Content-Type-Options".to_string(), "nosniff".to_string())];
        return ctx.object(e.code, &e.body, &nosniff);
    }
    let body = match parse(&req.body) {
        Ok(v) => v,
        // guess: not recorded; the decoder's 400 wording is approximate.
        Err(e) => return ctx.error(&status::bad_request(&e)),
    };
    match review {
        Review::Subject => ctx.json(201, &subject_review(req, user, now), &[]),
        Review::Access => match access_review(state, req, user, &body, now) {
            Some(answer) => ctx.json(201, &answer, &[]),
            // guess: not recorded; the apiserver's validation wording.
            None => ctx.error(&status::invalid(
                "SelfSubjectAccessReview",
                r.group,
                "",
                &[status::FieldError::invalid(
                    "spec.resourceAttributes",
                    "null",
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )],
            )),
        },
    }
}

/// C01–C06: the user as the authenticator saw it. Static tokens carry a uid (the token file's),
/// bootstrap tokens and certificates none; certificates carry their credential-id.
fn subject_review(req: &Request, user: &User, now: SystemTime) -> Value {
    let (uid, extra) = uid_and_extra(req, user);
    let mut info = Map::new();
    info.insert("username".into(), user.name.clone().into());
    if let Some(uid) = uid {
        info.insert("uid".into(), uid.into());
    }
    info.insert("groups".into(), json!(user.groups));
    if let Some(extra) = extra {
        info.insert("extra".into(), extra);
    }
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": format_time(now)},
        "status": {"userInfo": Value::Object(info)},
    })
}

/// The uid and extra the authenticator attaches to `user`: static tokens carry a uid (the token
/// file's), bootstrap tokens and certificates none; certificates carry their credential-id
/// (C01–C06, and a CSR's `spec.uid`/`spec.extra`, A01/A16).
pub(super) fn uid_and_extra(req: &Request, user: &User) -> (Option<String>, Option<Value>) {
    let by_token = req.header("Authorization").is_some();
    let uid = (by_token && !user.name.starts_with("system:bootstrap:")).then(|| user.name.clone());
    let extra = match (by_token, &req.client_credential) {
        (false, Some(id)) => Some(json!({"authentication.kubernetes.io/credential-id": [id]})),
        _ => None,
    };
    (uid, extra)
}

/// `ResourceAttributes` in the Go struct's field order.
const ATTRIBUTE_FIELDS: [&str; 7] = [
    "namespace",
    "verb",
    "group",
    "version",
    "resource",
    "subresource",
    "name",
];

/// C10–C42: the decision of the authorizer chain for the asked attributes. `None` when the spec
/// names no resource attributes (non-resource reviews are not emulated).
fn access_review(
    state: &State,
    req: &Request,
    user: &User,
    body: &Value,
    now: SystemTime,
) -> Option<Value> {
    let asked = body.pointer("/spec/resourceAttributes")?.as_object()?;
    let field = |k: &str| asked.get(k).and_then(Value::as_str).unwrap_or("");
    let mut attributes = Map::new();
    for k in ATTRIBUTE_FIELDS {
        if !field(k).is_empty() {
            attributes.insert(k.into(), field(k).into());
        }
    }
    let attrs = Attributes {
        verb: field("verb"),
        group: field("group"),
        resource: field("resource"),
        subresource: field("subresource"),
        namespace: field("namespace"),
        name: field("name"),
        path: "",
    };
    let (allowed, reason) = match authorize(&state.rbac, user, &attrs) {
        Ok(reason) => (true, reason),
        Err(reason) => (false, reason),
    };
    let mut status = Map::new();
    status.insert("allowed".into(), allowed.into());
    if !reason.is_empty() {
        status.insert("reason".into(), reason.into());
    }
    // The create is an Update by the client's field manager: the spec fields it set, sorted.
    let mut owned = Map::new();
    owned.insert(".".into(), json!({}));
    let mut keys: Vec<&String> = attributes.keys().collect();
    keys.sort();
    for k in keys {
        owned.insert(format!("f:{k}"), json!({}));
    }
    let manager = manager_from_user_agent(req.header("User-Agent").unwrap_or(""));
    Some(json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"managedFields": [{
            "manager": manager,
            "operation": "Update",
            "apiVersion": "authorization.k8s.io/v1",
            "time": format_time(now),
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:resourceAttributes": Value::Object(owned)}},
        }]},
        "spec": {"resourceAttributes": Value::Object(attributes)},
        "status": Value::Object(status),
    }))
}

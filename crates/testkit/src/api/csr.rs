//! `certificates.k8s.io/v1` `certificatesigningrequests`: create, get, list and watch (with a
//! `metadata.name` field selector), delete and the `/approval` subresource (`kubectl certificate
//! approve`, in JSON or kubectl's protobuf). The apiserver's order: authorization (403 with nosniff), decoding (400),
//! NodeRestriction (a node may only ask for its own CN, A17: 403 without nosniff), validation
//! (422), existence (409); the create answers before the controllers act (A01: `status: {}`),
//! then they approve and sign at the same instant (A03).

use std::time::{Duration, SystemTime};

use base64::Engine;
use serde_json::{json, Value};

use crate::auth::{authorize, forbidden_message, Attributes, User};
use crate::csr::{NewCsr, Requester, Verdict};
use crate::fieldset::manager_from_user_agent;
use crate::json::{encode_compact, parse};
use crate::message::{Request, Response, WatchSpec};
use crate::signer::{self, KUBELET_CLIENT_SIGNER};
use crate::state::State;
use crate::status::{self, ApiError, FieldError, ResourceName};

use super::proto;
use super::respond::{flow_uids, Ctx};
use super::review::uid_and_extra;
use super::route;
use super::table;

const CSRS: ResourceName<'static> = ResourceName {
    group: "certificates.k8s.io",
    resource: "certificatesigningrequests",
};
const KIND: &str = "CertificateSigningRequest";

/// Answers a request for `/apis/certificates.k8s.io/v1/certificatesigningrequests[/name[/sub]]`.
pub(super) fn answer(
    state: &mut State,
    req: &Request,
    now: SystemTime,
    user: &User,
    (name, subresource): (&str, &str),
    ctx: &mut Ctx,
) -> Response {
    ctx.flow = Some(flow_uids(user, CSRS.group, CSRS.resource));
    let watch = matches!(req.query_param("watch").as_deref(), Some("true" | "1"));
    let Some(verb) = route::verb(&req.method, name.is_empty(), watch) else {
        return ctx.error(&status::method_not_allowed());
    };
    let attrs = Attributes {
        verb,
        group: CSRS.group,
        resource: CSRS.resource,
        subresource,
        namespace: "",
        name,
        path: &req.path,
    };
    if let Err(reason) = authorize(&state.rbac, user, &attrs) {
        let e = status::forbidden(CSRS, name, &forbidden_message(user, &attrs, &reason));
        let nosniff = [("X-Content-Type-Options".to_string(), "nosniff".to_string())];
        return ctx.object(e.code, &e.body, &nosniff);
    }
    let manager = req
        .query_param("fieldManager")
        .unwrap_or_else(|| manager_from_user_agent(req.header("User-Agent").unwrap_or("")));
    let result = match (verb, subresource) {
        ("create", "") => create(state, req, now, user, &manager),
        ("get", "") => state
            .csrs
            .get(name)
            .map(|c| (200, c.render(true)))
            .ok_or_else(|| status::not_found(CSRS, name)),
        ("list", "") => Ok((200, list(state, req))),
        ("update", "approval") => approval(state, req, now, name, &manager),
        // `kubectl delete csr`: the Status a Node's delete answers with (guess: not recorded for
        // a CSR).
        ("delete", "") => {
            let State { csrs, store, .. } = state;
            csrs.remove(name, &mut store.rv)
                .map(|uid| (200, status::deleted(CSRS, name, &uid)))
                .ok_or_else(|| status::not_found(CSRS, name))
        }
        ("watch", "") => {
            // guess: without timeoutSeconds the apiserver picks 30–60 min at random; 30 here.
            let timeout = req
                .query_param("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(1800);
            let after = req
                .query_param("resourceVersion")
                .and_then(|rv| rv.parse::<u64>().ok())
                .filter(|rv| *rv != 0);
            let mut head = ctx.json(200, &Value::Null, &[]);
            head.body.clear();
            head.watch = Some(WatchSpec {
                until: now + Duration::from_secs(timeout),
                after,
            });
            return head;
        }
        _ => Err(status::method_not_allowed()),
    };
    match result {
        Ok((code, body)) if table::wants_table(req.header("Accept")) => {
            let table = table::csr_table(&body, now);
            ctx.json(code, table.as_ref().unwrap_or(&body), &[])
        }
        Ok((code, body)) => ctx.json(code, &body, &[]),
        Err(e) => ctx.error(&e),
    }
}

/// The `metadata.name` a field selector asks for. guess: only `metadata.name=<name>` is
/// understood (what a client waiting for its CSR uses).
fn selected_name(req: &Request) -> Option<String> {
    let selector = req.query_param("fieldSelector").unwrap_or_default();
    selector
        .strip_prefix("metadata.name=")
        .map(|n| n.trim_start_matches('=').to_string())
}

/// The encoded events of a CSR watch after `after` (A05: one JSON object and a newline each).
pub(super) fn watch_events(
    state: &State,
    req: &Request,
    after: Option<u64>,
) -> (Vec<Vec<u8>>, u64) {
    let only = selected_name(req);
    let events = state
        .csrs
        .events(after, |name| only.as_deref().is_none_or(|n| n == name));
    (events.iter().map(encode_compact).collect(), state.store.rv)
}

fn list(state: &State, req: &Request) -> Value {
    let only = selected_name(req);
    let items: Vec<Value> = state
        .csrs
        .all()
        .filter(|c| only.as_deref().is_none_or(|n| c.name == n))
        .map(|c| c.render(false))
        .collect();
    json!({
        "kind": "CertificateSigningRequestList",
        "apiVersion": "certificates.k8s.io/v1",
        "metadata": {"resourceVersion": state.store.rv.to_string()},
        "items": items,
    })
}

fn create(
    state: &mut State,
    req: &Request,
    now: SystemTime,
    user: &User,
    manager: &str,
) -> Result<(u16, Value), ApiError> {
    // guess: not recorded; the decoder's 400 wording is approximate.
    let body = parse(&req.body).map_err(|e| status::bad_request(&e))?;
    let meta_str = |f: &str| body["metadata"][f].as_str().unwrap_or("").to_string();
    let (mut name, generate_name) = (meta_str("name"), meta_str("generateName"));
    let spec = &body["spec"];
    let request_b64 = spec["request"].as_str().unwrap_or("").to_string();
    let request = base64::engine::general_purpose::STANDARD
        .decode(&request_b64)
        .map_err(|e| status::bad_request(&format!("illegal base64 data in spec.request: {e}")))?;
    let signer_name = spec["signerName"].as_str().unwrap_or("").to_string();
    let usages: Vec<String> = spec["usages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let expiration_seconds = spec["expirationSeconds"].as_u64();
    let parsed = signer::parse_request(&request);
    // NodeRestriction: a node may only ask the kubelet signer for its own name (A17).
    if let (Some(node), KUBELET_CLIENT_SIGNER) = (user.node_name(), signer_name.as_str()) {
        let why = match &parsed {
            Err(e) => Some(format!("unable to parse csr: {e}")),
            Ok(r) if r.common_name != format!("system:node:{node}") => Some(format!(
                "can only create a node CSR with CN=system:node:{node}"
            )),
            Ok(_) => None,
        };
        if let Some(why) = why {
            return Err(status::forbidden(CSRS, &name, &why));
        }
    }
    validate(
        &name,
        &generate_name,
        &request,
        &parsed,
        &signer_name,
        &usages,
        expiration_seconds,
    )?;
    if name.is_empty() {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let suffix: String = (0..5)
            .map(|_| ALPHABET[(state.rng.next_u64() % ALPHABET.len() as u64) as usize] as char)
            .collect();
        name = format!("{generate_name}{suffix}");
    }
    if state.csrs.get(&name).is_some() {
        return Err(status::already_exists(CSRS, &name));
    }
    let (uid, extra) = uid_and_extra(req, user);
    let requester = Requester {
        username: user.name.clone(),
        uid,
        groups: user.groups.clone(),
        extra,
    };
    let new = NewCsr {
        name: name.clone(),
        generate_name,
        request: request_b64,
        signer_name,
        expiration_seconds,
        usages,
        manager: manager.to_string(),
    };
    let object_uid = state.rng.uuid();
    state.store.rv += 1;
    let rv = state.store.rv;
    state.csrs.insert(new, requester, object_uid, rv, now);
    let created = state
        .csrs
        .get(&name)
        .map(|c| c.render(true))
        .ok_or_else(|| status::not_found(CSRS, &name))?;
    // The controllers see the new CSR at once (A03: approved and issued within the second).
    state.settle(now);
    Ok((201, created))
}

/// guess: the apiserver's validation wording (no invalid CSR was recorded).
fn validate(
    name: &str,
    generate_name: &str,
    request: &[u8],
    parsed: &Result<signer::Request, String>,
    signer_name: &str,
    usages: &[String],
    expiration_seconds: Option<u64>,
) -> Result<(), ApiError> {
    let mut errs = Vec::new();
    if name.is_empty() && generate_name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    if let Err(e) = parsed {
        let bytes: Vec<String> = request.iter().map(|b| format!("{b:#x}")).collect();
        errs.push(FieldError {
            kind: "FieldValueInvalid",
            field: "spec.request".into(),
            body: format!("Invalid value: []byte{{{}}}: {e}", bytes.join(", ")),
        });
    }
    if signer_name.is_empty() {
        errs.push(FieldError::required("spec.signerName", ""));
    }
    if usages.is_empty() {
        errs.push(FieldError::required(
            "spec.usages",
            "usages must be provided",
        ));
    }
    if let Some(s) = expiration_seconds.filter(|s| *s < 600) {
        errs.push(FieldError {
            kind: "FieldValueInvalid",
            field: "spec.expirationSeconds".into(),
            body: format!(
                "Invalid value: {s}: may not specify a duration less than 600 seconds (10 minutes)"
            ),
        });
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(status::invalid(KIND, CSRS.group, name, &errs))
    }
}

/// PUT `/approval` with an `Approved` or `Denied` condition in `status.conditions`, as kubectl
/// sends it. guess: not recorded.
fn approval(
    state: &mut State,
    req: &Request,
    now: SystemTime,
    name: &str,
    manager: &str,
) -> Result<(u16, Value), ApiError> {
    let protobuf = req
        .header("Content-Type")
        .is_some_and(|t| t.starts_with("application/vnd.kubernetes.protobuf"));
    let body = if protobuf {
        // guess: not recorded; the decoder's 400 wording is approximate.
        proto::csr_conditions(&req.body)
            .ok_or_else(|| status::bad_request("unable to decode the protobuf body"))?
    } else {
        parse(&req.body).map_err(|e| status::bad_request(&e))?
    };
    if state.csrs.get(name).is_none() {
        return Err(status::not_found(CSRS, name));
    }
    let asked = body["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| matches!(c["type"].as_str(), Some("Approved" | "Denied")));
    if let Some(c) = asked {
        let approve = c["type"] == "Approved";
        let text = |f: &str| c[f].as_str().unwrap_or("").to_string();
        let State { csrs, store, .. } = state;
        let (reason, message) = (text("reason"), text("message"));
        let verdict = Verdict {
            approve,
            reason: &reason,
            message: &message,
        };
        csrs.decide(name, &verdict, manager, &mut store.rv, now);
    }
    let answer = state.csrs.get(name).map(|c| c.render(true));
    state.settle(now);
    answer
        .map(|a| (200, a))
        .ok_or_else(|| status::not_found(CSRS, name))
}

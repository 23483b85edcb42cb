//! How every answer is framed before HTTP: audit id, JSON or text body (compact, or indented for
//! curl-like clients), `Cache-Control`, and the API Priority and Fairness headers.

use serde_json::Value;

use crate::auth::User;
use crate::json::{encode_compact, encode_pretty};
use crate::message::{Request, Response};
use crate::state::State;
use crate::status::ApiError;

use super::negotiate::{Output, PROTOBUF};
use super::pb;

/// APF flow schema and priority level uids, as recorded (node traffic on nodes/leases is
/// `system-node-high`, other node traffic `system-nodes`, admins `exempt`).
pub(super) fn flow_uids(user: &User, group: &str, resource: &str) -> (&'static str, &'static str) {
    if user.is_admin() {
        (
            "1b5219a9-c6b8-47a0-8484-95c9847ee5fb",
            "781c2836-25db-4ecd-888f-f18d46c2af2f",
        )
    } else if user.node_name().is_some() {
        if (group, resource) == ("", "nodes")
            || (group, resource) == ("coordination.k8s.io", "leases")
        {
            (
                "30346d99-8f72-4cdf-ac52-29a76bd3b667",
                "8a94a7ee-a717-4cc4-8919-e26d491c6ac7",
            )
        } else {
            (
                "4f4a4ead-586b-460b-9cd4-99509f86334e",
                "12637c56-5bce-41ba-9dbd-b2ae8ffb3bad",
            )
        }
    } else if user.is_authenticated() {
        // global-default
        (
            "0425aa84-8b71-420e-bdb6-b6cfafcb6714",
            "f2b539e3-0630-402b-bd6a-63a0ba786303",
        )
    } else {
        // catch-all (not recorded; fixed made-up uids)
        (
            "6a2bf7b5-2b65-4c5d-9e1c-5d5c1c0b7c01",
            "9b0f3a27-04a2-4c83-a7f4-4d1b1b0a9c02",
        )
    }
}

/// Per-request answer formatting: audit id, pretty printing, APF headers.
pub(super) struct Ctx {
    pub(super) audit_id: String,
    pub(super) pretty: bool,
    pub(super) flow: Option<(&'static str, &'static str)>,
    /// What the client's `Accept` negotiates ([`super::negotiate::negotiate`]).
    pub(super) output: Output,
}

impl Ctx {
    pub(super) fn json(&self, code: u16, body: &Value, extra: &[(String, String)]) -> Response {
        let mut headers = vec![
            ("Audit-Id".to_string(), self.audit_id.clone()),
            ("Cache-Control".to_string(), "no-cache, private".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        if let Some((fs, pl)) = self.flow {
            headers.push(("X-Kubernetes-Pf-Flowschema-Uid".to_string(), fs.to_string()));
            headers.push((
                "X-Kubernetes-Pf-Prioritylevel-Uid".to_string(),
                pl.to_string(),
            ));
        }
        headers.extend(extra.iter().cloned());
        let body = if self.pretty {
            encode_pretty(body)
        } else {
            encode_compact(body)
        };
        Response {
            status: code,
            headers,
            body,
            sniffed_type: None,
            watch: None,
        }
    }

    /// An object or a `Status` in the negotiated encoding: protobuf when the client asked for it
    /// and the test server can encode the kind ([`pb::encode`]), else JSON.
    ///
    /// guess: errors in protobuf are not recorded. kube-apiserver writes every Status through
    /// `responsewriters.ErrorNegotiated`, i.e. in the encoding the request negotiated, so a
    /// client that asked protobuf gets a protobuf Status (the authentication and authorization
    /// filters' 401 and 403 included). APF's 429 stays plain text (recorded 16a).
    pub(super) fn object(&self, code: u16, body: &Value, extra: &[(String, String)]) -> Response {
        if self.output.protobuf {
            if let Some(bytes) = pb::encode(body) {
                let mut r = self.json(code, &Value::Null, extra);
                for h in r.headers.iter_mut() {
                    if h.0 == "Content-Type" {
                        h.1 = PROTOBUF.to_string();
                    }
                }
                r.body = bytes;
                return r;
            }
        }
        self.json(code, body, extra)
    }

    pub(super) fn error(&self, e: &ApiError) -> Response {
        self.object(e.code, &e.body, &e.headers)
    }

    pub(super) fn text(&self, code: u16, text: &str, extra: &[(String, String)]) -> Response {
        let mut r = self.json(code, &Value::Null, extra);
        for h in r.headers.iter_mut() {
            if h.0 == "Content-Type" {
                h.1 = "text/plain; charset=utf-8".to_string();
            }
        }
        r.body = text.as_bytes().to_vec();
        r
    }
}

pub(super) fn audit_id(state: &mut State, req: &Request) -> String {
    req.header("Audit-Id")
        .map(str::to_string)
        .unwrap_or_else(|| state.rng.uuid())
}

pub(super) fn wants_pretty(req: &Request) -> bool {
    if let Some(p) = req.query_param("pretty") {
        return p == "true" || p == "1";
    }
    let ua = req.header("User-Agent").unwrap_or("");
    ua.starts_with("curl") || ua.starts_with("Wget") || ua.starts_with("Mozilla/5.0")
}

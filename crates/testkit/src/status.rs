//! `metav1.Status` answers, worded and ordered as the apiserver writes them.

use serde_json::{json, Map, Value};

/// An error answer: HTTP code plus the Status body (and extra headers, e.g. `Retry-After`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code (also `code` in the body).
    pub code: u16,
    /// The Status object.
    pub body: Value,
    /// Headers besides the standard ones, e.g. `X-Content-Type-Options` for authorizer denials.
    pub headers: Vec<(String, String)>,
}

/// What a resource is called in messages and `details`.
#[derive(Debug, Clone, Copy)]
pub struct ResourceName<'a> {
    /// API group (`""` for core).
    pub group: &'a str,
    /// Plural resource, e.g. `nodes`.
    pub resource: &'a str,
}

impl ResourceName<'_> {
    /// `nodes`, `leases.coordination.k8s.io`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

fn failure(code: u16, message: &str, reason: &str, details: Option<Value>) -> ApiError {
    let mut m = Map::new();
    m.insert("kind".into(), "Status".into());
    m.insert("apiVersion".into(), "v1".into());
    m.insert("metadata".into(), json!({}));
    m.insert("status".into(), "Failure".into());
    if !message.is_empty() {
        m.insert("message".into(), message.into());
    }
    if !reason.is_empty() {
        m.insert("reason".into(), reason.into());
    }
    if let Some(d) = details {
        m.insert("details".into(), d);
    }
    m.insert("code".into(), code.into());
    ApiError {
        code,
        body: Value::Object(m),
        headers: Vec::new(),
    }
}

/// `StatusDetails` in field order: name, group, kind, uid, causes, retryAfterSeconds.
pub fn details(name: &str, group: &str, kind: &str, uid: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), name.into());
    }
    if !group.is_empty() {
        d.insert("group".into(), group.into());
    }
    if !kind.is_empty() {
        d.insert("kind".into(), kind.into());
    }
    if !uid.is_empty() {
        d.insert("uid".into(), uid.into());
    }
    Value::Object(d)
}

/// 404 `nodes "x" not found`.
pub fn not_found(r: ResourceName<'_>, name: &str) -> ApiError {
    failure(
        404,
        &format!("{} \"{name}\" not found", r.qualified()),
        "NotFound",
        Some(details(name, r.group, r.resource, "")),
    )
}

/// 404 for paths the apiserver has no handler for.
pub fn no_such_resource() -> ApiError {
    failure(
        404,
        "the server could not find the requested resource",
        "NotFound",
        Some(json!({})),
    )
}

/// 409 `nodes "x" already exists`.
pub fn already_exists(r: ResourceName<'_>, name: &str) -> ApiError {
    failure(
        409,
        &format!("{} \"{name}\" already exists", r.qualified()),
        "AlreadyExists",
        Some(details(name, r.group, r.resource, "")),
    )
}

/// 409 for a stale `resourceVersion`.
pub fn conflict(r: ResourceName<'_>, name: &str) -> ApiError {
    failure(
        409,
        &format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            r.qualified()
        ),
        "Conflict",
        Some(details(name, r.group, r.resource, "")),
    )
}

/// 403 from admission or the authorizer: `nodes "x" is forbidden: <why>`.
pub fn forbidden(r: ResourceName<'_>, name: &str, why: &str) -> ApiError {
    let message = if r.resource.is_empty() {
        format!("forbidden: {why}")
    } else if name.is_empty() {
        format!("{} is forbidden: {why}", r.qualified())
    } else {
        format!("{} \"{name}\" is forbidden: {why}", r.qualified())
    };
    failure(
        403,
        &message,
        "Forbidden",
        Some(details(name, r.group, r.resource, "")),
    )
}

/// 401 for an unknown or revoked bearer token.
pub fn unauthorized() -> ApiError {
    failure(401, "Unauthorized", "Unauthorized", None)
}

/// 400 BadRequest without details.
pub fn bad_request(message: &str) -> ApiError {
    failure(400, message, "BadRequest", None)
}

/// 415 for a PATCH with a content type that is not a patch type.
pub fn unsupported_patch_type() -> ApiError {
    failure(
        415,
        "415: Unsupported Media Type",
        "UnsupportedMediaType",
        Some(json!({})),
    )
}

/// 415 for a body in a format the server cannot decode.
pub fn unsupported_body_type(content_type: &str) -> ApiError {
    failure(
        415,
        &format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/cbor (content type {content_type:?})"),
        "UnsupportedMediaType",
        Some(json!({})),
    )
}

/// 405.
pub fn method_not_allowed() -> ApiError {
    failure(
        405,
        "the server does not allow this method on the requested resource",
        "MethodNotAllowed",
        Some(json!({})),
    )
}

/// 406 for an `Accept` header without JSON.
pub fn not_acceptable() -> ApiError {
    failure(
        406,
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/cbor",
        "NotAcceptable",
        None,
    )
}

/// One entry of `details.causes` for a 422.
#[derive(Debug, Clone)]
pub struct FieldError {
    /// `FieldValueInvalid`, `FieldValueRequired`, …
    pub kind: &'static str,
    /// Field path, e.g. `metadata.name`.
    pub field: String,
    /// The error body, e.g. `Invalid value: "x": must be …`.
    pub body: String,
}

impl FieldError {
    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        FieldError {
            kind: "FieldValueInvalid",
            field: field.to_string(),
            body: format!(
                "Invalid value: {}: {detail}",
                Value::String(value.to_string())
            ),
        }
    }

    /// `field.NotSupported(path, value, supported)`: `value` already rendered (C55: `["true"]`).
    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> Self {
        let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            kind: "FieldValueNotSupported",
            field: field.to_string(),
            body: format!(
                "Unsupported value: {value}: supported values: {}",
                quoted.join(", ")
            ),
        }
    }

    /// `field.Required(path, detail)`.
    pub fn required(field: &str, detail: &str) -> Self {
        FieldError {
            kind: "FieldValueRequired",
            field: field.to_string(),
            body: if detail.is_empty() {
                "Required value".to_string()
            } else {
                format!("Required value: {detail}")
            },
        }
    }
}

/// 422 Invalid: `Node "x" is invalid: metadata.name: Invalid value: …`.
pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let joined: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.body))
        .collect();
    // GroupKind.String(): `Node`, `CreateOptions.meta.k8s.io` (C55).
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let summary = if joined.len() == 1 {
        joined[0].clone()
    } else {
        format!("[{}]", joined.join(", "))
    };
    let mut d = match details(name, group, kind, "") {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    d.insert(
        "causes".into(),
        Value::Array(
            errors
                .iter()
                .map(|e| json!({"reason": e.kind, "message": e.body, "field": e.field}))
                .collect(),
        ),
    );
    failure(
        422,
        &format!("{qualified} \"{name}\" is invalid: {summary}"),
        "Invalid",
        Some(Value::Object(d)),
    )
}

/// A Status for an injected server error (500, 503, 504 or any other code).
pub fn injected(code: u16, retry_after: Option<u32>) -> ApiError {
    let mut d = Map::new();
    let (message, reason) = match code {
        500 => {
            d.insert(
                "causes".into(),
                json!([{"message": "injected by picokubelet-testkit"}]),
            );
            (
                "Internal error occurred: injected by picokubelet-testkit".to_string(),
                "InternalError",
            )
        }
        503 => (
            "the server is currently unable to handle the request".to_string(),
            "ServiceUnavailable",
        ),
        504 => (
            "Timeout: request did not complete within requested timeout - context deadline exceeded"
                .to_string(),
            "Timeout",
        ),
        429 => (
            "the server has received too many requests and has asked us to try again later"
                .to_string(),
            "TooManyRequests",
        ),
        other => (format!("injected HTTP {other}"), "InternalError"),
    };
    if let Some(s) = retry_after {
        d.insert("retryAfterSeconds".into(), s.into());
    }
    let mut e = failure(code, &message, reason, Some(Value::Object(d)));
    if let Some(s) = retry_after {
        e.headers.push(("Retry-After".into(), s.to_string()));
    }
    e
}

/// 504 for a write etcd did not commit in time (recorded G3j, G3l: after 34.5 s).
pub fn write_timeout() -> ApiError {
    failure(
        504,
        "Timeout: request did not complete within requested timeout - context deadline exceeded",
        "Timeout",
        Some(json!({})),
    )
}

/// The body the apiserver's request-timeout filter answers with (recorded G3k: a read after
/// 60.5 s): a Status without `kind` and `apiVersion`.
pub fn request_timeout_body() -> Value {
    let mut body = failure(
        504,
        "Timeout: request did not complete within the allotted timeout",
        "Timeout",
        Some(json!({})),
    )
    .body;
    if let Some(m) = body.as_object_mut() {
        m.shift_remove("kind");
        m.shift_remove("apiVersion");
    }
    body
}

/// The `Status` a DELETE answers with: Success plus the deleted object's name, kind and uid.
pub fn deleted(r: ResourceName<'_>, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details(name, r.group, r.resource, uid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_the_recordings() {
        let nodes = ResourceName {
            group: "",
            resource: "nodes",
        };
        let leases = ResourceName {
            group: "coordination.k8s.io",
            resource: "leases",
        };
        assert_eq!(
            serde_json::to_string(&already_exists(nodes, "esp-node-01").body).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes \"esp-node-01\" already exists","reason":"AlreadyExists","details":{"name":"esp-node-01","kind":"nodes"},"code":409}"#
        );
        assert_eq!(
            serde_json::to_string(&not_found(leases, "esp-node-01").body).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"leases.coordination.k8s.io \"esp-node-01\" not found","reason":"NotFound","details":{"name":"esp-node-01","group":"coordination.k8s.io","kind":"leases"},"code":404}"#
        );
        assert_eq!(
            serde_json::to_string(&unauthorized().body).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
    }
}

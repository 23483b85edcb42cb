//! Decoding create and update bodies (415, then 400 with the apiserver's wording).

use serde_json::Value;

use crate::json::parse;
use crate::message::Request;
use crate::schema::normalize;
use crate::status::{self, ApiError};

use super::op::Op;

/// The request's media type, lowercase, without parameters.
pub(super) fn media_type(req: &Request) -> String {
    req.header("Content-Type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn summarize(body: &[u8]) -> String {
    match body.first() {
        None => "<empty>".to_string(),
        Some(b'{') if body.len() > 30 => format!("{} ...", String::from_utf8_lossy(&body[..30])),
        Some(b'{') => String::from_utf8_lossy(body).into_owned(),
        Some(_) => {
            let hex: String = body.iter().take(30).map(|b| format!("{b:02x}")).collect();
            if body.len() > 30 {
                format!("{hex} ...")
            } else {
                hex
            }
        }
    }
}

/// Drops `metadata.managedFields` (the server owns them).
pub(super) fn strip_managed(v: &mut Value) {
    if let Some(Value::Object(m)) = v.get_mut("metadata") {
        m.shift_remove("managedFields");
    }
}

impl Op<'_> {
    /// Decodes a create/update body: 415, then 400 with the apiserver's wording.
    pub(super) fn decode_body(&self, req: &Request) -> Result<Value, ApiError> {
        let ct = media_type(req);
        if !(ct.is_empty() || ct == "application/json" || ct == "*/*") {
            return Err(status::unsupported_body_type(&ct));
        }
        let kind = self.kind.kind();
        let unrecognized = |why: &str| {
            status::bad_request(&format!(
                "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: {why} ({})",
                summarize(&req.body)
            ))
        };
        let raw = parse(&req.body).map_err(|e| unrecognized(&e))?;
        if !raw.is_object() {
            let what = match raw {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            };
            return Err(unrecognized(&format!(
                "json: cannot unmarshal {what} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}"
            )));
        }
        let version = self.kind.api_version().rsplit('/').next().unwrap_or("v1");
        if let Some(av) = raw.get("apiVersion").and_then(Value::as_str) {
            if av != self.kind.api_version() {
                return Err(status::bad_request(&format!(
                    "the API version in the data ({av}) does not match the expected API version ({})",
                    self.kind.api_version()
                )));
            }
        }
        if let Some(k) = raw.get("kind").and_then(Value::as_str) {
            if k != kind {
                return Err(status::bad_request(&format!(
                    "the kind in the data ({k}) does not match the expected kind ({kind})"
                )));
            }
        }
        let mut v = normalize(&raw, self.kind.def()).map_err(|e| {
            status::bad_request(&format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
                e.0
            ))
        })?;
        strip_managed(&mut v);
        Ok(v)
    }
}

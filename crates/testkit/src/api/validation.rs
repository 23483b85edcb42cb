//! Validation (422): object names, lease durations, taint effects, events.

use serde_json::Value;

use crate::status::{ApiError, FieldError};
use crate::store::{self, Kind};

use super::op::Op;

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b.first().is_some_and(|c| *c != b'-')
                && b.last().is_some_and(|c| *c != b'-')
        })
}

fn name_errors(name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )];
    }
    let mut errs = Vec::new();
    if name.len() > 253 {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be no more than 253 characters",
        ));
    }
    if !is_dns_subdomain(name) {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ));
    }
    errs
}

impl Op<'_> {
    /// Every validation error of `body` named `name`, as one 422.
    pub(super) fn validate(&self, name: &str, body: &Value) -> Result<(), ApiError> {
        let mut errs = name_errors(name);
        match self.kind {
            Kind::Lease => {
                if let Some(d) = body
                    .pointer("/spec/leaseDurationSeconds")
                    .and_then(Value::as_i64)
                {
                    if d <= 0 {
                        errs.push(FieldError::invalid(
                            "spec.leaseDurationSeconds",
                            &d.to_string(),
                            "must be greater than 0",
                        ));
                    }
                }
            }
            Kind::Event | Kind::EventV1 => errs.extend(self.event_errors(body)),
            Kind::Node => {
                for (i, t) in body
                    .pointer("/spec/taints")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
                        errs.push(FieldError {
                            kind: "FieldValueNotSupported",
                            field: format!("spec.taints[{i}].effect"),
                            body: format!(
                                "Unsupported value: {}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                                Value::String(effect.to_string())
                            ),
                        });
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(self.invalid(name, &errs))
        }
    }

    /// Event validation (`legacyValidateEvent`), on the core form.
    fn event_errors(&self, view_body: &Value) -> Vec<FieldError> {
        let core = if self.kind == Kind::EventV1 {
            store::v1_to_core(view_body)
        } else {
            view_body.clone()
        };
        let s = |p: &str| core.pointer(p).and_then(Value::as_str).unwrap_or("");
        let ns = self.namespace;
        let involved_ns = s("/involvedObject/namespace");
        let mut errs = Vec::new();
        let mismatch = || {
            FieldError::invalid(
                "involvedObject.namespace",
                involved_ns,
                "does not match event.namespace",
            )
        };
        if core.get("eventTime").is_none_or(Value::is_null) {
            if involved_ns.is_empty() {
                if !ns.is_empty() && ns != "default" {
                    errs.push(mismatch());
                }
            } else if ns != involved_ns {
                errs.push(mismatch());
            }
        } else {
            if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
                errs.push(mismatch());
            }
            let controller_field = if self.kind == Kind::Event {
                "reportingComponent"
            } else {
                "reportingController"
            };
            for (field, value) in [
                (controller_field, s("/reportingComponent")),
                ("reportingInstance", s("/reportingInstance")),
                ("action", s("/action")),
                ("reason", s("/reason")),
            ] {
                if value.is_empty() {
                    errs.push(FieldError::required(field, ""));
                }
            }
        }
        errs
    }
}

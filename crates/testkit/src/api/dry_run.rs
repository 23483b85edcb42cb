//! `?dryRun=`: only `All` is valid (C55's 422 for `true`); a dry-run create runs authorization,
//! admission and validation and answers what it would have stored (C50–C54).

use crate::message::Request;
use crate::status::{self, ApiError, FieldError};

/// Whether the request is a dry run; a 422 for any value but `All`.
pub(super) fn requested(req: &Request, verb: &str) -> Result<bool, ApiError> {
    let Some(value) = req.query_param("dryRun") else {
        return Ok(false);
    };
    if value != "All" {
        let options = match verb {
            "create" => "CreateOptions",
            "update" => "UpdateOptions",
            "patch" => "PatchOptions",
            "delete" | "deletecollection" => "DeleteOptions",
            // guess: not recorded; reads take no dryRun and the apiserver ignores it.
            _ => return Ok(false),
        };
        let detail = format!("[\"{value}\"]");
        return Err(status::invalid(
            options,
            "meta.k8s.io",
            "",
            &[FieldError::not_supported("dryRun", &detail, &["All"])],
        ));
    }
    match verb {
        "create" => Ok(true),
        "get" | "list" | "watch" => Ok(false),
        // guess: not emulated; refused rather than silently written.
        _ => Err(status::bad_request(&format!(
            "the test server emulates dryRun=All for create only, not for {verb}"
        ))),
    }
}

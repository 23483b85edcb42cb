//! One resource operation after routing and authorization: what it acts on, who asks, and how
//! its writes are stamped. The verbs are `impl Op` blocks in `read`, `write`, `decode`,
//! `admission` and `validation`.

use serde_json::Value;

use crate::auth::User;
use crate::status::{self, ApiError, FieldError};
use crate::store::{key, Kind, Writer};

pub(super) struct Op<'a> {
    pub(super) kind: Kind,
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    pub(super) subresource: &'a str,
    pub(super) user: &'a User,
    /// `?dryRun=All`: admission and validation run, nothing is stored.
    pub(super) dry_run: bool,
    pub(super) writer: Writer<'a>,
}

/// A status code and body, or the Status error to answer with.
pub(super) type Answer = Result<(u16, Value), ApiError>;

impl Op<'_> {
    /// The storage key of the named object.
    pub(super) fn key(&self) -> String {
        key(self.namespace, self.name)
    }

    /// A 422 for `name` with these causes.
    pub(super) fn invalid(&self, name: &str, errs: &[FieldError]) -> ApiError {
        status::invalid(self.kind.kind(), self.kind.resource().group, name, errs)
    }
}

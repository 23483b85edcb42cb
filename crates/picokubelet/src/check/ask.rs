//! The questions `check` (and `run` at start) put to the API server, over the core's
//! [`ApiClient`]: who am I (SelfSubjectReview), may I (SelfSubjectAccessReview), would this
//! registration be accepted (a server-side dry run). Nothing here changes the cluster.

use embedded_io_async::{Read, Write};
use picokubelet_core::client::{ApiClient, ApiRequest, ClientError, Reply};
use picokubelet_core::json::extract::{Path, Scalar, Step, VisitFn};
use picokubelet_core::json::writer::JsonError;
use picokubelet_core::k8s::body_error::BodyError;
use picokubelet_core::k8s::paths::{Accept, ApiPath, ContentType, Method};
use picokubelet_core::k8s::response::StatusResponse;
use picokubelet_core::runtime::Clock;

/// What the server answered to a question: its status, and its `Status` object for ≥ 400.
#[derive(Clone, Debug)]
pub struct Answer<T> {
    pub reply: Reply,
    /// The parsed success body.
    pub value: T,
    /// The server's `Status` for a failure.
    pub failure: StatusResponse,
}

/// The credentials as the server sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub groups: Vec<String>,
}

impl Identity {
    /// The node name of a `system:node:<name>` identity in `system:nodes`.
    pub fn node_name(&self) -> Option<&str> {
        if self.groups.iter().any(|g| g == "system:nodes") {
            self.username.strip_prefix("system:node:")
        } else {
            None
        }
    }
}

/// One request a SelfSubjectAccessReview asks about (`resourceAttributes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// The authorizer's decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The authorizer's reason (the Node authorizer gives one; RBAC denials give none).
    pub reason: String,
}

fn text(value: Scalar<'_>) -> String {
    value
        .text()
        .and_then(|t| t.complete().map(str::to_owned))
        .unwrap_or_default()
}

async fn ask<S, C, T>(
    client: &mut ApiClient<'_, S, C>,
    method: Method,
    path: ApiPath<'_>,
    body: &[u8],
    mut value: T,
    mut read: impl FnMut(&mut T, &Path<'_>, Scalar<'_>),
) -> Result<Answer<T>, ClientError>
where
    S: Read + Write,
    C: Clock,
{
    let req = ApiRequest {
        method,
        path,
        content_type: Some(ContentType::Json),
        accept: Accept::Json,
    };
    let write = |out: &mut [u8]| -> Result<usize, BodyError> {
        let dst = out
            .get_mut(..body.len())
            .ok_or(BodyError::Json(JsonError::BufferFull {
                needed: body.len(),
            }))?;
        dst.copy_from_slice(body);
        Ok(body.len())
    };
    let reply = {
        let mut visitor =
            VisitFn(|path: &Path<'_>, scalar: Scalar<'_>| read(&mut value, path, scalar));
        client.exchange(&req, write, &mut visitor).await?
    };
    Ok(Answer {
        reply,
        value,
        failure: client.failure().clone(),
    })
}

/// SelfSubjectReview: who the credentials are.
pub async fn who_am_i<S: Read + Write, C: Clock>(
    client: &mut ApiClient<'_, S, C>,
) -> Result<Answer<Identity>, ClientError> {
    const BODY: &[u8] = br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;
    ask(
        client,
        Method::Post,
        ApiPath::SelfSubjectReviews,
        BODY,
        Identity::default(),
        |id, path, value| {
            if path.is(&["status", "userInfo", "username"]) {
                id.username = text(value);
            } else if path.matches(&[
                Step::Key("status"),
                Step::Key("userInfo"),
                Step::Key("groups"),
                Step::AnyIndex,
            ]) {
                id.groups.push(text(value));
            }
        },
    )
    .await
}

/// The JSON of a SelfSubjectAccessReview for `attrs` (empty attributes left out, as kubectl).
pub fn access_review_body(attrs: &Attributes<'_>) -> String {
    let fields = [
        ("namespace", attrs.namespace),
        ("verb", attrs.verb),
        ("group", attrs.group),
        ("resource", attrs.resource),
        ("subresource", attrs.subresource),
        ("name", attrs.name),
    ];
    let inner: Vec<String> = fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k:?}:{v:?}"))
        .collect();
    format!(
        r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{{"resourceAttributes":{{{}}}}}}}"#,
        inner.join(",")
    )
}

/// SelfSubjectAccessReview: would the request `attrs` be allowed.
pub async fn may_i<S: Read + Write, C: Clock>(
    client: &mut ApiClient<'_, S, C>,
    attrs: &Attributes<'_>,
) -> Result<Answer<Decision>, ClientError> {
    let body = access_review_body(attrs);
    ask(
        client,
        Method::Post,
        ApiPath::SelfSubjectAccessReviews,
        body.as_bytes(),
        Decision::default(),
        |d, path, value| {
            if path.is(&["status", "allowed"]) {
                d.allowed = matches!(value, Scalar::Bool(true));
            } else if path.is(&["status", "reason"]) {
                d.reason = text(value);
            }
        },
    )
    .await
}

/// A server-side dry run of a create at `path` (`NodesDryRun`, `LeasesDryRun`): the uid the
/// server would give the object.
pub async fn dry_run_create<S: Read + Write, C: Clock>(
    client: &mut ApiClient<'_, S, C>,
    path: ApiPath<'_>,
    body: &[u8],
) -> Result<Answer<String>, ClientError> {
    ask(
        client,
        Method::Post,
        path,
        body,
        String::new(),
        |uid, path, value| {
            if path.is(&["metadata", "uid"]) {
                *uid = text(value);
            }
        },
    )
    .await
}

/// A create at `path` (stored, unlike [`dry_run_create`]): the server's answer and its
/// `Status` on failure; the created object is not read.
pub async fn create<S: Read + Write, C: Clock>(
    client: &mut ApiClient<'_, S, C>,
    path: ApiPath<'_>,
    body: &[u8],
) -> Result<Answer<()>, ClientError> {
    ask(client, Method::Post, path, body, (), |_, _, _| {}).await
}

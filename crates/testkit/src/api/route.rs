//! Routing: which endpoint or resource (kind, namespace, name, subresource) a path names.

use crate::message::percent_decode;
use crate::store::Kind;

use super::review::Review;

/// The health endpoints served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// `/readyz`: ready to serve (fails once a shutdown has begun).
    Readyz,
    /// `/livez`: alive (fails while etcd does not answer).
    Livez,
}

/// The API verb of a method on a collection (`name` empty) or an object.
pub(super) fn verb(method: &str, collection: bool, watch: bool) -> Option<&'static str> {
    Some(match (method, collection) {
        ("GET", false) => "get",
        ("GET", true) if watch => "watch",
        ("GET", true) => "list",
        ("POST", true) => "create",
        ("PUT", false) => "update",
        ("PATCH", false) => "patch",
        ("DELETE", false) => "delete",
        ("DELETE", true) => "deletecollection",
        _ => return None,
    })
}

/// What a path names.
pub(super) enum Route {
    Version,
    /// `/api` (`false`) or `/apis` (`true`): discovery roots.
    DiscoveryRoot(bool),
    /// `/readyz` or `/livez`.
    Health(Check),
    Discovery,
    /// SelfSubjectReview or SelfSubjectAccessReview.
    Review(Review),
    Resource {
        kind: Kind,
        namespace: String,
        name: String,
        subresource: String,
    },
    /// `/api/v1/pods` or `/api/v1/namespaces/<ns>/pods`: no pods ever run on these nodes.
    Pods,
    /// CertificateSigningRequests: name (empty for the collection) and subresource.
    Csr {
        name: String,
        subresource: String,
    },
    /// ConfigMaps of a namespace: namespace and name (empty for the collection).
    ConfigMap {
        namespace: String,
        name: String,
    },
    /// Secrets of a namespace: namespace and name (empty for the collection).
    Secret {
        namespace: String,
        name: String,
    },
    UnknownApi,
    NotFound,
}

/// Routes a path (without the query).
pub(super) fn route(path: &str) -> Route {
    let parts: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    let res = |kind, ns: &str, rest: &[&str]| -> Route {
        match rest {
            [name] if !name.is_empty() => Route::Resource {
                kind,
                namespace: ns.to_string(),
                name: name.to_string(),
                subresource: String::new(),
            },
            [name, sub] if !name.is_empty() && kind == Kind::Node && *sub == "status" => {
                Route::Resource {
                    kind,
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    subresource: sub.to_string(),
                }
            }
            [] => Route::Resource {
                kind,
                namespace: ns.to_string(),
                name: String::new(),
                subresource: String::new(),
            },
            _ => Route::UnknownApi,
        }
    };
    match p.as_slice() {
        ["version"] | ["version", ""] => Route::Version,
        ["readyz"] | ["readyz", ""] => Route::Health(Check::Readyz),
        ["livez"] | ["livez", ""] => Route::Health(Check::Livez),
        ["api"] => Route::DiscoveryRoot(false),
        ["apis"] => Route::DiscoveryRoot(true),
        ["api", "v1"] => Route::Discovery,
        ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] => {
            Route::Review(Review::Subject)
        }
        ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] => {
            Route::Review(Review::Access)
        }
        ["api", "v1", "nodes", rest @ ..] => res(Kind::Node, "", rest),
        ["api", "v1", "events"] => res(Kind::Event, "", &[]),
        ["api", "v1", "pods"] => Route::Pods,
        ["apis", "certificates.k8s.io", "v1", "certificatesigningrequests", rest @ ..] => {
            match rest {
                [] => Route::Csr {
                    name: String::new(),
                    subresource: String::new(),
                },
                [name] if !name.is_empty() => Route::Csr {
                    name: name.to_string(),
                    subresource: String::new(),
                },
                [name, sub] if !name.is_empty() && matches!(*sub, "approval" | "status") => {
                    Route::Csr {
                        name: name.to_string(),
                        subresource: sub.to_string(),
                    }
                }
                _ => Route::UnknownApi,
            }
        }
        ["api", "v1", "namespaces", ns, "configmaps", rest @ ..] if !ns.is_empty() => match rest {
            [] => Route::ConfigMap {
                namespace: ns.to_string(),
                name: String::new(),
            },
            [name] if !name.is_empty() => Route::ConfigMap {
                namespace: ns.to_string(),
                name: name.to_string(),
            },
            _ => Route::UnknownApi,
        },
        ["api", "v1", "namespaces", ns, "secrets", rest @ ..] if !ns.is_empty() => match rest {
            [] => Route::Secret {
                namespace: ns.to_string(),
                name: String::new(),
            },
            [name] if !name.is_empty() => Route::Secret {
                namespace: ns.to_string(),
                name: name.to_string(),
            },
            _ => Route::UnknownApi,
        },
        ["api", "v1", "namespaces", ns, "pods"] if !ns.is_empty() => Route::Pods,
        ["api", "v1", "namespaces", ns, "events", rest @ ..] if !ns.is_empty() => {
            res(Kind::Event, ns, rest)
        }
        ["apis", "events.k8s.io", "v1", "namespaces", ns, "events", rest @ ..]
            if !ns.is_empty() =>
        {
            res(Kind::EventV1, ns, rest)
        }
        ["apis", "coordination.k8s.io", "v1", "namespaces", ns, "leases", rest @ ..]
            if !ns.is_empty() =>
        {
            res(Kind::Lease, ns, rest)
        }
        ["api", ..] | ["apis", ..] => Route::UnknownApi,
        _ => Route::NotFound,
    }
}

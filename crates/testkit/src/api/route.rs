//! Routing: which endpoint or resource (kind, namespace, name, subresource) a path names.

use crate::message::percent_decode;
use crate::store::Kind;

/// What a path names.
pub(super) enum Route {
    Version,
    Discovery,
    Resource {
        kind: Kind,
        namespace: String,
        name: String,
        subresource: String,
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
        ["api", "v1"] => Route::Discovery,
        ["api", "v1", "nodes", rest @ ..] => res(Kind::Node, "", rest),
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

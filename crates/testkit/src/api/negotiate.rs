//! Which encoding the answer gets: the apiserver's output negotiation
//! (`negotiation.NegotiateOutputMediaType`) reduced to the one question the test server has, "does
//! this client get protobuf?".
//!
//! kube-apiserver sorts the `Accept` clauses as goautoneg does (higher `q` first, then concrete
//! types before `type/*` before `*/*`, otherwise in the order sent) and takes the first clause one
//! of its serializers matches: `application/json`, `application/yaml`,
//! `application/vnd.kubernetes.protobuf`, `application/cbor`. So kubectl's and kubelet's
//! `application/vnd.kubernetes.protobuf,application/json` gets protobuf (recorded-2 D04, D07),
//! `application/vnd.kubernetes.protobuf` alone gets protobuf (E02, E09), and `*/*`, an empty or a
//! missing `Accept` get JSON.

/// The media type of a Kubernetes protobuf answer (E02's `Content-Type`).
pub(crate) const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Whether the clause the apiserver would pick for `accept` is plain protobuf.
///
/// A protobuf clause with a conversion (`;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`, E04) is
/// skipped: the test server does not convert objects into protobuf views, and the clauses after
/// it decide as before.
pub(crate) fn wants_protobuf(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let mut clauses: Vec<Clause<'_>> = accept.split(',').filter_map(Clause::parse).collect();
    // Stable, as Go's insertion sort is for the few clauses a client sends.
    clauses.sort_by(|a, b| {
        b.q.partial_cmp(&a.q)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.wildcards.cmp(&b.wildcards))
    });
    for clause in clauses {
        if clause.q <= 0.0 {
            continue;
        }
        let json_like = matches!(
            (clause.kind, clause.subtype),
            ("*", "*")
                | ("application", "*")
                | ("application", "json")
                | ("application", "yaml")
                | ("application", "cbor")
        );
        if (clause.kind, clause.subtype) == ("application", "vnd.kubernetes.protobuf") {
            if clause.converts {
                continue;
            }
            return true;
        }
        if json_like {
            return false;
        }
    }
    false
}

struct Clause<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: f64,
    /// 0 for `type/sub`, 1 for `type/*`, 2 for `*/*`.
    wildcards: u8,
    /// An `as=` parameter asks for a converted view of the object.
    converts: bool,
}

impl<'a> Clause<'a> {
    fn parse(range: &'a str) -> Option<Self> {
        let mut parts = range.split(';').map(str::trim);
        let (kind, subtype) = parts.next()?.split_once('/')?;
        let mut q = 1.0;
        let mut converts = false;
        for param in parts {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.trim() {
                "q" => q = value.trim().parse().unwrap_or(0.0),
                "as" => converts = true,
                _ => {}
            }
        }
        let wildcards = u8::from(kind == "*") + u8::from(subtype == "*");
        Some(Clause {
            kind,
            subtype,
            q,
            wildcards,
            converts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_clause_decides() {
        for (accept, protobuf) in [
            (None, false),
            (Some(""), false),
            (Some("application/json"), false),
            (Some("*/*"), false),
            // E02 / E09, and kubectl's and kubelet's list (D04, D07).
            (Some(PROTOBUF), true),
            (Some("application/vnd.kubernetes.protobuf,application/json"), true),
            (Some("application/json, application/vnd.kubernetes.protobuf"), false),
            // Concrete types sort before wildcards, whatever the order sent.
            (Some("*/*, application/vnd.kubernetes.protobuf"), true),
            (Some("application/vnd.kubernetes.protobuf, */*"), true),
            (Some("application/vnd.kubernetes.protobuf;q=0.5, application/json"), false),
            (Some("application/vnd.kubernetes.protobuf;q=0, application/json"), false),
            // A conversion the test server cannot encode: the next clause decides.
            (
                Some("application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"),
                false,
            ),
            (Some("text/html, application/vnd.kubernetes.protobuf"), true),
            (Some("garbage"), false),
        ] {
            assert_eq!(wants_protobuf(accept), protobuf, "{accept:?}");
        }
    }
}

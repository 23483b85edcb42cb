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

/// What the answer is: its encoding and whether only the object's metadata is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Output {
    /// Kubernetes protobuf (else JSON).
    pub(crate) protobuf: bool,
    /// `;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`: a single object is answered as a
    /// `meta.k8s.io/v1` PartialObjectMetadata holding only its `metadata` (E03 in JSON, E04 in
    /// protobuf).
    pub(crate) metadata_only: bool,
}

/// The output the apiserver would pick for `accept`.
///
/// Of the conversions (`as=`), PartialObjectMetadata v1 is the one handled here; `as=Table` is the
/// table module's (and answers JSON); a protobuf clause with any other conversion is skipped, and
/// the clauses after it decide.
pub(crate) fn negotiate(accept: Option<&str>) -> Output {
    let Some(accept) = accept else {
        return Output::default();
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
        let metadata_only = clause.converts_to == Some(Conversion::PartialObjectMetadata);
        if (clause.kind, clause.subtype) == ("application", "vnd.kubernetes.protobuf") {
            if clause.converts_to.is_some() && !metadata_only {
                continue;
            }
            return Output {
                protobuf: true,
                metadata_only,
            };
        }
        if json_like {
            return Output {
                protobuf: false,
                metadata_only: metadata_only
                    && (clause.kind, clause.subtype) == ("application", "json"),
            };
        }
    }
    Output::default()
}

/// `body` as the PartialObjectMetadata view (E03's shape) when it is a single object; lists and
/// Status answers are left whole (not as the real server for lists, which answers a
/// PartialObjectMetadataList; nothing here asks for one).
pub(crate) fn metadata_view(body: &serde_json::Value) -> Option<serde_json::Value> {
    let kind = body.get("kind")?.as_str()?;
    if kind == "Status" || kind.ends_with("List") {
        return None;
    }
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), "PartialObjectMetadata".into());
    out.insert("apiVersion".into(), "meta.k8s.io/v1".into());
    out.insert("metadata".into(), body.get("metadata")?.clone());
    Some(serde_json::Value::Object(out))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conversion {
    PartialObjectMetadata,
    Other,
}

struct Clause<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: f64,
    /// 0 for `type/sub`, 1 for `type/*`, 2 for `*/*`.
    wildcards: u8,
    /// An `as=` parameter asks for a converted view of the object.
    converts_to: Option<Conversion>,
}

impl<'a> Clause<'a> {
    fn parse(range: &'a str) -> Option<Self> {
        let mut parts = range.split(';').map(str::trim);
        let (kind, subtype) = parts.next()?.split_once('/')?;
        let mut q = 1.0;
        let (mut view, mut group, mut version) = (None, "", "");
        for param in parts {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.trim() {
                "q" => q = value.trim().parse().unwrap_or(0.0),
                "as" => view = Some(value.trim()),
                "g" => group = value.trim(),
                "v" => version = value.trim(),
                _ => {}
            }
        }
        let converts_to = view.map(|view| {
            if (view, group, version) == ("PartialObjectMetadata", "meta.k8s.io", "v1") {
                Conversion::PartialObjectMetadata
            } else {
                Conversion::Other
            }
        });
        let wildcards = u8::from(kind == "*") + u8::from(subtype == "*");
        Some(Clause {
            kind,
            subtype,
            q,
            wildcards,
            converts_to,
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
            // A conversion the apiserver does not serve: the next clause decides.
            (
                Some("application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v2,application/json"),
                false,
            ),
            (Some("text/html, application/vnd.kubernetes.protobuf"), true),
            (Some("garbage"), false),
        ] {
            assert_eq!(negotiate(accept).protobuf, protobuf, "{accept:?}");
        }
    }

    #[test]
    fn partial_object_metadata_is_a_view_in_either_encoding() {
        let out = |p, m| Output {
            protobuf: p,
            metadata_only: m,
        };
        for (accept, want) in [
            // E03, E04.
            (
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
                out(false, true),
            ),
            (
                "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
                out(true, true),
            ),
            (
                "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,*/*",
                out(true, true),
            ),
            // v1beta1 is not served here: the next clause decides.
            (
                "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1,application/json",
                out(false, false),
            ),
            ("application/json;as=Table;g=meta.k8s.io;v=v1", out(false, false)),
        ] {
            assert_eq!(negotiate(Some(accept)), want, "{accept}");
        }
    }
}

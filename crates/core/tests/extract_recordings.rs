//! The typed response extractors on the bodies recorded from kube-apiserver v1.36.2
//! (testdata/k8s, see its README): exact values, and the same result in any chunking.
//!
//! curl stored chunked bodies already decoded; `de_chunk` below still handles a framed body, and
//! a test re-frames recorded bodies to check it, since the real decoder lives elsewhere.

use picokubelet_core::conditions::{ConditionStatus, ConditionType};
use picokubelet_core::json::extract::{extract, ErrorKind, ExtractError, Extractor, Visitor};
use picokubelet_core::k8s::response::{
    LeaseResponse, NodeResponse, ObjectMeta, StatusResponse, VersionResponse, MESSAGE_LEN,
};
use picokubelet_core::k8s::taint::TaintEffect;
use picokubelet_core::time::{parse_rfc3339, UnixMicros};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/k8s");

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes `Transfer-Encoding: chunked` framing (sizes in hex, extensions ignored, trailers
/// skipped). Test-only: trusts its input.
fn de_chunk(mut framed: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = find(framed, b"\r\n").expect("chunk size line");
        let line = std::str::from_utf8(&framed[..eol]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        framed = &framed[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&framed[..size]);
        assert_eq!(&framed[size..size + 2], b"\r\n");
        framed = &framed[size + 2..];
    }
}

fn looks_chunked(body: &[u8]) -> bool {
    find(body, b"\r\n").is_some_and(|eol| {
        let size = body[..eol].split(|b| *b == b';').next().unwrap_or(&[]);
        !size.is_empty() && size.iter().all(u8::is_ascii_hexdigit)
    })
}

/// Every response in a capture file (some hold several from one kept-alive connection).
fn responses(file: &str) -> Vec<Response> {
    let raw = std::fs::read(format!("{ROOT}/{file}.response.http"))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut rest = &raw[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let head_end = find(rest, b"\r\n\r\n").expect("end of head");
        let head = std::str::from_utf8(&rest[..head_end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        rest = &rest[head_end + 4..];
        let length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse::<usize>().unwrap());
        let body = match length {
            Some(n) if n <= rest.len() => {
                let b = rest[..n].to_vec();
                rest = &rest[n..];
                b
            }
            // Chunked (stored decoded) or a headers-only capture: up to the next response.
            _ => {
                let end = find(rest, b"HTTP/1.1 ").unwrap_or(rest.len());
                let b = rest[..end].to_vec();
                rest = &rest[end..];
                if looks_chunked(&b) {
                    de_chunk(&b)
                } else {
                    b
                }
            }
        };
        out.push(Response {
            status,
            headers,
            body,
        });
    }
    out
}

fn body(file: &str) -> Vec<u8> {
    let mut all = responses(file);
    assert_eq!(all.len(), 1, "{file}");
    all.pop().unwrap().body
}

/// Runs `V` over `body` whole, byte by byte and in a few other chunkings; all must agree.
fn run<V: Visitor + Default + PartialEq + std::fmt::Debug>(
    body: &[u8],
) -> (V, Result<(), ExtractError>) {
    let mut v = V::default();
    let result = extract(body, &mut v);
    for size in [1, 2, 3, 7, 64, 1000] {
        let mut w = V::default();
        let mut ex: Extractor = Extractor::new();
        let mut r = Ok(());
        for chunk in body.chunks(size) {
            r = ex.feed(chunk, &mut w);
            if r.is_err() {
                break;
            }
        }
        if r.is_ok() {
            r = ex.finish(&mut w);
        }
        assert_eq!(r, result, "chunk size {size}");
        assert_eq!(w, v, "chunk size {size}");
    }
    (v, result)
}

fn parsed<V: Visitor + Default + PartialEq + std::fmt::Debug>(file: &str) -> V {
    let (v, result) = run::<V>(&body(file));
    assert_eq!(result, Ok(()), "{file}");
    v
}

fn t(s: &str) -> UnixMicros {
    parse_rfc3339(s.as_bytes()).unwrap()
}

const NODE_UID: &str = "3478a007-cc90-4afa-8d33-6973abfdb2b8";

#[test]
fn node_gone_unknown_12b() {
    let node: NodeResponse = parsed("recorded-compact/12b-get-node-unknown");
    assert!(!node.malformed && !node.meta.malformed);
    assert_eq!(node.meta.kind, "Node");
    assert_eq!(node.meta.name, "esp-node-01");
    assert_eq!(node.meta.uid, NODE_UID);
    assert_eq!(node.meta.resource_version, "676");

    let ready = node.condition(ConditionType::Ready).unwrap();
    assert_eq!(ready.status, Some(ConditionStatus::Unknown));
    assert_eq!(ready.last_transition, Some(t("2026-11-24T13:05:07Z")));
    for kind in [
        ConditionType::MemoryPressure,
        ConditionType::DiskPressure,
        ConditionType::PIDPressure,
    ] {
        let c = node.condition(kind).unwrap();
        assert_eq!(c.status, Some(ConditionStatus::Unknown), "{kind:?}");
        assert_eq!(c.last_transition, Some(t("2026-11-24T13:05:07Z")));
    }
    // The controller leaves custom conditions alone.
    let vibes = node.condition(ConditionType::Vibes).unwrap();
    assert_eq!(vibes.status, Some(ConditionStatus::True));
    assert_eq!(vibes.last_transition, Some(t("2026-11-24T13:04:15Z")));
    assert_eq!(node.conditions().count(), 5);
    assert_eq!(node.condition(ConditionType::Haunted), None);

    assert!(node.has_microcontroller_taint());
    assert!(node.has_taint("node.kubernetes.io/unreachable", TaintEffect::NoSchedule));
    assert!(!node.has_taint("node.kubernetes.io/unreachable", TaintEffect::NoExecute));
    assert_eq!(node.taints().count(), 2);

    assert_eq!(node.labels.hostname.as_ref().unwrap(), "esp-node-01");
    assert_eq!(node.labels.arch.as_ref().unwrap(), "xtensa");
    assert_eq!(node.labels.os.as_ref().unwrap(), "none");
    assert_eq!(node.labels.instance_type, None);
    assert_eq!(node.boot_id, "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f");
    assert_eq!(node.internal_ip.as_ref().unwrap(), "127.0.0.1");
    assert_eq!(node.hostname_address.as_ref().unwrap(), "esp-node-01");
}

#[test]
fn node_created_01_has_the_servers_not_ready_taint() {
    let node: NodeResponse = parsed("recorded-compact/01-post-node-201");
    assert_eq!(node.meta.resource_version, "652");
    assert_eq!(node.meta.uid, NODE_UID);
    assert!(node.has_microcontroller_taint());
    assert!(node.has_taint("node.kubernetes.io/not-ready", TaintEffect::NoSchedule));
    let ready = node.condition(ConditionType::Ready).unwrap();
    assert_eq!(ready.status, Some(ConditionStatus::True));
    assert_eq!(ready.last_transition, Some(t("2026-11-24T13:04:12Z")));
    assert_eq!(node.conditions().count(), 4);
}

#[test]
fn node_recovered_12f_lost_the_unreachable_taint_but_not_the_unknowns() {
    let node: NodeResponse = parsed("recorded-compact/12f-get-node-after-10s");
    assert_eq!(node.meta.resource_version, "681");
    assert_eq!(node.taints().count(), 1);
    assert!(node.has_microcontroller_taint());
    let ready = node.condition(ConditionType::Ready).unwrap();
    assert_eq!(ready.status, Some(ConditionStatus::True));
    assert_eq!(ready.last_transition, Some(t("2026-11-24T13:05:16Z")));
    let mem = node.condition(ConditionType::MemoryPressure).unwrap();
    assert_eq!(mem.status, Some(ConditionStatus::Unknown));
}

#[test]
fn pretty_printed_node_09_reads_the_same_way() {
    let node: NodeResponse = parsed("recorded/09-patch-node-status-strategic-merge");
    assert_eq!(node.meta.uid, "e5039559-8a36-49e4-bdda-72690a6ee3cc");
    assert_eq!(node.meta.resource_version, "297");
    assert_eq!(node.labels.arch.as_ref().unwrap(), "amd64");
    assert_eq!(node.taints().count(), 0);
    assert!(!node.has_microcontroller_taint());
    assert_eq!(node.boot_id, "");
    let ready = node.condition(ConditionType::Ready).unwrap();
    assert_eq!(ready.last_transition, Some(t("2026-11-24T12:37:32Z")));
}

#[test]
fn lease_created_04() {
    let lease: LeaseResponse = parsed("recorded-compact/04-post-lease-201");
    assert!(!lease.malformed && !lease.meta.malformed);
    assert_eq!(lease.meta.kind, "Lease");
    assert_eq!(lease.meta.name, "esp-node-01");
    assert_eq!(lease.meta.uid, "772a7431-b951-464d-8475-ee31f6de7318");
    assert_eq!(lease.meta.resource_version, "656");
    assert_eq!(lease.holder_identity, "esp-node-01");
    assert_eq!(lease.lease_duration_seconds, Some(40));
    assert_eq!(
        lease.renew_time,
        Some(t("2026-11-24T13:04:13Z").saturating_add_micros(8_661))
    );
    assert_eq!(lease.owner_uid, NODE_UID);
}

#[test]
fn lease_renewals_and_padded_leases() {
    for (file, rv, renew) in [
        (
            "recorded-compact/05-patch-lease-merge-200",
            "657",
            "2026-11-24T13:04:14.040789Z",
        ),
        (
            "recorded-compact/06-put-lease-200",
            "658",
            "2026-11-24T13:04:15.187597Z",
        ),
        (
            "recorded-compact/12d-patch-lease-renew",
            "679",
            "2026-11-24T13:05:15.996286Z",
        ),
        (
            "recorded-compact/13a-get-lease-before-delete",
            "695",
            "2026-11-24T13:05:15.996286Z",
        ),
        (
            "recorded-compact/15g-headers-lease-body-2048",
            "692",
            "2026-11-24T13:05:15.996286Z",
        ),
        (
            "recorded-compact/15h-headers-lease-body-2049",
            "694",
            "2026-11-24T13:05:15.996286Z",
        ),
        (
            "recorded/11-get-lease",
            "294",
            "2026-11-24T12:37:32.734209Z",
        ),
    ] {
        let lease: LeaseResponse = parsed(file);
        assert_eq!(lease.meta.resource_version, rv, "{file}");
        assert_eq!(lease.renew_time, Some(t(renew)), "{file}");
        assert_eq!(lease.lease_duration_seconds, Some(40), "{file}");
        assert!(!lease.malformed, "{file}");
    }
}

#[test]
fn status_409_already_exists_02() {
    let s: StatusResponse = parsed("recorded-compact/02-post-node-again-409");
    assert!(s.is_status());
    assert_eq!(s.status, "Failure");
    assert_eq!(s.code, Some(409));
    assert_eq!(s.reason, "AlreadyExists");
    assert_eq!(s.message, r#"nodes "esp-node-01" already exists"#);
    assert_eq!(s.details_name, "esp-node-01");
    assert_eq!(s.details_kind, "nodes");
    assert!(!s.malformed);
}

#[test]
fn status_403_forbidden_label_02b() {
    let s: StatusResponse = parsed("recorded-compact/02b-post-node-forbidden-label-403");
    assert_eq!(s.code, Some(403));
    assert_eq!(s.reason, "Forbidden");
    assert_eq!(
        s.message,
        r#"nodes "esp-node-01" is forbidden: node "esp-node-01" is not allowed to set the following labels: node-role.kubernetes.io/edge"#
    );
    assert_eq!(s.details_name, "esp-node-01");
}

#[test]
fn status_400_malformed_json_14a_14c() {
    let s: StatusResponse = parsed("recorded-compact/14a-patch-malformed-json-400");
    assert_eq!(s.code, Some(400));
    assert_eq!(s.reason, "BadRequest");
    assert_eq!(
        s.message,
        "error decoding patch: unexpected end of JSON input"
    );
    assert_eq!(s.details_name, "");

    let s: StatusResponse = parsed("recorded-compact/14c-post-malformed-json-400");
    assert_eq!(s.code, Some(400));
    assert_eq!(s.reason, "BadRequest");
    // Escaped quotes inside the message come out decoded.
    assert_eq!(
        s.message,
        r#"the object provided is unrecognized (must be of type Node): couldn't get version/kind; json parse error: unexpected end of JSON input ({"apiVersion":"v1","kind":"Nod ...)"#
    );
}

#[test]
fn status_422_invalid_name_14e_has_a_cut_message() {
    let s: StatusResponse = parsed("recorded-compact/14e-post-invalid-name-as-admin-422");
    assert_eq!(s.code, Some(422));
    assert_eq!(s.reason, "Invalid");
    assert_eq!(s.details_name, "ESP_Node");
    assert_eq!(s.details_kind, "Node");
    assert!(s.message.is_truncated());
    assert_eq!(s.message.len(), MESSAGE_LEN);
    assert!(s
        .message
        .as_str()
        .starts_with(r#"Node "ESP_Node" is invalid: metadata.name: Invalid value: "ESP_Node": a lowercase RFC 1123"#));
    // The causes' own messages and reasons do not leak into the top-level fields.
    assert!(!s.malformed);
}

#[test]
fn status_415_unsupported_media_type_14f() {
    let s: StatusResponse = parsed("recorded-compact/14f-patch-unsupported-content-type-415");
    assert_eq!(s.code, Some(415));
    assert_eq!(s.reason, "UnsupportedMediaType");
    assert_eq!(s.message, "415: Unsupported Media Type");
    assert_eq!((s.details_name.as_str(), s.details_kind.as_str()), ("", ""));
}

#[test]
fn status_success_without_code_13b_and_401_pretty() {
    let s: StatusResponse = parsed("recorded-compact/13b-delete-node-admin");
    assert!(s.is_status());
    assert_eq!(s.status, "Success");
    assert_eq!(s.code, None);
    assert_eq!(s.details_kind, "nodes");

    let s: StatusResponse = parsed("recorded/03-bad-token-401");
    assert_eq!(s.code, Some(401));
    assert_eq!(s.reason, "Unauthorized");
    assert_eq!(s.message, "Unauthorized");
}

#[test]
fn plain_text_429_16a_is_a_clean_error() {
    let all = responses("recorded-compact/16a-probe-under-pressure");
    let r = &all[0];
    assert_eq!(r.status, 429);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let (s, result) = run::<StatusResponse>(&r.body);
    assert_eq!(
        result,
        Err(ExtractError {
            offset: 0,
            kind: ErrorKind::UnexpectedByte(b'T')
        })
    );
    assert_eq!(s, StatusResponse::default(), "no garbage values");
}

#[test]
fn version_01_and_the_first_keepalive_response() {
    let v: VersionResponse = parsed("recorded/01-get-version");
    assert_eq!(v.git_version, "v1.36.2");
    assert_eq!(v.major, "1");
    assert_eq!(v.minor, "36");
    let all = responses("recorded-compact/10-keepalive-3-requests");
    assert_eq!(all.len(), 3);
    let (v2, result) = run::<VersionResponse>(&all[0].body);
    assert_eq!(result, Ok(()));
    assert_eq!(v2, v);
    let (lease, result) = run::<LeaseResponse>(&all[1].body);
    assert_eq!(result, Ok(()));
    assert_eq!(lease.owner_uid, NODE_UID);
    let (node, result) = run::<NodeResponse>(&all[2].body);
    assert_eq!(result, Ok(()));
    assert!(node.has_microcontroller_taint());
}

fn all_files() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["recorded-compact", "recorded", "recorded/http2"] {
        for e in std::fs::read_dir(format!("{ROOT}/{dir}")).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".response.http") {
                out.push(format!("{dir}/{stem}"));
            }
        }
    }
    out.sort();
    assert!(out.len() > 60);
    out
}

/// Every JSON body parses, every Status code matches its HTTP status, every Node and Lease has
/// its identity, and nothing is malformed.
#[test]
fn every_recorded_json_body() {
    let mut counts = [0; 4];
    for file in all_files() {
        for r in responses(&file) {
            let json = r.header("content-type") == Some("application/json");
            let (meta, result) = run::<ObjectMeta>(&r.body);
            if !json || r.body.starts_with(b"# body bytes") {
                assert!(result.is_err(), "{file}: not JSON, yet accepted");
                continue;
            }
            assert_eq!(result, Ok(()), "{file}");
            assert!(!meta.malformed, "{file}");
            match meta.kind.as_str() {
                "Status" => {
                    let (s, _) = run::<StatusResponse>(&r.body);
                    assert!(!s.malformed, "{file}");
                    if s.status == "Failure" {
                        assert_eq!(s.code, Some(r.status), "{file}");
                        assert!(!s.reason.is_empty(), "{file}");
                    }
                    counts[0] += 1;
                }
                "Node" => {
                    let (n, _) = run::<NodeResponse>(&r.body);
                    assert!(!n.malformed, "{file}");
                    assert_eq!(n.meta.uid.len(), 36, "{file}");
                    assert!(!n.meta.resource_version.is_empty(), "{file}");
                    // The first recorded set created its Node without status or taint.
                    let full = file.starts_with("recorded-compact");
                    assert!(
                        !full || n.condition(ConditionType::Ready).is_some(),
                        "{file}"
                    );
                    assert_eq!(n.has_microcontroller_taint(), full, "{file}");
                    assert!(n.conditions().all(|c| c.status.is_some()), "{file}");
                    assert!(
                        n.conditions().all(|c| c.last_transition.is_some()),
                        "{file}"
                    );
                    assert_eq!(n.labels.hostname.as_ref().unwrap(), "esp-node-01", "{file}");
                    counts[1] += 1;
                }
                "Lease" => {
                    let (l, _) = run::<LeaseResponse>(&r.body);
                    assert!(!l.malformed, "{file}");
                    assert!(l.renew_time.is_some(), "{file}");
                    assert_eq!(
                        l.owner_uid.len() == 36,
                        file.starts_with("recorded-compact")
                    );
                    counts[2] += 1;
                }
                _ => counts[3] += 1,
            }
        }
    }
    // Status, Node, Lease, other (version, events, discovery)
    assert!(counts.iter().all(|&c| c >= 5), "{counts:?}");
}

#[test]
fn chunk_framed_bodies_decode_to_the_same_values() {
    let plain = body("recorded-compact/12b-get-node-unknown");
    // Frame it as the server would (uneven chunk sizes, an extension, a trailer-free end).
    let mut framed = Vec::new();
    let mut rest = &plain[..];
    for size in [1usize, 0x7f, 2048].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = (*size).min(rest.len());
        framed.extend_from_slice(format!("{n:x};ext=1\r\n").as_bytes());
        framed.extend_from_slice(&rest[..n]);
        framed.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    framed.extend_from_slice(b"0\r\n\r\n");
    assert!(looks_chunked(&framed));
    assert!(!looks_chunked(&plain));
    assert_eq!(de_chunk(&framed), plain);
    let (a, _) = run::<NodeResponse>(&de_chunk(&framed));
    let (b, _) = run::<NodeResponse>(&plain);
    assert_eq!(a, b);
}

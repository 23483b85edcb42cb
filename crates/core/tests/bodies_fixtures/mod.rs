//! Shared inputs for the body tests: a sample board, the worst case each builder allows, and
//! the recordings.
#![allow(dead_code)] // each test binary uses a different part

use std::net::Ipv4Addr;
use std::path::PathBuf;

use picokubelet_core::conditions::{Condition, ConditionStatus, ConditionType};
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::node::{
    NodeProfile, Resources, MAX_CONDITION_MESSAGE_LEN, MAX_CONDITION_REASON_LEN, MAX_EXTRA_LABELS,
    MAX_INFO_TEXT_LEN, MAX_QUANTITY_LEN,
};
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::k8s::taint::{Taint, TaintEffect};
use picokubelet_core::time::{parse_rfc3339, UnixMicros};

pub const SAMPLE_NAME: &str = "esp32s3-eth-a1b2c3d4";
pub const SAMPLE_MAC: [u8; 6] = [0x24, 0x0a, 0xa1, 0xb2, 0xc3, 0xd4];
pub const SAMPLE_BOOT: [u8; 16] = [
    0x7f, 0x1c, 0x2d, 0x3e, 0x4b, 0x5a, 0x4c, 0x6d, 0x8e, 0x9f, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f,
];
pub const RECORDED_NODE_UID: &str = "3478a007-cc90-4afa-8d33-6973abfdb2b8";

pub fn at(text: &str) -> UnixMicros {
    parse_rfc3339(text.as_bytes()).unwrap()
}

pub fn name(s: &str) -> NodeName<'_> {
    NodeName::new(s).unwrap()
}

pub fn sample_profile() -> NodeProfile<'static> {
    NodeProfile::esp32s3(
        name(SAMPLE_NAME),
        NodeIds::new(SAMPLE_MAC, SAMPLE_BOOT),
        Ipv4Addr::new(192, 168, 4, 23),
    )
}

fn cond(
    kind: ConditionType,
    status: ConditionStatus,
    reason: &'static str,
    message: &'static str,
    since: UnixMicros,
) -> Condition {
    Condition {
        kind,
        status,
        reason,
        message,
        last_transition: since,
    }
}

/// All nine conditions with plausible texts.
pub fn sample_conditions(since: UnixMicros) -> Vec<Condition> {
    use ConditionStatus::{False, True};
    use ConditionType::*;
    vec![
        cond(
            Ready,
            True,
            "KubeletReady",
            "picokubelet is posting ready status",
            since,
        ),
        cond(
            MemoryPressure,
            False,
            "KubeletHasSufficientMemory",
            "178 KiB of heap free",
            since,
        ),
        cond(
            DiskPressure,
            False,
            "KubeletHasNoDiskPressure",
            "there is no disk",
            since,
        ),
        cond(
            PIDPressure,
            False,
            "KubeletHasSufficientPID",
            "there are no PIDs",
            since,
        ),
        cond(
            Vibes,
            True,
            "Immaculate",
            "heap 71% free, no reconnects",
            since,
        ),
        cond(
            Caffeinated,
            True,
            "FreshlyBrewed",
            "up for less than 10 minutes",
            since,
        ),
        cond(
            Existential,
            False,
            "Innocent",
            "12 renewals in a row",
            since,
        ),
        cond(Peckish, False, "Sated", "heap 71% free", since),
        cond(Haunted, False, "Calm", "no ghosts", since),
    ]
}

/// The four standard conditions exactly as recording 01 sent them (in its order).
pub fn recorded_01_conditions() -> Vec<Condition> {
    use ConditionStatus::{False, True};
    use ConditionType::*;
    let t = at("2026-11-24T13:04:12Z");
    vec![
        cond(
            MemoryPressure,
            False,
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            t,
        ),
        cond(
            DiskPressure,
            False,
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
            t,
        ),
        cond(
            PIDPressure,
            False,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            t,
        ),
        cond(
            Ready,
            True,
            "KubeletReady",
            "picokubelet is posting ready status",
            t,
        ),
    ]
}

/// A 253-byte DNS subdomain whose first byte is `first`.
pub fn subdomain_253(first: char) -> String {
    let s = format!(
        "{first}{}.{}.{}.{}",
        "a".repeat(62),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert_eq!(s.len(), 253);
    s
}

/// Text whose JSON-escaped form is exactly `len` bytes and uses every escape kind.
pub fn escaped_text(len: usize) -> String {
    // 6 + 2 + 2 + 2 + 2 = 14 escaped bytes per unit, then plain filler.
    let unit = "\u{1}\"\\\né";
    let mut s = String::new();
    let mut n = 0;
    while n + 14 <= len {
        s.push_str(unit);
        n += 14;
    }
    s.extend(std::iter::repeat_n('x', len - n));
    assert_eq!(escaped_len(&s), len);
    s
}

pub fn escaped_len(s: &str) -> usize {
    serde_json::to_string(s).unwrap().len() - 2
}

/// Owned storage for the worst-case profile (the profile borrows from it).
pub struct WorstCase {
    pub name: String,
    pub value63: [String; 3],
    pub taint_key: String,
    pub extra: Vec<(String, String)>,
    pub quantity: String,
    pub info: String,
    pub reason: String,
    pub message: String,
}

impl WorstCase {
    /// `name_len` is 253 for the body maxima, 63 for the label patch's.
    pub fn new(name_len: usize) -> Self {
        let name = subdomain_253('n')[..name_len].to_string();
        let key = |c: char| format!("{}/{}", subdomain_253(c), "K".repeat(63));
        WorstCase {
            name,
            value63: ["x".repeat(63), "o".repeat(63), "i".repeat(63)],
            taint_key: key('t'),
            extra: (0..MAX_EXTRA_LABELS)
                .map(|i| (key(char::from(b'p' + i as u8)), "V".repeat(63)))
                .collect(),
            quantity: "1234567890.123Ki".to_string(),
            info: escaped_text(MAX_INFO_TEXT_LEN),
            reason: escaped_text(MAX_CONDITION_REASON_LEN),
            message: escaped_text(MAX_CONDITION_MESSAGE_LEN),
        }
    }

    pub fn profile(&self, labels: &'static [(&'static str, &'static str)]) -> NodeProfile<'_> {
        assert_eq!(self.quantity.len(), MAX_QUANTITY_LEN);
        assert_eq!(self.taint_key.len(), 317);
        let q = self.quantity.as_str();
        let res = Resources {
            cpu: q,
            memory: q,
            pods: q,
        };
        NodeProfile {
            name: name(&self.name),
            architecture: &self.value63[0],
            operating_system: &self.value63[1],
            instance_type: Some(&self.value63[2]),
            taint: Some(Taint {
                key: &self.taint_key,
                value: "T".repeat(63).leak(),
                effect: TaintEffect::PreferNoSchedule,
            }),
            capacity: res,
            allocatable: res,
            kubelet_version: &self.info,
            os_image: &self.info,
            container_runtime_version: &self.info,
            kernel_version: &self.info,
            ids: NodeIds::new([0xff; 6], [0xff; 16]),
            internal_ip: Some(Ipv4Addr::new(255, 255, 255, 255)),
            kubelet_port: u16::MAX,
            extra_labels: labels,
        }
    }

    /// The extra labels as `'static` pairs (leaked: tests only).
    pub fn extra_labels(&self) -> &'static [(&'static str, &'static str)] {
        let v: Vec<(&'static str, &'static str)> = self
            .extra
            .iter()
            .map(|(k, v)| (&*k.clone().leak(), &*v.clone().leak()))
            .collect();
        v.leak()
    }

    /// All nine condition types, status Unknown, longest reason and message.
    pub fn conditions(&self) -> Vec<Condition> {
        let reason: &'static str = self.reason.clone().leak();
        let message: &'static str = self.message.clone().leak();
        ConditionType::ALL
            .iter()
            .map(|&kind| Condition {
                kind,
                status: ConditionStatus::Unknown,
                reason,
                message,
                last_transition: UnixMicros(u64::MAX),
            })
            .collect()
    }
}

/// `testdata/k8s/<rel>`.
pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/k8s")
        .join(rel)
}

/// A recorded request: request line, headers, body.
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: String,
}

pub fn recorded_request(case: &str) -> RecordedRequest {
    let text =
        std::fs::read_to_string(testdata(&format!("recorded-compact/{case}.request.txt"))).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let mut start = lines.next().unwrap().split(' ');
    let method = start.next().unwrap().to_string();
    let path = start.next().unwrap().to_string();
    let content_type = lines
        .filter_map(|l| l.split_once(": "))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string());
    RecordedRequest {
        method,
        path,
        content_type,
        body: body.trim_end_matches('\n').to_string(),
    }
}

/// The recorded response's body (after the blank line).
pub fn recorded_response_body(case: &str) -> String {
    let text = std::fs::read_to_string(testdata(&format!("recorded-compact/{case}.response.http")))
        .unwrap();
    let text = text.replace("\r\n", "\n");
    text.split_once("\n\n")
        .map(|(_, b)| b.trim_end().to_string())
        .unwrap_or_default()
}

/// Renders with a generous buffer and returns the body as a string.
pub fn render(
    f: impl FnOnce(&mut [u8]) -> Result<usize, picokubelet_core::k8s::body_error::BodyError>,
) -> String {
    let mut buf = vec![0u8; 16 * 1024];
    let n = f(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

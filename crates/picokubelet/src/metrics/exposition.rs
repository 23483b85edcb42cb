//! The Prometheus text exposition (format 0.0.4) of the boards' reports: process totals, then
//! one series per board (`node="…"`).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use picokubelet_core::conditions::ConditionStatus;

use crate::telemetry::{BoardReport, FleetTotals, Lateness, LATENESS_BOUNDS_SECONDS};

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value (`\`, `"` and newline, as the format requires).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, h: &Lateness) {
    let mut cumulative = 0u64;
    for (bound, n) in LATENESS_BOUNDS_SECONDS.iter().zip(h.buckets) {
        cumulative = cumulative.saturating_add(n);
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}", h.sum_micros as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", h.count);
}

/// The phases as the LED shows them ([`BoardReport::shown_phase`]): the agent's four, and
/// AuthFailed (a 401/403) outranking Connecting and Registered.
const PHASES: [&str; 5] = [
    "Booting",
    "LinkDown",
    "Connecting",
    "Registered",
    "AuthFailed",
];

const STATUSES: [ConditionStatus; 3] = [
    ConditionStatus::True,
    ConditionStatus::False,
    ConditionStatus::Unknown,
];

/// One per-board metric family: its header, then `f`'s line for every board.
fn per_board(
    out: &mut String,
    reports: &[(String, &BoardReport)],
    name: &str,
    kind: &str,
    help: &str,
    mut f: impl FnMut(&mut String, &str, &BoardReport),
) {
    header(out, name, kind, help);
    for (node, r) in reports {
        f(out, node, r);
    }
}

/// The whole exposition for `reports`, with the process started at `started`.
pub fn encode(reports: &[BoardReport], started: SystemTime) -> String {
    let t = FleetTotals::of(reports);
    let mut out = String::with_capacity(256 + reports.len() * 2048);
    let o = &mut out;
    let process = [
        (
            "picokubelet_boards",
            "gauge",
            "Virtual boards in this process.",
            t.boards as u64,
        ),
        (
            "picokubelet_lease_renewals_total",
            "counter",
            "Lease renewals accepted.",
            t.renewals,
        ),
        (
            "picokubelet_lease_renewal_failures_total",
            "counter",
            "Lease renewals that failed.",
            t.renewal_failures,
        ),
        (
            "picokubelet_tls_handshakes_total",
            "counter",
            "TLS sessions opened.",
            t.handshakes,
        ),
        (
            "picokubelet_requests_total",
            "counter",
            "HTTP requests written.",
            t.requests,
        ),
        (
            "picokubelet_received_bytes_total",
            "counter",
            "HTTP response bytes read (inside TLS).",
            t.bytes_in,
        ),
        (
            "picokubelet_sent_bytes_total",
            "counter",
            "HTTP request bytes written (inside TLS).",
            t.bytes_out,
        ),
    ];
    for (name, kind, help, value) in process {
        header(o, name, kind, help);
        let _ = writeln!(o, "{name} {value}");
    }
    let name = "picokubelet_lease_renewal_lateness_seconds";
    header(
        o,
        name,
        "histogram",
        "Completion of a successful renewal minus its scheduled instant.",
    );
    histogram(o, name, &t.lateness);
    let start = started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let name = "picokubelet_process_start_time_seconds";
    header(
        o,
        name,
        "gauge",
        "Start time of the process since the Unix epoch, seconds.",
    );
    let _ = writeln!(o, "{name} {start}");

    let boards: Vec<(String, &BoardReport)> = reports.iter().map(|r| (label(&r.name), r)).collect();
    let b = &boards;
    let counter = |o: &mut String, name: &str, help: &str, value: fn(&BoardReport) -> u64| {
        per_board(o, b, name, "counter", help, |o, node, r| {
            let _ = writeln!(o, "{name}{{node=\"{node}\"}} {}", value(r));
        });
    };
    counter(
        o,
        "picokubelet_board_lease_renewals_total",
        "Lease renewals accepted, per board.",
        |r| r.stats.renewals,
    );
    counter(
        o,
        "picokubelet_board_lease_renewal_failures_total",
        "Lease renewals that failed, per board.",
        |r| r.stats.renewal_failures,
    );
    counter(
        o,
        "picokubelet_board_tls_handshakes_total",
        "TLS sessions opened, per board.",
        |r| u64::from(r.counters.handshakes),
    );
    counter(
        o,
        "picokubelet_board_received_bytes_total",
        "HTTP response bytes read, per board.",
        |r| r.counters.bytes_in,
    );
    counter(
        o,
        "picokubelet_board_sent_bytes_total",
        "HTTP request bytes written, per board.",
        |r| r.counters.bytes_out,
    );
    let name = "picokubelet_board_responses_total";
    per_board(
        o,
        b,
        name,
        "counter",
        "HTTP responses by status class, per board.",
        |o, node, r| {
            let c = &r.counters;
            for (class, n) in [
                ("2xx", c.responses_2xx),
                ("4xx", c.responses_4xx),
                ("5xx", c.responses_5xx),
                ("other", c.responses_other),
            ] {
                let _ = writeln!(o, "{name}{{node=\"{node}\",class=\"{class}\"}} {n}");
            }
        },
    );
    let name = "picokubelet_board_last_renewal_age_seconds";
    per_board(
        o,
        b,
        name,
        "gauge",
        "Seconds since the last accepted renewal (absent before the first).",
        |o, node, r| {
            if let Some(age) = r.last_renewal_age {
                let _ = writeln!(o, "{name}{{node=\"{node}\"}} {:.3}", age.as_secs_f64());
            }
        },
    );
    let name = "picokubelet_board_consecutive_renewals";
    per_board(
        o,
        b,
        name,
        "gauge",
        "Consecutive successful renewals (Existential counts these).",
        |o, node, r| {
            let _ = writeln!(o, "{name}{{node=\"{node}\"}} {}", r.consecutive_renewals);
        },
    );
    // One series per status with value 1 for the current one (kube-state-metrics'
    // kube_node_status_condition shape): `== 1` selects, and no series vanishes on a flip.
    let name = "picokubelet_board_condition";
    per_board(
        o,
        b,
        name,
        "gauge",
        "Node condition status as last evaluated: 1 for the current status of each type.",
        |o, node, r| {
            for c in r.conditions.iter().flatten() {
                for s in STATUSES {
                    let _ = writeln!(
                        o,
                        "{name}{{node=\"{node}\",type=\"{}\",status=\"{}\"}} {}",
                        c.kind.as_str(),
                        s.as_str(),
                        u8::from(c.status == s)
                    );
                }
            }
        },
    );
    let name = "picokubelet_board_phase";
    per_board(
        o,
        b,
        name,
        "gauge",
        "Where the agent is (the LED's phase; AuthFailed after a 401 or 403): 1 for the current one.",
        |o, node, r| {
            let shown = r.shown_phase();
            for p in PHASES {
                let _ = writeln!(
                    o,
                    "{name}{{node=\"{node}\",phase=\"{p}\"}} {}",
                    u8::from(shown == p)
                );
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use picokubelet_core::agent::{AgentPhase, AgentStats};
    use picokubelet_core::client::counters::ClientCounters;
    use picokubelet_core::conditions::{Condition, ConditionType};
    use picokubelet_core::time::UnixMicros;
    use std::time::Duration;

    fn report(name: &str, renewals: u64) -> BoardReport {
        let mut lateness = Lateness::default();
        lateness.observe(3_000);
        lateness.observe(700_000);
        let condition = |kind, status| Condition {
            kind,
            status,
            reason: "r",
            message: "m",
            last_transition: UnixMicros(0),
        };
        let mut conditions = [condition(ConditionType::Ready, ConditionStatus::True); 9];
        for (c, kind) in conditions.iter_mut().zip(ConditionType::ALL).skip(1) {
            *c = condition(kind, ConditionStatus::False);
        }
        BoardReport {
            name: name.into(),
            started: true,
            stats: AgentStats {
                renewals,
                ..AgentStats::default()
            },
            counters: ClientCounters {
                requests: 7,
                responses_2xx: 6,
                responses_4xx: 1,
                handshakes: 1,
                bytes_in: 100,
                bytes_out: 50,
                ..ClientCounters::default()
            },
            phase: AgentPhase::Registered,
            conditions: Some(conditions),
            consecutive_renewals: 4,
            last_renewal_age: Some(Duration::from_millis(1500)),
            lateness,
            auth_failed: false,
            refusals: Vec::new(),
        }
    }

    /// Every line is a comment or `name{labels} value` with a float value.
    fn check_syntax(text: &str) {
        for line in text.lines() {
            if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap();
            assert!(name.starts_with("picokubelet_"), "{line}");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            if let Some(labels) = series.strip_prefix(name) {
                assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')));
            }
        }
    }

    #[test]
    fn the_exposition_sums_boards_and_labels_each() {
        let text = encode(&[report("b-1", 3), report("b-2", 4)], UNIX_EPOCH);
        check_syntax(&text);
        assert!(text.contains("\npicokubelet_boards 2\n"));
        assert!(text.contains("\npicokubelet_lease_renewals_total 7\n"));
        assert!(text.contains("picokubelet_board_lease_renewals_total{node=\"b-2\"} 4\n"));
        assert!(text.contains("picokubelet_board_responses_total{node=\"b-1\",class=\"4xx\"} 1\n"));
        assert!(text.contains(
            "picokubelet_board_condition{node=\"b-1\",type=\"Ready\",status=\"True\"} 1\n"
        ));
        assert!(text.contains(
            "picokubelet_board_condition{node=\"b-1\",type=\"Ready\",status=\"False\"} 0\n"
        ));
        assert!(text.contains("picokubelet_board_phase{node=\"b-1\",phase=\"Registered\"} 1\n"));
        assert!(text.contains("picokubelet_board_phase{node=\"b-1\",phase=\"AuthFailed\"} 0\n"));
        assert!(text.contains("picokubelet_board_last_renewal_age_seconds{node=\"b-1\"} 1.500\n"));
        // Buckets are cumulative: 3 ms falls in 0.005, 700 ms in 1.
        let h = "picokubelet_lease_renewal_lateness_seconds";
        assert!(text.contains(&format!("{h}_bucket{{le=\"0.005\"}} 2\n")));
        assert!(text.contains(&format!("{h}_bucket{{le=\"0.5\"}} 2\n")));
        assert!(text.contains(&format!("{h}_bucket{{le=\"1\"}} 4\n")));
        assert!(text.contains(&format!("{h}_bucket{{le=\"+Inf\"}} 4\n")));
        assert!(text.contains(&format!("{h}_count 4\n")));
        // Every family is announced once.
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(types, helps);
        // A 401/403 storm shows as AuthFailed, not Registered.
        let mut refused = report("b-1", 3);
        refused.auth_failed = true;
        let text = encode(&[refused], UNIX_EPOCH);
        assert!(text.contains("picokubelet_board_phase{node=\"b-1\",phase=\"AuthFailed\"} 1\n"));
        assert!(text.contains("picokubelet_board_phase{node=\"b-1\",phase=\"Registered\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

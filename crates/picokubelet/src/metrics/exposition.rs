//! The Prometheus text exposition (format 0.0.4) of a [`Scrape`]: totals over all boards
//! (counters, the lateness histogram, boards per phase, per condition status, per class of the
//! last failed request), then one set of series per board the scrape carries (`node="…"`):
//! every board with `--metrics-per-board` (and for `run`), else only boards in trouble, at most
//! [`crate::telemetry::MAX_TROUBLED_SERIES`].

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use picokubelet_core::agent::ApiErrorClass;
use picokubelet_core::conditions::ConditionType;

use crate::telemetry::{
    BoardFigures, BoardReport, FleetTotals, Lateness, Scrape, ERROR_CLASSES,
    LATENESS_BOUNDS_SECONDS, PHASES, STATUSES,
};

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

fn error_class_name(c: ApiErrorClass) -> &'static str {
    match c {
        ApiErrorClass::Unauthorized => "Unauthorized",
        ApiErrorClass::Forbidden => "Forbidden",
        ApiErrorClass::Throttled => "Throttled",
        ApiErrorClass::ServerError => "ServerError",
        ApiErrorClass::Transport => "Transport",
    }
}

/// HTTP status classes, in the order of [`FleetTotals::responses`].
const RESPONSE_CLASSES: [&str; 4] = ["2xx", "4xx", "5xx", "other"];

/// One per-board metric family: its header, then `f`'s line for every board.
fn per_board(
    out: &mut String,
    reports: &[(String, &BoardFigures)],
    name: &str,
    kind: &str,
    help: &str,
    mut f: impl FnMut(&mut String, &str, &BoardFigures),
) {
    header(out, name, kind, help);
    for (node, r) in reports {
        f(out, node, r);
    }
}

/// The whole exposition of `scrape`, with the process started at `started`: the totals over
/// all boards, then one set of series for each board the scrape carries.
pub fn encode(scrape: &Scrape, started: SystemTime) -> String {
    let mut out = String::with_capacity(8 * 1024 + scrape.boards.len() * 3 * 1024);
    totals(&mut out, &scrape.totals);
    let start = started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let name = "picokubelet_process_start_time_seconds";
    header(
        &mut out,
        name,
        "gauge",
        "Start time of the process since the Unix epoch, seconds.",
    );
    let _ = writeln!(out, "{name} {start}");
    if let Some(p) = scrape.pacer {
        for (name, help, value) in [
            (
                "picokubelet_handshakes_in_flight",
                "Connects plus TLS handshakes under way (each holds a pacer slot).",
                p.in_flight,
            ),
            (
                "picokubelet_handshake_window",
                "Pacer slots now: halved when a handshake times out, one more per completed one.",
                p.window,
            ),
            (
                "picokubelet_handshakes_max",
                "Most pacer slots (--max-handshakes).",
                p.limit,
            ),
        ] {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
    if let Some(c) = &scrape.certificates {
        certificates(&mut out, c);
    }
    boards(&mut out, &scrape.boards);
    out
}

/// The boards' own certificates (`fleet` with TLS bootstrap).
fn certificates(o: &mut String, c: &crate::bootstrap::figures::CertificateFigures) {
    for (name, kind, help, value) in [
        (
            "picokubelet_boards_without_certificate",
            "gauge",
            "Boards started that have no client certificate yet (TLS bootstrap).",
            c.without_certificate as u64,
        ),
        (
            "picokubelet_certificate_requests_awaiting_approval",
            "gauge",
            "Boards' certificate requests waiting for `kubectl certificate approve`.",
            c.awaiting_approval as u64,
        ),
        (
            "picokubelet_certificates_issued_total",
            "counter",
            "Client certificates issued to the boards (first ones and renewals).",
            c.issued,
        ),
        (
            "picokubelet_certificates_reused_total",
            "counter",
            "Boards that started with the certificate stored by an earlier run.",
            c.reused,
        ),
    ] {
        header(o, name, kind, help);
        let _ = writeln!(o, "{name} {value}");
    }
    let name = "picokubelet_certificate_request_failures_total";
    header(
        o,
        name,
        "counter",
        "Boards' certificate requests refused or failed, by cause.",
    );
    for (cause, n) in &c.refusals {
        let _ = writeln!(o, "{name}{{cause=\"{cause}\"}} {n}");
    }
}

/// The families over all boards.
fn totals(o: &mut String, t: &FleetTotals) {
    let process = [
        (
            "picokubelet_boards",
            "gauge",
            "Virtual boards in this process.",
            t.boards as u64,
        ),
        (
            "picokubelet_boards_started",
            "gauge",
            "Boards whose agent has started (starts are spread over one lease duration).",
            t.started as u64,
        ),
        (
            "picokubelet_boards_in_trouble",
            "gauge",
            "Started boards not Ready, not renewed within a lease duration, or refused (401/403).",
            t.in_trouble as u64,
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
            "picokubelet_status_pushes_total",
            "counter",
            "Node status patches accepted.",
            t.status_pushes,
        ),
        (
            "picokubelet_status_push_failures_total",
            "counter",
            "Node status patches that failed.",
            t.status_push_failures,
        ),
        (
            "picokubelet_tls_handshakes_total",
            "counter",
            "TLS sessions opened.",
            t.handshakes,
        ),
        (
            "picokubelet_connect_failures_total",
            "counter",
            "Connects or TLS handshakes that failed or timed out.",
            t.connect_failures,
        ),
        (
            "picokubelet_request_timeouts_total",
            "counter",
            "Exchanges that hit the request timeout.",
            t.timeouts,
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
    let name = "picokubelet_responses_total";
    header(o, name, "counter", "HTTP responses by status class.");
    for (class, n) in RESPONSE_CLASSES.iter().zip(t.responses) {
        let _ = writeln!(o, "{name}{{class=\"{class}\"}} {n}");
    }
    let name = "picokubelet_lease_renewal_lateness_seconds";
    header(
        o,
        name,
        "histogram",
        "Completion of a successful renewal minus its scheduled instant.",
    );
    histogram(o, name, &t.lateness);
    let name = "picokubelet_boards_by_phase";
    header(
        o,
        name,
        "gauge",
        "Boards per agent phase (the LED's phase).",
    );
    for (p, n) in PHASES.iter().zip(t.by_phase) {
        let _ = writeln!(o, "{name}{{phase=\"{p}\"}} {n}");
    }
    let name = "picokubelet_boards_by_condition";
    header(
        o,
        name,
        "gauge",
        "Boards per node condition type and status, as last evaluated.",
    );
    for (kind, row) in ConditionType::ALL.iter().zip(t.by_condition) {
        for (s, n) in STATUSES.iter().zip(row) {
            let _ = writeln!(
                o,
                "{name}{{type=\"{}\",status=\"{}\"}} {n}",
                kind.as_str(),
                s.as_str()
            );
        }
    }
    let name = "picokubelet_boards_by_last_error";
    header(
        o,
        name,
        "gauge",
        "Boards per class of their most recent failed request (refusals: Unauthorized, Forbidden, Throttled).",
    );
    for (c, n) in ERROR_CLASSES.iter().zip(t.by_last_error) {
        let _ = writeln!(o, "{name}{{class=\"{}\"}} {n}", error_class_name(*c));
    }
}

/// The per-board families, for `reports` only.
fn boards(o: &mut String, reports: &[BoardReport]) {
    let boards: Vec<(String, &BoardFigures)> = reports
        .iter()
        .map(|r| (label(&r.name), &r.figures))
        .collect();
    let b = &boards;
    let counter = |o: &mut String, name: &str, help: &str, value: fn(&BoardFigures) -> u64| {
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
            let counts = [
                c.responses_2xx,
                c.responses_4xx,
                c.responses_5xx,
                c.responses_other,
            ];
            for (class, n) in RESPONSE_CLASSES.iter().zip(counts) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::PerBoard;
    use picokubelet_core::agent::{AgentPhase, AgentStats};
    use picokubelet_core::client::counters::ClientCounters;
    use picokubelet_core::conditions::{Condition, ConditionStatus, ConditionType};
    use picokubelet_core::time::UnixMicros;
    use std::time::Duration;

    fn figures(renewals: u64) -> BoardFigures {
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
        BoardFigures {
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
            led: picokubelet_core::led::LedInputs::of_agent(
                &picokubelet_core::agent::AgentState::new(),
            ),
            heap_free_bytes: Some(200_000),
            last_api_error: None,
            auth_failed: false,
        }
    }

    fn scrape(boards: &[(&str, BoardFigures)], per_board: PerBoard) -> Scrape {
        Scrape::gather(boards.iter().map(|(n, f)| (*n, *f)), per_board, LEASE)
    }

    const LEASE: Duration = Duration::from_secs(40);

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
        let boards = [("b-1", figures(3)), ("b-2", figures(4))];
        let mut s = scrape(&boards, PerBoard::All);
        s.pacer = Some(crate::pacer::PacerFigures {
            in_flight: 3,
            window: 4,
            limit: 8,
        });
        let text = encode(&s, UNIX_EPOCH);
        check_syntax(&text);
        assert!(text.contains("\npicokubelet_boards 2\n"));
        assert!(text.contains("\npicokubelet_lease_renewals_total 7\n"));
        assert!(text.contains("\npicokubelet_handshakes_in_flight 3\n"));
        assert!(text.contains("\npicokubelet_handshakes_max 8\n"));
        assert!(text.contains("\npicokubelet_handshake_window 4\n"));
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
        // A 401/403 storm shows as AuthFailed, not Registered, per board and in the totals.
        let mut refused = figures(3);
        refused.auth_failed = true;
        let text = encode(&scrape(&[("b-1", refused)], PerBoard::All), UNIX_EPOCH);
        assert!(text.contains("picokubelet_board_phase{node=\"b-1\",phase=\"AuthFailed\"} 1\n"));
        assert!(text.contains("picokubelet_board_phase{node=\"b-1\",phase=\"Registered\"} 0\n"));
        assert!(text.contains("picokubelet_boards_by_phase{phase=\"AuthFailed\"} 1\n"));
    }

    /// 10 000 boards that differ: counters from a seeded walk, every 7th not Ready, every 11th
    /// refused (401), every 13th still connecting, every 17th stale.
    fn fleet_of(n: usize) -> Vec<(String, BoardFigures)> {
        let mut rng = picokubelet_core::xorshift::XorShift64::new(0x5eed);
        (0..n)
            .map(|i| {
                let mut f = figures(rng.next_u64() % 500);
                f.stats.renewal_failures = rng.next_u64() % 5;
                f.counters.handshakes = (rng.next_u64() % 4) as u32 + 1;
                f.counters.requests = rng.next_u64() % 1_000;
                f.counters.responses_2xx = rng.next_u64() % 900;
                f.counters.responses_5xx = rng.next_u64() % 3;
                f.counters.bytes_in = rng.next_u64() % 1_000_000;
                f.counters.bytes_out = rng.next_u64() % 1_000_000;
                f.lateness.observe(rng.next_u64() % 3_000_000);
                if i % 7 == 0 {
                    if let Some(c) = f.conditions.as_mut().and_then(|c| c.first_mut()) {
                        c.status = ConditionStatus::Unknown;
                    }
                }
                if i % 11 == 0 {
                    f.last_api_error = Some(ApiErrorClass::Unauthorized);
                }
                if i % 13 == 0 {
                    f.phase = AgentPhase::Connecting;
                    f.conditions = None;
                    f.last_renewal_age = None;
                }
                if i % 17 == 0 {
                    f.last_renewal_age = Some(Duration::from_secs(41));
                }
                (format!("vb-fleet-{i:05}"), f)
            })
            .collect()
    }

    fn scrape_of(fleet: &[(String, BoardFigures)], per_board: PerBoard) -> Scrape {
        Scrape::gather(
            fleet.iter().map(|(n, f)| (n.as_str(), *f)),
            per_board,
            LEASE,
        )
    }

    /// The value of the series `series` (name and labels exactly as written).
    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no series {series}"))
    }

    /// The sum over boards of the per-board family `name` with the labels after `node`.
    fn sum_per_board(text: &str, name: &str, rest: &str) -> f64 {
        text.lines()
            .filter_map(|l| {
                let (series, v) = l.rsplit_once(' ')?;
                let labels = series.strip_prefix(name)?.strip_prefix("{node=\"")?;
                let (_, tail) = labels.split_once('"')?;
                (tail == format!("{rest}}}")).then(|| v.parse::<f64>().ok())?
            })
            .sum()
    }

    #[test]
    fn one_scrape_at_ten_thousand_boards_is_under_500_kb() {
        let fleet = fleet_of(10_000);
        let default = PerBoard::InTrouble {
            at_most: crate::telemetry::MAX_TROUBLED_SERIES,
        };
        let text = encode(&scrape_of(&fleet, default), UNIX_EPOCH);
        check_syntax(&text);
        eprintln!("10 000 boards, some in trouble: {} bytes", text.len());
        assert!(text.len() < 500_000, "{} bytes", text.len());
        // Many boards are in trouble here; only the bound get their own series.
        let troubled = fleet.iter().filter(|(_, f)| f.in_trouble(LEASE)).count();
        assert!(troubled > 100, "{troubled}");
        assert_eq!(
            value(&text, "picokubelet_boards_in_trouble"),
            troubled as f64
        );
        let shown = text
            .lines()
            .filter(|l| l.starts_with("picokubelet_board_lease_renewals_total{"))
            .count();
        assert_eq!(shown, 100);
        // The worst case: every board in trouble.
        let mut all_bad = fleet.clone();
        for (_, f) in &mut all_bad {
            f.last_api_error = Some(ApiErrorClass::Forbidden);
        }
        let text = encode(&scrape_of(&all_bad, default), UNIX_EPOCH);
        eprintln!("10 000 boards, all in trouble: {} bytes", text.len());
        assert!(text.len() < 500_000, "{} bytes", text.len());
        assert_eq!(value(&text, "picokubelet_boards_in_trouble"), 10_000.0);
        // A healthy fleet costs only the totals.
        let mut healthy = fleet_of(10_000);
        for (_, f) in &mut healthy {
            *f = figures(3);
        }
        let text = encode(&scrape_of(&healthy, default), UNIX_EPOCH);
        eprintln!("10 000 boards, all healthy: {} bytes", text.len());
        assert!(text.len() < 16_000, "{} bytes", text.len());
        assert!(!text.contains("node=\""));
    }

    #[test]
    fn the_totals_equal_the_per_board_sums() {
        let fleet = fleet_of(10_000);
        let all = scrape_of(&fleet, PerBoard::All);
        let few = scrape_of(&fleet, PerBoard::InTrouble { at_most: 5 });
        // The totals do not depend on which boards get series.
        assert_eq!(all.totals, few.totals);
        assert_eq!(all.boards.len(), 10_000);
        assert_eq!(few.boards.len(), 5);
        let text = encode(&all, UNIX_EPOCH);
        for (total, per_board) in [
            (
                "picokubelet_lease_renewals_total",
                "picokubelet_board_lease_renewals_total",
            ),
            (
                "picokubelet_lease_renewal_failures_total",
                "picokubelet_board_lease_renewal_failures_total",
            ),
            (
                "picokubelet_tls_handshakes_total",
                "picokubelet_board_tls_handshakes_total",
            ),
            (
                "picokubelet_received_bytes_total",
                "picokubelet_board_received_bytes_total",
            ),
            (
                "picokubelet_sent_bytes_total",
                "picokubelet_board_sent_bytes_total",
            ),
        ] {
            assert_eq!(
                value(&text, total),
                sum_per_board(&text, per_board, ""),
                "{total}"
            );
        }
        for class in RESPONSE_CLASSES {
            assert_eq!(
                value(
                    &text,
                    &format!("picokubelet_responses_total{{class=\"{class}\"}}")
                ),
                sum_per_board(
                    &text,
                    "picokubelet_board_responses_total",
                    &format!(",class=\"{class}\"")
                ),
                "{class}"
            );
        }
        for p in PHASES {
            assert_eq!(
                value(
                    &text,
                    &format!("picokubelet_boards_by_phase{{phase=\"{p}\"}}")
                ),
                sum_per_board(&text, "picokubelet_board_phase", &format!(",phase=\"{p}\"")),
                "{p}"
            );
        }
        for kind in ConditionType::ALL {
            for s in STATUSES {
                let labels = format!(",type=\"{}\",status=\"{}\"", kind.as_str(), s.as_str());
                assert_eq!(
                    value(
                        &text,
                        &format!("picokubelet_boards_by_condition{{{}}}", &labels[1..])
                    ),
                    sum_per_board(&text, "picokubelet_board_condition", &labels),
                    "{labels}"
                );
            }
        }
        let unknown_ready = fleet
            .iter()
            .filter(|(_, f)| f.ready() == Some(ConditionStatus::Unknown))
            .count();
        assert!(unknown_ready > 0);
        assert_eq!(
            value(
                &text,
                "picokubelet_boards_by_condition{type=\"Ready\",status=\"Unknown\"}"
            ),
            unknown_ready as f64
        );
        let refused = fleet
            .iter()
            .filter(|(_, f)| f.last_api_error.is_some())
            .count();
        assert_eq!(
            value(
                &text,
                "picokubelet_boards_by_last_error{class=\"Unauthorized\"}"
            ),
            refused as f64
        );
        let h = "picokubelet_lease_renewal_lateness_seconds";
        assert_eq!(value(&text, &format!("{h}_count")), 20_000.0 + 10_000.0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

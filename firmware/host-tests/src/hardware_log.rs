//! The bring-up stage lines (`bringup::stages`) and the checker that reads them from a board's
//! log (scripts/check-hardware-log.sh): logs are written with the firmware's own line
//! formatting, wrapped in what `espflash monitor` adds around them, and the checker's verdict
//! is compared with the story the log tells.

use std::{
    fmt::Display,
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

use picokubelet_core::{
    agent::{policy::Operation, LogEvent},
    client::ClientError,
};

use crate::stages::{
    agent_implied, agent_outcome, BootDetail, Mark, Marks, Stage, StageLine, SummaryLine,
    STAGE_COUNT,
};

fn checker() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check-hardware-log.sh")
}

/// Runs the checker on `log` (stdin); its exit status and output.
fn check(log: &str) -> (i32, String) {
    let mut child = Command::new("bash")
        .arg(checker())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(log.as_bytes())
        .expect("log written");
    let out = child.wait_with_output().expect("checker finishes");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// A board's log as `espflash monitor` shows it: the ROM bootloader's lines first, CR LF line
/// ends, and the firmware's own lines among the stage lines.
struct BoardLog {
    text: String,
    marks: Marks,
    up_s: u64,
}

impl BoardLog {
    fn new() -> Self {
        Self {
            text: String::new(),
            marks: Marks::new(),
            up_s: 0,
        }
    }

    fn raw(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push_str("\r\n");
    }

    /// What the body does on a power-up: the ROM's banner, the image's banner, `boot`.
    fn power_up(&mut self) {
        self.marks = Marks::new();
        self.raw("ESP-ROM:esp32c6-20220919");
        self.raw("rst:0x1 (POWERON),boot:0x6c (SPI_FAST_FLASH_BOOT)");
        self.raw("I (23) boot: ESP-IDF v5.1 2nd stage bootloader");
        self.raw("picokubelet firmware 0.1.0 on ESP32-C6-DevKitC-1");
        let detail = BootDetail {
            version: "0.1.0",
            built_for: "esp32c6",
        };
        self.stage(Stage::Boot, true, &detail);
    }

    /// `bringup::report`: the line when it is news, the `ok` summary on completion.
    fn stage(&mut self, stage: Stage, passed: bool, detail: &dyn Display) {
        self.up_s += 1;
        if self.marks.record(stage, passed) {
            self.raw(
                &StageLine {
                    stage,
                    passed,
                    detail,
                }
                .to_string(),
            );
        }
        if self.marks.take_completion() {
            self.summary();
        }
    }

    fn summary(&mut self) {
        let line = SummaryLine {
            marks: self.marks,
            up_s: self.up_s,
        }
        .to_string();
        self.raw(&line);
    }

    /// Every stage from `config` up to (not including) `stop` passes.
    fn pass_until(&mut self, stop: Option<Stage>) {
        for stage in Stage::ALL.into_iter().skip(1) {
            if Some(stage) == stop {
                return;
            }
            self.raw("[    4123 ms] agent: SessionOpened { handshakes: 1 }");
            self.stage(stage, true, &format_args!("{} works", stage.name()));
        }
    }
}

#[test]
fn a_good_boot_passes() {
    let mut log = BoardLog::new();
    log.power_up();
    log.pass_until(None);
    log.raw("[   15000 ms] agent: LeaseRenewed { late_us: 1200 }");
    let (code, out) = check(&log.text);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS: pk-summary ok 11/11"), "{out}");
    assert!(out.contains("built for esp32c6"), "{out}");
}

/// Each stage failing (the board halts, or the bring-up deadline passes): the checker names
/// that stage and repeats its reason.
#[test]
fn each_failing_stage_is_named_with_its_reason() {
    for failing in Stage::ALL.into_iter().skip(1) {
        let mut log = BoardLog::new();
        log.power_up();
        log.pass_until(Some(failing));
        let reason = format!("{}-broke-here", failing.name());
        log.stage(failing, false, &reason);
        log.summary();
        let (code, out) = check(&log.text);
        assert_eq!(code, 1, "{failing:?}: {out}");
        assert!(
            out.contains(&format!("FAIL at stage \"{}\"", failing.name())),
            "{failing:?}: {out}"
        );
        assert!(out.contains(&reason), "{failing:?}: {out}");
    }
}

/// A stage that failed first and passed on a retry does not fail the boot.
#[test]
fn a_retry_that_passes_is_a_pass() {
    let mut log = BoardLog::new();
    log.power_up();
    log.pass_until(Some(Stage::Tls));
    log.stage(
        Stage::Tls,
        false,
        &"handshake: the server closed the connection",
    );
    log.summary(); // the deadline's `fail` summary
    log.pass_until(None); // then it came up
    let (code, out) = check(&log.text);
    assert_eq!(code, 0, "{out}");
}

/// A log that ends before a verdict: the stage the board is stuck before, or the last failure.
#[test]
fn a_log_cut_short_names_the_stage_it_stopped_before() {
    let mut log = BoardLog::new();
    log.power_up();
    log.pass_until(Some(Stage::Clock));
    let (code, out) = check(&log.text);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("before stage \"clock\""), "{out}");

    log.stage(Stage::Clock, false, &"NoDate");
    let (code, out) = check(&log.text);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("at stage \"clock\": NoDate"), "{out}");
}

/// A reset during bring-up (watchdog, panic, power) is reported; the last boot is judged.
#[test]
fn a_reset_is_noted_and_the_last_boot_judged() {
    let mut log = BoardLog::new();
    log.power_up();
    log.pass_until(Some(Stage::Uplink));
    log.power_up();
    log.pass_until(None);
    let (code, out) = check(&log.text);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 boots"), "{out}");
    assert!(out.contains("reset during stage \"uplink\""), "{out}");
}

#[test]
fn a_panic_fails_the_boot() {
    let mut log = BoardLog::new();
    log.power_up();
    log.pass_until(Some(Stage::Tls));
    log.raw("");
    log.raw("====================== PANIC ======================");
    log.raw("panicked at src/main.rs:1:1");
    let (code, out) = check(&log.text);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("panicked during stage \"tls\""), "{out}");
}

#[test]
fn a_log_without_the_firmware_is_no_bring_up() {
    let (code, out) = check("ESP-ROM:esp32c6-20220919\r\ninvalid header: 0xffffffff\r\n");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("NO BRING-UP"), "{out}");
}

/// Colour codes and prefixes around the lines (a terminal, a `tee` with timestamps) are ignored.
#[test]
fn decorations_around_the_lines_are_ignored() {
    let mut log = BoardLog::new();
    log.power_up();
    log.pass_until(None);
    let decorated: String = log
        .text
        .lines()
        .map(|l| format!("\x1b[32m12:00:01.123 > {l}\x1b[0m\r\n"))
        .collect();
    let (code, out) = check(&decorated);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn marks_report_news_once_and_complete_once() {
    let mut marks = Marks::new();
    assert!(marks.record(Stage::Boot, true));
    assert!(
        !marks.record(Stage::Boot, true),
        "a repeated pass is not news"
    );
    assert!(marks.record(Stage::Config, false));
    assert!(
        !marks.record(Stage::Config, false),
        "a repeated failure is not news"
    );
    assert_eq!(marks.stuck_at(), Some(Stage::Config));
    assert!(
        marks.record(Stage::Config, true),
        "a pass after a failure is news"
    );
    assert!(!marks.take_completion());
    for stage in Stage::ALL {
        marks.record(stage, true);
    }
    assert_eq!(marks.passed(), STAGE_COUNT);
    assert_eq!(marks.stuck_at(), None);
    assert!(marks.take_completion());
    assert!(!marks.take_completion(), "the ok summary is printed once");
    assert!(marks.completed());
    assert!(
        !marks.record(Stage::Tls, false),
        "after the bring-up, the agent's log speaks alone"
    );
    assert_eq!(marks.mark(Stage::Tls), Mark::Passed);
}

#[test]
fn summary_lines_have_the_documented_shape() {
    let mut marks = Marks::new();
    marks.record(Stage::Boot, true);
    marks.record(Stage::Config, true);
    marks.record(Stage::Uplink, false);
    let line = SummaryLine { marks, up_s: 120 }.to_string();
    assert_eq!(line, "pk-summary fail 2/11 at uplink up 120 s");

    // A halt in a later stage while an earlier one has not reported names the failed one.
    let mut halted = Marks::new();
    halted.record(Stage::Boot, true);
    halted.record(Stage::Config, true);
    halted.record(Stage::Entropy, false);
    let line = SummaryLine {
        marks: halted,
        up_s: 3,
    }
    .to_string();
    assert_eq!(line, "pk-summary fail 2/11 at entropy up 3 s");
    for stage in Stage::ALL {
        marks.record(stage, true);
    }
    let line = SummaryLine { marks, up_s: 9 }.to_string();
    assert_eq!(line, "pk-summary ok 11/11 up 9 s");
    let line = StageLine {
        stage: Stage::Tls,
        passed: false,
        detail: &"the certificate names kubernetes, not api.lab",
    }
    .to_string();
    assert_eq!(
        line,
        "pk-stage tls fail the certificate names kubernetes, not api.lab"
    );
}

#[test]
fn agent_events_map_to_their_stages() {
    assert_eq!(
        agent_outcome(&LogEvent::SessionOpened { handshakes: 1 }),
        Some((Stage::Tls, true))
    );
    assert_eq!(
        agent_implied(&LogEvent::SessionOpened { handshakes: 1 }),
        Some(Stage::Connect)
    );
    assert_eq!(
        agent_outcome(&LogEvent::ConnectTimedOut),
        Some((Stage::Connect, false))
    );
    assert_eq!(agent_implied(&LogEvent::ConnectTimedOut), None);
    assert_eq!(
        agent_outcome(&LogEvent::Registered {
            created: true,
            uid: "u"
        }),
        Some((Stage::Register, true))
    );
    assert_eq!(
        agent_outcome(&LogEvent::LeaseRenewed { late_us: 0 }),
        Some((Stage::Lease, true))
    );
    assert_eq!(
        agent_outcome(&LogEvent::StatusPushed { periodic: false }),
        Some((Stage::Status, true))
    );
    assert_eq!(
        agent_outcome(&LogEvent::NoDate),
        Some((Stage::Clock, false))
    );
    assert_eq!(agent_outcome(&LogEvent::LabelsPatched), None);
    assert_eq!(
        agent_outcome(&LogEvent::EventPosted { reason: "Booted" }),
        None
    );
    let failed = |op| LogEvent::ExchangeFailed {
        op,
        error: ClientError::Connect,
    };
    assert_eq!(
        agent_outcome(&failed(Operation::RenewLease)),
        Some((Stage::Lease, false))
    );
    assert_eq!(
        agent_outcome(&failed(Operation::CreateNode)),
        Some((Stage::Register, false))
    );
    assert_eq!(agent_outcome(&failed(Operation::PostEvent)), None);
}

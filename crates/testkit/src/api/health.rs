//! `/readyz` and `/livez` as kube-apiserver's healthz handlers answer: `ok` when every check
//! passes, else the verbose listing with `[-]… failed: reason withheld` and a 500; `?verbose`
//! lists the checks either way. The check lists are the recorded ones (G3e, G3f).

use std::sync::OnceLock;

use crate::state::ServerHealth;

use super::route::Check;

const READYZ_RECORDED: &str =
    include_str!("../../testdata/recorded-2/G3e-readyz-verbose-during-etcd-freeze.response.http");
const LIVEZ_RECORDED: &str =
    include_str!("../../testdata/recorded-2/G3f-livez-during-etcd-freeze.response.http");

fn body(recorded: &str) -> &str {
    recorded.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Check lines (`[+]name ok`) of a recorded verbose answer, without its verdict line.
fn checks(recorded: &'static str) -> Vec<String> {
    body(recorded)
        .lines()
        .filter(|l| l.starts_with("[+]") || l.starts_with("[-]"))
        .map(|l| match l.strip_prefix("[-]") {
            Some(failed) => format!("[+]{} ok", failed.split(' ').next().unwrap_or("")),
            None => l.to_string(),
        })
        .collect()
}

fn check_list(check: Check) -> &'static [String] {
    static READYZ: OnceLock<Vec<String>> = OnceLock::new();
    static LIVEZ: OnceLock<Vec<String>> = OnceLock::new();
    match check {
        Check::Readyz => READYZ.get_or_init(|| checks(READYZ_RECORDED)),
        Check::Livez => LIVEZ.get_or_init(|| checks(LIVEZ_RECORDED)),
    }
}

/// Status code and body of a health endpoint.
pub(super) fn answer(check: Check, verbose: bool, health: ServerHealth) -> (u16, String) {
    let (name, failing) = match check {
        Check::Readyz => ("readyz", health.shutting_down.then_some("shutdown")),
        Check::Livez => ("livez", health.storage_stalled.then_some("etcd")),
    };
    if failing.is_none() && !verbose {
        // Guess (not recorded): the healthz handler's plain success answer.
        return (200, "ok".to_string());
    }
    let mut out = String::new();
    for line in check_list(check) {
        match failing {
            Some(f) if line == &format!("[+]{f} ok") => {
                out.push_str(&format!("[-]{f} failed: reason withheld\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    match failing {
        // http.Error appends a newline (recorded G3f ends "livez check failed\n").
        Some(_) => {
            out.push_str(&format!("{name} check failed\n"));
            (500, out)
        }
        None => {
            out.push_str(&format!("{name} check passed\n"));
            (200, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_answers_come_back_byte_for_byte() {
        let stalled = ServerHealth {
            storage_stalled: true,
            ..ServerHealth::default()
        };
        assert_eq!(
            answer(Check::Livez, true, stalled),
            (500, body(LIVEZ_RECORDED).to_string())
        );
        assert_eq!(
            answer(Check::Readyz, true, stalled),
            (200, body(READYZ_RECORDED).to_string())
        );
        let shutting = ServerHealth {
            shutting_down: true,
            ..ServerHealth::default()
        };
        let (code, text) = answer(Check::Readyz, false, shutting);
        assert_eq!(code, 500);
        assert!(text.starts_with("[+]ping ok\n[+]log ok\n[+]informer-sync ok\n"));
        assert!(text.ends_with("[-]shutdown failed: reason withheld\nreadyz check failed\n"));
        assert_eq!(answer(Check::Livez, false, shutting), (200, "ok".into()));
    }
}

//! Open-file budget of a process that holds one socket per board.
//!
//! A fleet whose boards cannot all hold their socket does not fail cleanly: the boards past the
//! limit get `EMFILE` on connect, count it as a connect failure and back off, and the run looks
//! like a struggling server. So `fleet` checks its limit before it starts a board, and the fleet
//! benchmark checks each of its two processes (the test server's sockets are in the bench
//! process, the boards' in the fleet child, which inherits the bench's limit) — the limit is
//! per process: each needs a descriptor per board plus its margin.

/// Open files besides the boards' sockets: stdio, the metrics listener and its scrapes, signal
/// and log descriptors, slack for what libraries open now and then.
pub const BASE_MARGIN: u64 = 64;

/// What one process needs: a socket per board plus its own overhead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub boards: u64,
    pub overhead: u64,
}

impl Budget {
    /// A fleet process: a socket per board, an epoll and a waker per runtime (`threads`
    /// workers + the main one), a transient descriptor per connect in flight (name resolution;
    /// at most `max_handshakes`), and [`BASE_MARGIN`].
    pub fn fleet(boards: u64, threads: u64, max_handshakes: u64) -> Self {
        Budget {
            boards,
            overhead: threads
                .saturating_add(1)
                .saturating_mul(2)
                .saturating_add(max_handshakes)
                .saturating_add(BASE_MARGIN),
        }
    }

    pub fn needed(&self) -> u64 {
        self.boards.saturating_add(self.overhead)
    }
}

/// This process's soft and hard limits on open files (`None` where /proc does not say, e.g.
/// not Linux; `u64::MAX` for "unlimited").
pub fn limits() -> Option<(u64, u64)> {
    parse_limits(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The "Max open files" line of a /proc/<pid>/limits text.
pub fn parse_limits(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line
        .strip_prefix("Max open files")?
        .split_whitespace()
        .map(|v| match v {
            "unlimited" => Some(u64::MAX),
            v => v.parse().ok(),
        });
    Some((fields.next()??, fields.next()??))
}

/// `Ok` if `limits` (soft, hard) allow `budget`; else a sentence for `who` (e.g. "this fleet
/// of 10000 boards") that says what to do: raise the soft limit when the hard one allows it,
/// else run fewer boards per process.
pub fn check(who: &str, budget: Budget, limits: Option<(u64, u64)>) -> Result<(), String> {
    let Some((soft, hard)) = limits else {
        return Ok(());
    };
    let needed = budget.needed();
    if needed <= soft {
        return Ok(());
    }
    let what = format!(
        "{who} needs about {needed} open files in one process (a socket per board plus {} for \
         the process), but the process may open only {soft}",
        budget.overhead
    );
    if needed <= hard {
        Err(format!(
            "{what}: raise the limit in the shell that starts it (`ulimit -n {needed}`; the hard \
             limit {hard} allows it)"
        ))
    } else {
        Err(format!(
            "{what}, and the hard limit is {hard}, which `ulimit -n` cannot exceed: run at most \
             {} boards per process (split a larger fleet with --shard I/N over several \
             processes), or have root raise the hard limit (limits.conf, systemd's \
             LimitNOFILE, docker run --ulimit nofile=N:N)",
            hard.saturating_sub(budget.overhead)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 20000                files     \n\
Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn reads_the_soft_and_hard_limit() {
        assert_eq!(parse_limits(LIMITS), Some((1024, 20_000)));
        let unlimited = "Max open files            unlimited            unlimited            files";
        assert_eq!(parse_limits(unlimited), Some((u64::MAX, u64::MAX)));
        assert_eq!(parse_limits("Max cpu time 1 2 seconds"), None);
        assert_eq!(parse_limits("Max open files  many  20000  files"), None);
    }

    fn fleet(boards: u64) -> Budget {
        Budget::fleet(boards, 2, 8)
    }

    #[test]
    fn a_board_needs_one_socket_in_its_own_process() {
        // 10,000 boards on 2 threads with 8 handshakes in flight: 10,000 + 6 + 8 + 64.
        assert_eq!(fleet(10_000).needed(), 10_078);
        assert_eq!(fleet(u64::MAX).needed(), u64::MAX);
    }

    #[test]
    fn within_the_soft_limit_or_unknown_passes() {
        assert_eq!(
            check("a fleet", fleet(19_000), Some((20_000, 20_000))),
            Ok(())
        );
        assert_eq!(
            check("a fleet", fleet(19_922), Some((20_000, 20_000))),
            Ok(())
        );
        assert_eq!(check("a fleet", fleet(1 << 40), None), Ok(()));
    }

    #[test]
    fn says_to_raise_the_soft_limit_when_the_hard_one_allows() {
        let e = check(
            "this fleet of 2000 boards",
            fleet(2_000),
            Some((1_024, 20_000)),
        )
        .unwrap_err();
        assert!(e.contains("needs about 2078 open files"), "{e}");
        assert!(e.contains("may open only 1024"), "{e}");
        assert!(e.contains("`ulimit -n 2078`"), "{e}");
    }

    #[test]
    fn says_to_split_the_fleet_past_the_hard_limit() {
        let e = check(
            "this fleet of 30000 boards",
            fleet(30_000),
            Some((20_000, 20_000)),
        )
        .unwrap_err();
        assert!(e.contains("hard limit is 20000"), "{e}");
        assert!(e.contains("at most 19922 boards per process"), "{e}");
        assert!(e.contains("--shard"), "{e}");
        assert!(!e.contains("`ulimit -n 30078`"), "{e}");
    }
}

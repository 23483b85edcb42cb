//! The flags that let a fleet scale: how much `/metrics` says per board, how many TLS
//! handshakes run at once, and which shard of a larger fleet this process is.
//!
//! Shards: `--shard I/N` makes this process boards `I·count + 1 ..= (I+1)·count` of a fleet of
//! `N·count` named `<node-name>-<global number>`, zero-padded to the width of `N·count`, so N
//! processes with the same flags (a StatefulSet) run disjoint, deterministic Node names.
//! `--shard pod/N` takes I from the host name's `-<ordinal>` suffix (a StatefulSet pod is named
//! `<set>-<ordinal>` and that is its hostname); `deploy/fleet/statefulset.yaml` passes the
//! ordinal explicitly instead, from the downward API (the `apps.kubernetes.io/pod-index` label).

use std::time::Duration;

use clap::Args;
use picokubelet_core::k8s::name::NodeName;

use crate::pacer::default_max_handshakes;
use crate::telemetry::{PerBoard, MAX_TROUBLED_SERIES};

/// `fleet`'s scaling flags.
#[derive(Clone, Debug, Args)]
pub struct FleetScaleArgs {
    /// Give every board its own series in /metrics (by default only the totals, plus the
    /// boards in trouble — not Ready, not renewed within a lease duration, or refused — at most
    /// 100 of them)
    #[arg(long)]
    pub metrics_per_board: bool,
    /// Most TLS handshakes (connect included) in flight at once across all boards; a board
    /// waits for a slot before it connects [default: 4 per CPU]
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_handshakes: Option<u32>,
    /// Run shard I of N (0 <= I < N): boards I*count+1 ..= (I+1)*count of a fleet of N*count,
    /// so N processes with the same flags run disjoint Node names. `pod/N`: I is the ordinal
    /// at the end of the host name (a StatefulSet pod's `<set>-<ordinal>`)
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<ShardArg>,
    /// Round every board's timer deadlines up to a tick shared by all boards, so one wake-up
    /// serves every board due within it (a renewal is then up to one tick late); 0 for exact
    /// deadlines
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub timer_tick: Duration,
}

/// Most shards of one fleet.
pub const MAX_SHARDS: u32 = 100_000;

/// `--shard`, as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardArg {
    /// `None`: from the host name (`pod/N`).
    pub index: Option<u32>,
    pub count: u32,
}

/// Parses `I/N` or `pod/N`.
pub fn parse_shard(s: &str) -> Result<ShardArg, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: expected I/N (e.g. 2/10) or pod/N"))?;
    let count: u32 = n
        .parse()
        .ok()
        .filter(|n| (1..=MAX_SHARDS).contains(n))
        .ok_or_else(|| format!("{s:?}: N must be a number from 1 to {MAX_SHARDS}"))?;
    let index = match i {
        "pod" => None,
        i => Some(
            i.parse::<u32>()
                .ok()
                .filter(|i| *i < count)
                .ok_or_else(|| {
                    format!("{s:?}: I must be a number from 0 to N-1 ({})", count - 1)
                })?,
        ),
    };
    Ok(ShardArg { index, count })
}

/// The ordinal at the end of a StatefulSet pod's host name (`picokubelet-fleet-3` → 3).
pub fn pod_ordinal(hostname: &str) -> Option<u32> {
    let (_, digits) = hostname.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Which part of a larger fleet this process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole fleet in one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The Node names of this shard's `boards` boards under `base`, checked as node names.
    pub fn names(self, base: &str, boards: u32) -> Result<Vec<String>, String> {
        let total = u64::from(boards) * u64::from(self.count);
        let width = total.to_string().len();
        let first = u64::from(self.index) * u64::from(boards);
        let names: Vec<String> = (1..=u64::from(boards))
            .map(|b| format!("{base}-{:0width$}", first + b))
            .collect();
        for name in &names {
            NodeName::new(name).map_err(|e| format!("fleet node name {name:?}: {e}"))?;
        }
        Ok(names)
    }
}

impl FleetScaleArgs {
    /// The shard this process runs; `hostname` is read only for `--shard pod/N`.
    pub fn shard(&self, hostname: impl FnOnce() -> String) -> Result<Shard, String> {
        let Some(arg) = self.shard else {
            return Ok(Shard::WHOLE);
        };
        let index = match arg.index {
            Some(i) => i,
            None => {
                let host = hostname();
                pod_ordinal(&host).ok_or_else(|| {
                    format!(
                        "--shard pod/{n}: the host name {host:?} does not end in -<ordinal> \
                         (StatefulSet pods are named <set>-<ordinal>); give the index: --shard I/{n}",
                        n = arg.count
                    )
                })?
            }
        };
        if index >= arg.count {
            return Err(format!(
                "--shard: index {index} (from the host name) is not below the shard count {}; \
                 are there more replicas than shards?",
                arg.count
            ));
        }
        Ok(Shard {
            index,
            count: arg.count,
        })
    }

    /// The handshake limit, `cpus` being the CPUs this process may use.
    pub fn max_handshakes(&self, cpus: usize) -> usize {
        self.max_handshakes
            .map_or_else(|| default_max_handshakes(cpus), |k| k as usize)
    }

    /// Which boards get their own series.
    pub fn per_board(&self) -> PerBoard {
        if self.metrics_per_board {
            PerBoard::All
        } else {
            PerBoard::InTrouble {
                at_most: MAX_TROUBLED_SERIES,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn shard_flags_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_shard("2/10"),
            Ok(ShardArg {
                index: Some(2),
                count: 10
            })
        );
        assert_eq!(
            parse_shard("pod/4"),
            Ok(ShardArg {
                index: None,
                count: 4
            })
        );
        for bad in ["3", "4/4", "-1/4", "1/0", "a/b", "1/100001", "/", ""] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        assert_eq!(pod_ordinal("picokubelet-fleet-3"), Some(3));
        assert_eq!(pod_ordinal("picokubelet-fleet-12"), Some(12));
        assert_eq!(pod_ordinal("laptop"), None);
        assert_eq!(pod_ordinal("fleet-"), None);
        assert_eq!(pod_ordinal("fleet-1a"), None);
    }

    #[test]
    fn the_index_comes_from_the_pod_name_and_must_fit() {
        let args = |shard| FleetScaleArgs {
            metrics_per_board: false,
            max_handshakes: None,
            shard: Some(shard),
            timer_tick: Duration::ZERO,
        };
        let pod4 = args(ShardArg {
            index: None,
            count: 4,
        });
        assert_eq!(
            pod4.shard(|| "picokubelet-fleet-3".into()),
            Ok(Shard { index: 3, count: 4 })
        );
        let e = pod4.shard(|| "picokubelet-fleet-4".into()).unwrap_err();
        assert!(e.contains("more replicas than shards"), "{e}");
        let e = pod4.shard(|| "laptop".into()).unwrap_err();
        assert!(e.contains("--shard I/4"), "{e}");
    }

    #[test]
    fn one_shard_names_boards_as_before() {
        let names = Shard::WHOLE.names("vb-fleet", 12).unwrap();
        assert_eq!(names.first().map(String::as_str), Some("vb-fleet-01"));
        assert_eq!(names.last().map(String::as_str), Some("vb-fleet-12"));
        let second = Shard { index: 1, count: 4 }.names("vb", 1000).unwrap();
        assert_eq!(second[0], "vb-1001");
        assert_eq!(second[999], "vb-2000");
    }

    proptest! {
        /// No two (shard, board) pairs share a name, and every name is a valid Node name
        /// (DNS-1123 subdomain, labels of at most 63 bytes, as the core checks) — or the base
        /// is refused with a message, never an invalid name.
        #[test]
        fn shard_names_are_distinct_and_valid(
            base in "[a-z0-9]([a-z0-9-]{0,60}[a-z0-9])?(\\.[a-z0-9]{1,10}){0,2}",
            boards in 1u32..40,
            shards in 1u32..30,
        ) {
            let mut seen = HashSet::new();
            for index in 0..shards {
                match (Shard { index, count: shards }).names(&base, boards) {
                    Ok(names) => {
                        prop_assert_eq!(names.len(), boards as usize);
                        for n in names {
                            prop_assert!(NodeName::new(&n).is_ok(), "{}", n);
                            prop_assert!(n.split('.').all(|l| l.len() <= 63), "{}", n);
                            prop_assert!(seen.insert(n.clone()), "{} twice", n);
                        }
                    }
                    Err(e) => {
                        // Only a base whose last label has no room for the number.
                        let last = base.rsplit('.').next().unwrap_or_default();
                        prop_assert!(last.len() + 1 + (boards * shards).to_string().len() > 63, "{}", e);
                    }
                }
            }
        }
    }
}

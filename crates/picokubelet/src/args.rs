//! The flags `run`, `fleet`, `render` and `provision` share, and their parsers. Every value is
//! checked here with the core's own rules, so a bad name or a label NodeRestriction would refuse
//! never reaches a cluster.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};
use picokubelet_core::conditions::Signals;
use picokubelet_core::k8s::chip::Chip;
use picokubelet_core::k8s::label::validate_node_label;
use picokubelet_core::k8s::lease::DEFAULT_LEASE_DURATION_SECONDS;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::k8s::node::{
    NodeProfile, LABEL_ARCH, LABEL_HOSTNAME, LABEL_INSTANCE_TYPE, LABEL_OS, MAX_EXTRA_LABELS,
};
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::time::{parse_rfc3339, UnixMicros};

/// Where the cluster is and how to trust it.
#[derive(Clone, Debug, Args)]
pub struct ClusterArgs {
    /// kubeconfig file [default: $KUBECONFIG (':'-separated files are merged), else
    /// ~/.kube/config]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context [default: its current-context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Do NOT verify the API server's certificate. Anyone on the path can then impersonate the
    /// server and read the token. For tests only.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

/// Who the node is.
#[derive(Clone, Debug, Args)]
pub struct NodeArgs {
    /// Node name, a DNS-1123 subdomain [default: vb-<hostname>, made valid]
    #[arg(long, value_name = "NAME", value_parser = parse_node_name)]
    pub node_name: Option<String>,
    /// Board: sets arch, instance type and capacity
    #[arg(long, value_enum, default_value_t = ChipArg(Chip::Esp32s3))]
    pub profile: ChipArg,
    /// Extra node label (repeatable, at most 4); NodeRestriction's rules apply
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<Label>,
}

/// How the agent paces itself.
#[derive(Clone, Debug, Args)]
pub struct AgentArgs {
    /// Lease renewal period (below the 40 s lease duration)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_lease_interval)]
    pub lease_renew_interval: Duration,
    /// Status report period (a condition flip reports at once)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_positive_duration)]
    pub status_interval: Duration,
    /// How often the board's signals are read and the conditions re-evaluated
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_positive_duration)]
    pub condition_check_interval: Duration,
    /// Serve Prometheus metrics (GET /metrics) on this address (off unless given; port 0 picks
    /// a free port, logged at start)
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_addr: Option<SocketAddr>,
    /// A file of `key=value` lines (heap_free_bytes, heap_total_bytes, wifi_associations,
    /// bssid_changes, link_up, ipv4) that override the simulated board's signals; re-read whenever it
    /// changes
    #[arg(long, value_name = "PATH")]
    pub signals_file: Option<PathBuf>,
    /// Check every flag and the kubeconfig, then exit without connecting
    #[arg(long)]
    pub dry_run: bool,
    /// Show the boards in a live terminal view (LED, conditions; keys inject faults) instead of
    /// the log; without a terminal, the plain log
    #[arg(long)]
    pub ui: bool,
}

/// Simulated board signals for `render`; the defaults are a board 3 minutes after boot.
#[derive(Clone, Debug, Args)]
pub struct SignalArgs {
    /// Free heap, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 178 * 1024)]
    pub heap_free: u32,
    /// Total heap, bytes (0: unknown)
    #[arg(long, value_name = "BYTES", default_value_t = 250 * 1024)]
    pub heap_total: u32,
    /// Time since boot
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = humantime::parse_duration)]
    pub uptime: Duration,
    /// Consecutive successful lease renewals
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub renewals: u32,
    /// Wi-Fi associations in the last 5 minutes
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub associations: u32,
    /// API reconnects in the last 5 minutes
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reconnects: u32,
    /// The access point changed since the last status push
    #[arg(long)]
    pub bssid_changed: bool,
    /// Clock skew at the last re-anchoring, milliseconds (may be negative)
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub skew_ms: Option<i64>,
}

/// `--profile`: one of the core's chips, spelled as [`Chip::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChipArg(pub Chip);

impl ValueEnum for ChipArg {
    fn value_variants<'a>() -> &'a [Self] {
        const ALL: [ChipArg; 3] = [
            ChipArg(Chip::ALL[0]),
            ChipArg(Chip::ALL[1]),
            ChipArg(Chip::ALL[2]),
        ];
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.description()))
    }
}

impl SignalArgs {
    /// The signals as the core's rules take them.
    pub fn signals(&self) -> Signals {
        Signals {
            heap_free_bytes: self.heap_free,
            heap_total_bytes: self.heap_total,
            uptime_micros: u64::try_from(self.uptime.as_micros()).unwrap_or(u64::MAX),
            wifi_associations_recent: self.associations,
            bssid_changed_since_push: self.bssid_changed,
            consecutive_renewals: self.renewals,
            last_reanchor_skew_micros: self.skew_ms.map(|ms| ms.saturating_mul(1_000)),
            reconnects_recent: self.reconnects,
        }
    }
}

/// One `--label key=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub key: String,
    pub value: String,
}

/// Checks a node name with the core's rules.
pub fn parse_node_name(s: &str) -> Result<String, String> {
    NodeName::new(s)
        .map(|n| n.as_str().to_owned())
        .map_err(|e| {
            format!("{e} (a node name is a DNS-1123 subdomain: lowercase a-z, 0-9, '-', '.')")
        })
}

/// Parses `key=value` and checks it with the core's label and NodeRestriction rules.
pub fn parse_label(s: &str) -> Result<Label, String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| "expected KEY=VALUE".to_owned())?;
    if [LABEL_HOSTNAME, LABEL_ARCH, LABEL_OS, LABEL_INSTANCE_TYPE].contains(&key) {
        return Err(format!(
            "{key} is set by picokubelet itself (from --node-name and --profile)"
        ));
    }
    validate_node_label(key, value).map_err(|e| e.to_string())?;
    Ok(Label {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

pub fn parse_lease_interval(s: &str) -> Result<Duration, String> {
    let d = parse_positive_duration(s)?;
    let lease = Duration::from_secs(u64::from(DEFAULT_LEASE_DURATION_SECONDS));
    if d >= lease {
        return Err(format!(
            "must be shorter than the {DEFAULT_LEASE_DURATION_SECONDS} s lease duration, or the node flaps to NotReady"
        ));
    }
    Ok(d)
}

pub fn parse_time(s: &str) -> Result<UnixMicros, String> {
    parse_rfc3339(s.as_bytes()).map_err(|e| format!("{e:?} (expected e.g. 2026-11-24T13:04:12Z)"))
}

pub fn parse_boot_random(s: &str) -> Result<[u8; 16], String> {
    let bad = || "expected 32 hex digits".to_owned();
    if s.len() != 32 || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = s.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

impl NodeArgs {
    /// Checks what a single flag cannot: the number of labels and repeated keys.
    pub fn validate(&self) -> Result<(), String> {
        if self.labels.len() > MAX_EXTRA_LABELS {
            return Err(format!(
                "{} --label flags given, at most {MAX_EXTRA_LABELS} allowed",
                self.labels.len()
            ));
        }
        for (i, l) in self.labels.iter().enumerate() {
            if self.labels.iter().take(i).any(|e| e.key == l.key) {
                return Err(format!("--label {} is given twice", l.key));
            }
        }
        Ok(())
    }

    /// The core's profile of the board `name` (no InternalIP when `internal_ip` is `None`),
    /// with the extra labels `labels` ([`Self::label_pairs`], kept by the caller).
    pub fn node_profile<'a>(
        &self,
        name: NodeName<'a>,
        ids: NodeIds,
        internal_ip: Option<Ipv4Addr>,
        labels: &'a [(&'a str, &'a str)],
    ) -> NodeProfile<'a> {
        let ip = internal_ip.unwrap_or(Ipv4Addr::LOCALHOST);
        let mut profile = NodeProfile::for_chip(self.profile.0, name, ids, ip);
        profile.internal_ip = internal_ip;
        profile.extra_labels = labels;
        profile
    }

    /// The labels as the core takes them.
    pub fn label_pairs(&self) -> Vec<(&str, &str)> {
        self.labels
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_str()))
            .collect()
    }
}

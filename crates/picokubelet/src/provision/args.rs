//! The flags of `picokubelet provision`. The kubeconfig flags, node names and labels are parsed
//! exactly as for `run`; the Wi-Fi password has no flag on purpose (it would show in `ps`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use picokubelet_core::provision::{MAX_INTERVAL_SECS, MIN_INTERVAL_SECS};

use crate::args::{parse_label, parse_node_name, ChipArg, ClusterArgs, Label};

/// `picokubelet provision`: the configuration record a board reads from its `pkconfig` flash
/// partition, so one firmware image serves a fleet.
#[derive(Clone, Debug, Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The API server as the board dials it, HOST or HOST:PORT ([v6]:PORT for IPv6), instead
    /// of the kubeconfig's (required when the kubeconfig names a loopback address, as k3s's
    /// does)
    #[arg(long, value_name = "HOST[:PORT]")]
    pub api_host: Option<String>,
    /// kubelet TLS bootstrap: a file holding a bootstrap token (ID.SECRET, as `kubeadm token
    /// create` prints it). Every board flashed with the record asks the cluster for its own
    /// client certificate (CN system:node:<its name>), so one record serves a fleet; the
    /// kubeconfig's own credentials are not written
    #[arg(long, value_name = "PATH")]
    pub bootstrap_token_file: Option<PathBuf>,
    /// kubelet TLS bootstrap with a token made here: creates a bootstrap token (the
    /// kube-system/bootstrap-token-<id> Secret `kubeadm token create` writes) with the
    /// kubeconfig's credentials — an exec plugin's (EKS, GKE, AKS) included, run on this
    /// host — and writes it with the hash of the kubeconfig's CA; each board then asks for
    /// its own certificate. The kubeconfig's credentials are not written
    #[arg(long, conflicts_with_all = ["bootstrap_token_file", "discovery_token_ca_cert_hash"])]
    pub mint_bootstrap_token: bool,
    /// With --mint-bootstrap-token: how long the token joins boards (kubeadm's default, 24h);
    /// a board that has its certificate no longer needs it
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_token_ttl, requires = "mint_bootstrap_token")]
    pub token_ttl: Duration,
    /// With --bootstrap-token-file and --api-host, instead of a kubeconfig: the CA's
    /// public-key hash (`sha256:<64 hex>`, as `kubeadm token create --print-join-command`
    /// prints it); the board reads the CA from kube-public/cluster-info and checks it
    #[arg(
        long,
        value_name = "sha256:HEX",
        requires = "bootstrap_token_file",
        requires = "api_host",
        conflicts_with = "insecure_skip_tls_verify"
    )]
    pub discovery_token_ca_cert_hash: Option<String>,
    /// Wi-Fi network to join [default: none, the board uses Ethernet]
    #[arg(long, value_name = "SSID")]
    pub wifi_ssid: Option<String>,
    /// File holding the Wi-Fi password (one trailing newline is ignored) [default:
    /// $PK_WIFI_PASSWORD]
    #[arg(long, value_name = "PATH", requires = "wifi_ssid")]
    pub wifi_password_file: Option<PathBuf>,
    /// The Wi-Fi network is open (no password)
    #[arg(long, requires = "wifi_ssid", conflicts_with = "wifi_password_file")]
    pub wifi_open: bool,
    /// Node name, a DNS-1123 subdomain [default: the board derives <chip>-<mac> from its MAC]
    #[arg(long, value_name = "NAME", value_parser = parse_node_name)]
    pub node_name: Option<String>,
    /// Board profile [default: the chip the firmware was built for]
    #[arg(long, value_enum)]
    pub profile: Option<ChipArg>,
    /// Extra node label (repeatable, at most 4); NodeRestriction's rules apply
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<Label>,
    /// Lease renewal period, whole seconds, e.g. 10s [default: the firmware's, 10 s]
    #[arg(long, value_name = "DURATION", value_parser = parse_interval_secs)]
    pub lease_renew_interval: Option<u32>,
    /// Status report period, whole seconds, e.g. 5m [default: the firmware's, 5 min]
    #[arg(long, value_name = "DURATION", value_parser = parse_interval_secs)]
    pub status_interval: Option<u32>,
    /// What to write: the whole partition image (8192 bytes, padded with 0xFF as erased
    /// flash) or the record bytes alone
    #[arg(long, value_enum, default_value_t = OutputFormat::Partition)]
    pub format: OutputFormat,
    /// Output file (written with mode 0600: it holds the token and the Wi-Fi password)
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Overwrite --out if it exists
    #[arg(long)]
    pub force: bool,
}

/// The shape of the output file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The `pkconfig` partition image: the record, then 0xFF up to the partition size
    Partition,
    /// The record bytes only
    Record,
}

/// A token lifetime: at least a minute (a board must get to its first request), at most a
/// year.
pub fn parse_token_ttl(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(60) || d > Duration::from_secs(365 * 86_400) {
        return Err(format!(
            "must be 1m to 365d, not {}",
            humantime::format_duration(d)
        ));
    }
    Ok(d)
}

/// A period in whole seconds within the record's bounds: `90`, `90s`, `1m30s`.
pub fn parse_interval_secs(text: &str) -> Result<u32, String> {
    let duration = if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        Duration::from_secs(text.parse::<u64>().map_err(|e| e.to_string())?)
    } else {
        humantime::parse_duration(text).map_err(|e| e.to_string())?
    };
    if duration.subsec_nanos() != 0 {
        return Err("must be whole seconds (the record stores seconds)".into());
    }
    let secs = duration.as_secs();
    u32::try_from(secs)
        .ok()
        .filter(|s| (MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(s))
        .ok_or_else(|| {
            format!(
                "must be {MIN_INTERVAL_SECS} s to {MAX_INTERVAL_SECS} s (one day), not {secs} s"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::parse_interval_secs;

    #[test]
    fn intervals_are_whole_seconds_within_a_day() {
        assert_eq!(parse_interval_secs("10"), Ok(10));
        assert_eq!(parse_interval_secs("10s"), Ok(10));
        assert_eq!(parse_interval_secs("1m30s"), Ok(90));
        assert_eq!(parse_interval_secs("24h"), Ok(86_400));
        assert!(parse_interval_secs("0").is_err());
        assert!(parse_interval_secs("0s").is_err());
        assert!(parse_interval_secs("1500ms").is_err());
        assert!(parse_interval_secs("24h1s").is_err());
        assert!(parse_interval_secs("99999999999999999999").is_err());
        assert!(parse_interval_secs("").is_err());
        assert!(parse_interval_secs("ten").is_err());
    }
}

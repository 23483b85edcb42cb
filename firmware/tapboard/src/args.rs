//! The tap board's command line and environment.
//!
//! The flash: `--flash FILE` (a whole flash image: `espflash read-flash`, `save-image
//! --merge`), else the firmware's partition table (or `--partition-table CSV`) with
//! `--pkconfig FILE` (what `picokubelet provision` wrote) in the `pkconfig` partition, or
//! erased without it. The defaults a chip image takes from its build environment come from the
//! process environment, under the same names (`PK_API_HOST`, `PK_TLS_SERVER_NAME`,
//! `PK_CA_PEM_FILE` / `PK_CA_B64`, `PK_NODE_NAME`, `PK_NODE_TOKEN`, `PK_WIFI_SSID`,
//! `PK_WIFI_PASSWORD`); unlike an image, no Wi-Fi network is assumed without `PK_WIFI_SSID`.

use std::ffi::OsString;
use std::path::PathBuf;

use picokubelet_core::{k8s::chip::Chip, provision::WifiCredentials};
use picokubelet_firmware_body::config::BuildDefaults;

use crate::flash::FlashImage;

pub const USAGE: &str = "\
usage: picokubelet-tapboard [--ethernet TAP] [--wifi TAP] [--mac aa:bb:cc:dd:ee:ff]
                            [--profile esp32c6|esp32c3|esp32s3]
                            [--flash FILE | [--partition-table CSV] [--pkconfig FILE]]
                            [--heap-report-secs N] [--starve-after-secs N]
The board's defaults come from PK_API_HOST, PK_TLS_SERVER_NAME, PK_CA_PEM_FILE or PK_CA_B64,
PK_NODE_NAME, PK_NODE_TOKEN, PK_WIFI_SSID and PK_WIFI_PASSWORD (see firmware/README.md).";

/// The firmware's partition table (`espflash --partition-table firmware/partitions.csv`).
pub const FIRMWARE_PARTITIONS_CSV: &str = include_str!("../../partitions.csv");

/// The base MAC when none is given: locally administered, "pk" 00 00 01.
pub const DEFAULT_MAC: [u8; 6] = [0x02, 0x70, 0x6b, 0x00, 0x00, 0x01];

/// What the board is started with.
#[derive(Debug, Default)]
pub struct Args {
    pub ethernet: Option<String>,
    pub wifi: Option<String>,
    pub mac: Option<[u8; 6]>,
    pub profile: Option<Chip>,
    pub flash: Option<PathBuf>,
    pub partition_table: Option<PathBuf>,
    pub pkconfig: Option<PathBuf>,
    /// How often the heap figures are printed (default 60 s).
    pub heap_report_secs: Option<u64>,
    /// A fault for the harness: after this long a task blocks the executor's thread for good,
    /// so the watchdog's feeder starves (`scripts/tap-board.sh` checks the watchdog trips).
    pub starve_after_secs: Option<u64>,
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
        let mut parsed = Args::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let flag = flag
                .into_string()
                .map_err(|f| format!("argument {f:?} is not UTF-8"))?;
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.to_owned());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let text = || {
                value
                    .clone()
                    .into_string()
                    .map_err(|v| format!("{flag} {v:?} is not UTF-8"))
            };
            match flag.as_str() {
                "--ethernet" => parsed.ethernet = Some(text()?),
                "--wifi" => parsed.wifi = Some(text()?),
                "--mac" => parsed.mac = Some(parse_mac(&text()?)?),
                "--profile" => parsed.profile = Some(parse_chip(&text()?)?),
                "--flash" => parsed.flash = Some(value.into()),
                "--partition-table" => parsed.partition_table = Some(value.into()),
                "--pkconfig" => parsed.pkconfig = Some(value.into()),
                "--heap-report-secs" => {
                    parsed.heap_report_secs = Some(parse_secs(&flag, &text()?)?)
                }
                "--starve-after-secs" => {
                    parsed.starve_after_secs = Some(parse_secs(&flag, &text()?)?)
                }
                other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
            }
        }
        if parsed.flash.is_some() && (parsed.partition_table.is_some() || parsed.pkconfig.is_some())
        {
            return Err(
                "--flash is a whole flash image: it excludes --partition-table and --pkconfig"
                    .into(),
            );
        }
        if parsed.ethernet.is_none() && parsed.wifi.is_none() {
            return Err(format!("give --ethernet TAP and/or --wifi TAP\n{USAGE}"));
        }
        Ok(parsed)
    }

    /// The board's flash as these arguments describe it.
    pub fn flash_image(&self) -> Result<FlashImage, String> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
        };
        if let Some(path) = &self.flash {
            // The identity store's writes go back to the file: the next run is a reboot.
            return FlashImage::from_file(path)
                .map_err(|e| format!("reading {}: {e}", path.display()));
        }
        let csv = match &self.partition_table {
            Some(path) => String::from_utf8(read(path)?)
                .map_err(|_| format!("{} is not UTF-8 text", path.display()))?,
            None => FIRMWARE_PARTITIONS_CSV.to_owned(),
        };
        let pkconfig = self.pkconfig.as_ref().map(read).transpose()?;
        FlashImage::provisioned(&csv, pkconfig.as_deref()).map_err(|e| e.to_string())
    }
}

/// `aa:bb:cc:dd:ee:ff`, unicast.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bad = || format!("MAC '{text}' is not six hex bytes aa:bb:cc:dd:ee:ff");
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if mac[0] & 1 != 0 {
        return Err(format!("MAC '{text}' is a multicast address"));
    }
    Ok(mac)
}

/// Whole seconds, at least 1.
fn parse_secs(flag: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .ok()
        .filter(|&secs| secs > 0)
        .ok_or_else(|| format!("{flag} {text}: give whole seconds, at least 1"))
}

fn parse_chip(text: &str) -> Result<Chip, String> {
    match text {
        "esp32c6" => Ok(Chip::Esp32c6),
        "esp32c3" => Ok(Chip::Esp32c3),
        "esp32s3" => Ok(Chip::Esp32s3),
        other => Err(format!(
            "profile '{other}' is not esp32c6, esp32c3 or esp32s3"
        )),
    }
}

/// The defaults from `env` (the process environment in `main`), leaked: the board keeps them
/// for its lifetime, as an image keeps its constants.
pub fn defaults(env: impl Fn(&str) -> Option<String>) -> Result<BuildDefaults, String> {
    let leak = |value: String| -> &'static str { Box::leak(value.into_boxed_str()) };
    let var = |name: &str| env(name).map(leak);
    let cluster_ca: &'static [u8] = match (env("PK_CA_PEM_FILE"), env("PK_CA_B64")) {
        (Some(path), _) if !path.is_empty() => Box::leak(
            std::fs::read(&path)
                .map_err(|e| format!("PK_CA_PEM_FILE={path}: {e}"))?
                .into_boxed_slice(),
        ),
        (_, Some(b64)) => leak(b64).as_bytes(),
        _ => &[],
    };
    let wifi = var("PK_WIFI_SSID").map(|ssid| WifiCredentials {
        ssid,
        password: var("PK_WIFI_PASSWORD").unwrap_or(""),
    });
    Ok(BuildDefaults {
        wifi,
        api_host: var("PK_API_HOST"),
        tls_server_name: var("PK_TLS_SERVER_NAME"),
        node_name: var("PK_NODE_NAME"),
        node_token: var("PK_NODE_TOKEN"),
        cluster_ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        Args::parse(list.iter().map(OsString::from))
    }

    #[test]
    fn a_whole_flash_excludes_its_parts() {
        let err = args(&[
            "--ethernet",
            "tap0",
            "--flash",
            "f.bin",
            "--pkconfig",
            "p.bin",
        ])
        .expect_err("both");
        assert!(err.contains("excludes"), "{err}");
    }

    #[test]
    fn an_uplink_is_required() {
        assert!(args(&["--pkconfig", "p.bin"]).is_err());
        let parsed = args(&["--wifi", "tapw", "--mac", "02:00:00:00:00:07"]).expect("valid");
        assert_eq!(parsed.wifi.as_deref(), Some("tapw"));
        assert_eq!(parsed.mac, Some([2, 0, 0, 0, 0, 7]));
    }

    #[test]
    fn periods_are_whole_positive_seconds() {
        let parsed = args(&["--wifi", "t", "--heap-report-secs", "5"]).expect("valid");
        assert_eq!(parsed.heap_report_secs, Some(5));
        for bad in ["0", "-1", "1.5", "x"] {
            assert!(
                args(&["--wifi", "t", "--starve-after-secs", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn macs_are_six_unicast_bytes() {
        assert_eq!(parse_mac("02:70:6b:00:00:01"), Ok(DEFAULT_MAC));
        for bad in [
            "02:70:6b:00:00",
            "02:70:6b:00:00:01:02",
            "0g:00:00:00:00:00",
            "01:00:00:00:00:00",
            "2:70:6b:00:00:01",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_come_from_the_pk_variables() {
        let env = |name: &str| match name {
            "PK_API_HOST" => Some("api.example".to_owned()),
            "PK_CA_B64" => Some("LS0t".to_owned()),
            "PK_WIFI_SSID" => Some("lab".to_owned()),
            _ => None,
        };
        let defaults = defaults(env).expect("no file to read");
        assert_eq!(defaults.api_host, Some("api.example"));
        assert_eq!(defaults.cluster_ca, b"LS0t");
        assert_eq!(defaults.node_token, None);
        let wifi = defaults.wifi.expect("an SSID was given");
        assert_eq!((wifi.ssid, wifi.password), ("lab", ""));
    }
}

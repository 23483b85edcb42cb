//! The board's configuration: the provisioning record in the `pkconfig` flash partition, else
//! the compile-time defaults (the `PK_*` build environment). The decision itself is pure and
//! lives in [`select`]; this module reads the flash, builds the compile-time defaults and logs.
//!
//! Flash content is untrusted input: it only ever reaches the core's fuzzed parser
//! (`picokubelet_core::provision::parse`), through a fixed 8 KiB buffer.

pub mod select;

use embedded_storage::ReadStorage;
use esp_bootloader_esp_idf::partitions::{read_partition_table, PARTITION_TABLE_MAX_LEN};
use esp_hal::peripherals::FLASH;
use esp_println::println;
use esp_storage::FlashStorage;
use picokubelet_core::{
    http::request::BearerToken,
    k8s::name::NameError,
    provision::{ProvisionRecord, RecordError, WifiCredentials, MAX_RECORD_LEN},
    tls::{decode_ca, CaError, ServerTrust, CA_DER_MAX},
};
use static_cell::ConstStaticCell;

use select::{
    apply_compiled_node_name, choose, is_config_partition, Choice, CompiledDefaults,
    DefaultsBecause, NameSource, PartitionRead, Trouble,
};

/// Compile-time setting with a default: `env_or!("NAME", "default")`.
macro_rules! env_or {
    ($name:literal, $default:expr) => {
        match option_env!($name) {
            Some(value) => value,
            None => $default,
        }
    };
}

/// The compile-time defaults (see the README's table).
pub mod build_env {
    pub const WIFI_SSID: &str = env_or!("PK_WIFI_SSID", "picokubelet");
    pub const WIFI_PASSWORD: &str = env_or!("PK_WIFI_PASSWORD", "picokubelet");
    /// `None` when the build did not set it; the placeholder host is used then.
    pub const API_HOST: Option<&str> = option_env!("PK_API_HOST");
    pub const API_HOST_PLACEHOLDER: &str = "kubernetes.local";
    /// The name the server certificate must carry, when it differs from the host.
    pub const TLS_SERVER_NAME: Option<&str> = option_env!("PK_TLS_SERVER_NAME");
    /// The Node's name; without it (and without one in the record) it is derived from the MAC.
    pub const NODE_NAME: Option<&str> = option_env!("PK_NODE_NAME");
    /// Bearer token of the node identity.
    pub const NODE_TOKEN: Option<&str> = option_env!("PK_NODE_TOKEN");
    /// The cluster CA as configured at build time (see build.rs): PEM, DER or base64 of PEM;
    /// empty when none was given.
    pub static CLUSTER_CA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cluster-ca"));
}

/// The record as read from flash: exactly `MAX_RECORD_LEN` (8 KiB, the size of the
/// partition). A larger partition is read only up to this; the parser refuses a record whose
/// header claims more (`BadLength`). Static because the parsed record borrows it for good.
static RECORD_BYTES: ConstStaticCell<[u8; MAX_RECORD_LEN]> =
    ConstStaticCell::new([0; MAX_RECORD_LEN]);
/// The compiled-in CA after PEM decoding: `CA_DER_MAX` (2 KiB); a longer one is refused by
/// `decode_ca` (`CaError`).
static CA_DER: ConstStaticCell<[u8; CA_DER_MAX]> = ConstStaticCell::new([0; CA_DER_MAX]);
/// Placeholder when the build has no token: the record type needs one; [`Settings::send_token`]
/// keeps it off the wire.
const NO_TOKEN: &str = "none";

/// What the firmware runs with.
pub struct Settings {
    /// The record from flash, or the compile-time defaults in record form.
    pub record: ProvisionRecord<'static>,
    /// False only for compile-time defaults without `PK_NODE_TOKEN`: the agent then sends no
    /// `Authorization` header (the server answers 401, the LED shows AuthFailed).
    pub send_token: bool,
    /// The flash configuration was unusable and the defaults stand in (LED: Warning).
    pub degraded: bool,
    pub name_source: NameSource,
}

/// Why the firmware will not run.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the payloads are read through Debug when main logs the refusal"
)]
pub enum Refusal {
    /// The flash record is unusable and the defaults are incomplete.
    Flash {
        trouble: Trouble,
        missing: &'static str,
    },
    /// Defaults without a usable CA (no record to take one from).
    NoCa(CaError),
    /// The compile-time defaults do not form a valid record (a bad host, Wi-Fi password…).
    InvalidDefaults(RecordError),
    /// `PK_NODE_NAME` is not a valid node name.
    NodeName(NameError),
}

/// Reads the `pkconfig` partition and decides what to run with; logs every step. `FLASH` is
/// released again when this returns (nothing writes the flash).
pub fn load(flash: FLASH<'static>) -> Result<Settings, Refusal> {
    let compiled_ca = decode_ca(build_env::CLUSTER_CA, CA_DER.take());
    let defaults = CompiledDefaults {
        api_host: build_env::API_HOST.is_some(),
        ca: compiled_ca.is_ok(),
        token: build_env::NODE_TOKEN.is_some(),
    };
    let read = read_partition(flash);
    let (mut record, send_token, degraded) = match choose(read, defaults) {
        Choice::Record(record) => {
            println!(
                "config: provisioning record from flash (server {}:{})",
                record.host, record.port
            );
            (record, true, false)
        }
        Choice::Refuse(trouble) => {
            log_trouble(&trouble);
            let missing = defaults.missing().unwrap_or("?");
            println!(
                "config: the build's defaults lack {} — NOT RUNNING; provision the board again",
                missing
            );
            return Err(Refusal::Flash { trouble, missing });
        }
        other => {
            match other {
                Choice::Defaults(DefaultsBecause::Erased) => {
                    println!("config: pkconfig partition is erased: compile-time defaults")
                }
                Choice::Defaults(DefaultsBecause::NoPartition) => println!(
                    "config: no pkconfig partition in the partition table: compile-time defaults"
                ),
                Choice::DefaultsDespite(trouble) => {
                    log_trouble(&trouble);
                    println!("config: running with the (complete) compile-time defaults instead");
                }
                _ => {}
            }
            let ca = compiled_ca.map_err(|e| {
                if build_env::CLUSTER_CA.is_empty() {
                    println!("config: no cluster CA compiled in (set PK_CA_PEM_FILE or PK_CA_B64 at build time) and no record");
                } else {
                    println!("config: the compiled-in cluster CA does not decode: {:?}", e);
                }
                Refusal::NoCa(e)
            })?;
            let record = defaults_record(ca);
            record.validate().map_err(|e| {
                println!("config: the build's PK_* settings are invalid: {}", e);
                Refusal::InvalidDefaults(e)
            })?;
            if build_env::NODE_TOKEN.is_none() {
                println!(
                    "config: no PK_NODE_TOKEN compiled in: the server will refuse the agent (401)"
                );
            }
            let degraded = matches!(other, Choice::DefaultsDespite(_));
            (record, build_env::NODE_TOKEN.is_some(), degraded)
        }
    };
    let name_source = apply_compiled_node_name(&mut record, build_env::NODE_NAME).map_err(|e| {
        println!("config: PK_NODE_NAME is not a valid node name: {}", e);
        Refusal::NodeName(e)
    })?;
    if matches!(record.trust, ServerTrust::InsecureSkipVerify) {
        println!(
            "config: WARNING: insecure-skip-tls-verify: the server certificate is NOT verified"
        );
    }
    Ok(Settings {
        record,
        send_token,
        degraded,
        name_source,
    })
}

fn log_trouble(trouble: &Trouble) {
    match trouble {
        Trouble::Unreadable => println!("config: ERROR: the pkconfig partition could not be read"),
        Trouble::Corrupt(e) => {
            println!(
                "config: ERROR: the provisioning record in flash is INVALID: {}",
                e
            )
        }
    }
}

/// The compile-time defaults as a record (port 6443, the board's own profile).
fn defaults_record(ca_der: &'static [u8]) -> ProvisionRecord<'static> {
    let host = build_env::API_HOST.unwrap_or(build_env::API_HOST_PLACEHOLDER);
    let token = BearerToken::new(build_env::NODE_TOKEN.unwrap_or(NO_TOKEN));
    let mut record = ProvisionRecord::new(host, ServerTrust::Ca(ca_der), token);
    record.wifi = Some(WifiCredentials {
        ssid: build_env::WIFI_SSID,
        password: build_env::WIFI_PASSWORD,
    });
    record.tls_server_name = build_env::TLS_SERVER_NAME;
    record
}

/// Finds `pkconfig` through the partition table and reads its first `MAX_RECORD_LEN` bytes.
fn read_partition(flash: FLASH<'static>) -> PartitionRead<'static> {
    let mut flash = FlashStorage::new(flash);
    // 3 KiB on the stack of this (synchronous) call only.
    let mut table_bytes = [0u8; PARTITION_TABLE_MAX_LEN];
    let table = match read_partition_table(&mut flash, &mut table_bytes) {
        Ok(table) => table,
        Err(e) => {
            println!("config: partition table unreadable: {:?}", e);
            return PartitionRead::ReadFailed;
        }
    };
    // Never `find_partition`/`partition_type()`: they panic on a custom subtype.
    let Some(entry) = table
        .iter()
        .find(|entry| is_config_partition(entry.raw_type(), entry.label()))
    else {
        return PartitionRead::NoPartition;
    };
    println!(
        "config: pkconfig partition at {:#x}, {} bytes (subtype {:#04x})",
        entry.offset(),
        entry.len(),
        entry.raw_subtype()
    );
    let len = usize::try_from(entry.len())
        .unwrap_or(usize::MAX)
        .min(MAX_RECORD_LEN);
    let bytes: &'static mut [u8; MAX_RECORD_LEN] = RECORD_BYTES.take();
    let Some(dest) = bytes.get_mut(..len) else {
        return PartitionRead::ReadFailed;
    };
    let mut region = entry.as_embedded_storage(&mut flash);
    match region.read(0, dest) {
        Ok(()) => PartitionRead::Contents(dest),
        Err(e) => {
            println!("config: reading pkconfig failed: {:?}", e);
            PartitionRead::ReadFailed
        }
    }
}

//! The board's configuration: the provisioning record in the `pkconfig` flash partition, else
//! the build's defaults ([`BuildDefaults`]: the `PK_*` environment of an image build). The
//! decision itself is pure and lives in [`select`]; this module reads the flash (any
//! `embedded_storage::ReadStorage`, found through the partition table), builds the defaults'
//! record and logs.
//!
//! Flash content is untrusted input: it only ever reaches the core's fuzzed parser
//! (`picokubelet_core::provision::parse`), through a fixed 8 KiB buffer.

pub mod select;

use embedded_storage::{ReadStorage, Storage};
use esp_bootloader_esp_idf::partitions::{read_partition_table, PARTITION_TABLE_MAX_LEN};
use picokubelet_core::{
    http::request::BearerToken,
    k8s::name::NameError,
    log_text::Said,
    provision::{ProvisionRecord, RecordError, WifiCredentials, MAX_RECORD_LEN},
    tls::{decode_ca, CaError, ServerTrust, CA_DER_MAX},
};

use select::{
    apply_compiled_node_name, choose, is_config_partition, Choice, CompiledDefaults,
    DefaultsBecause, NameSource, PartitionRead, Trouble,
};

/// Host the defaults use when the build named none: a placeholder that counts as unset.
pub const API_HOST_PLACEHOLDER: &str = "kubernetes.local";

/// The defaults a board falls back to (see the README's precedence table): on a chip the
/// image's compile-time `PK_*` settings, on the tap board its command line.
#[derive(Clone, Copy, Debug)]
pub struct BuildDefaults {
    /// Wi-Fi network; `None`: Ethernet only.
    pub wifi: Option<WifiCredentials<'static>>,
    /// API server host; `None`: the placeholder (the defaults are then incomplete).
    pub api_host: Option<&'static str>,
    /// The name the server certificate must carry, when it differs from the host.
    pub tls_server_name: Option<&'static str>,
    /// The Node's name; without it (and without one in the record) it is derived from the MAC.
    pub node_name: Option<&'static str>,
    /// Bearer token of the node identity.
    pub node_token: Option<&'static str>,
    /// The cluster CA: PEM, DER or base64 of PEM; empty when none was given.
    pub cluster_ca: &'static [u8],
}

/// What the configuration is read into; `'static` because the parsed record borrows it for
/// good (a chip keeps it in a static, see `crate::bringup::configuration`).
pub struct ConfigBuffers {
    /// The record as read from flash: exactly `MAX_RECORD_LEN` (8 KiB, the size of the
    /// partition). A larger partition is read only up to this; the parser refuses a record
    /// whose header claims more (`BadLength`).
    record: [u8; MAX_RECORD_LEN],
    /// The defaults' CA after PEM decoding: `CA_DER_MAX` (2 KiB); a longer one is refused by
    /// `decode_ca` (`CaError`).
    ca_der: [u8; CA_DER_MAX],
}

impl ConfigBuffers {
    pub const fn new() -> Self {
        ConfigBuffers {
            record: [0; MAX_RECORD_LEN],
            ca_der: [0; CA_DER_MAX],
        }
    }
}

impl Default for ConfigBuffers {
    fn default() -> Self {
        Self::new()
    }
}
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

/// What the board prints when it halts on a refusal: the derived `Debug` text, with the
/// record's and the node name's own sentences. By hand: the firmware's derived `Debug` is
/// shallow (BENCHMARKS.md "Firmware size"); `CaError` has no fields, so its name is whole.
impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Refusal::Flash { trouble, missing } => {
                let corrupt;
                let trouble: &dyn core::fmt::Debug = match trouble {
                    Trouble::Unreadable => &Said("Unreadable"),
                    Trouble::Corrupt(e) => {
                        corrupt = Said(*e);
                        &Corrupt(&corrupt)
                    }
                };
                f.debug_struct("Flash")
                    .field("trouble", trouble)
                    .field("missing", missing)
                    .finish()
            }
            Refusal::NoCa(e) => f.debug_tuple("NoCa").field(e).finish(),
            Refusal::InvalidDefaults(e) => {
                f.debug_tuple("InvalidDefaults").field(&Said(*e)).finish()
            }
            Refusal::NodeName(e) => f.debug_tuple("NodeName").field(&Said(*e)).finish(),
        }
    }
}

/// `Corrupt(…)` around the record's sentence.
struct Corrupt<'a>(&'a dyn core::fmt::Debug);

impl core::fmt::Debug for Corrupt<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Corrupt").field(self.0).finish()
    }
}

/// Reads the `pkconfig` partition of `flash` (the whole flash, partition table at its usual
/// offset) and decides what to run with `build`'s defaults as the fallback; logs every step.
/// Only reads the flash.
pub fn load<F: ReadStorage>(
    flash: &mut F,
    build: &BuildDefaults,
    buffers: &'static mut ConfigBuffers,
) -> Result<Loaded, Refusal> {
    let ConfigBuffers {
        record: record_bytes,
        ca_der,
    } = buffers;
    // Decoded here only to know whether the defaults are complete; again below when they are
    // used, so that a flash record leaves the buffer idle (`Loaded::idle_ca`).
    let compiled_ca_ok = decode_ca(build.cluster_ca, &mut *ca_der).is_ok();
    let defaults = CompiledDefaults {
        api_host: build.api_host.is_some(),
        ca: compiled_ca_ok,
        token: build.node_token.is_some(),
    };
    let read = read_partition(flash, record_bytes);
    let mut idle_ca = None;
    let (mut record, send_token, degraded) = match choose(read, defaults) {
        Choice::Record(record) => {
            println!(
                "config: provisioning record from flash (server {}:{})",
                record.host, record.port
            );
            idle_ca = Some(ca_der);
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
            let ca = decode_ca(build.cluster_ca, ca_der).map_err(|e| {
                if build.cluster_ca.is_empty() {
                    println!("config: no cluster CA compiled in (set PK_CA_PEM_FILE or PK_CA_B64 at build time) and no record");
                } else {
                    println!("config: the compiled-in cluster CA does not decode: {:?}", e);
                }
                Refusal::NoCa(e)
            })?;
            let record = defaults_record(build, ca);
            record.validate().map_err(|e| {
                println!("config: the build's PK_* settings are invalid: {}", e);
                Refusal::InvalidDefaults(e)
            })?;
            if build.node_token.is_none() {
                println!(
                    "config: no PK_NODE_TOKEN compiled in: the server will refuse the agent (401)"
                );
            }
            let degraded = matches!(other, Choice::DefaultsDespite(_));
            (record, build.node_token.is_some(), degraded)
        }
    };
    let name_source = apply_compiled_node_name(&mut record, build.node_name).map_err(|e| {
        println!("config: PK_NODE_NAME is not a valid node name: {}", e);
        Refusal::NodeName(e)
    })?;
    if record.trust == ServerTrust::InsecureSkipVerify {
        println!(
            "config: WARNING: insecure-skip-tls-verify: the server certificate is NOT verified"
        );
    }
    Ok(Loaded {
        settings: Settings {
            record,
            send_token,
            degraded,
            name_source,
        },
        idle_ca,
    })
}

/// What [`load`] gives the board.
pub struct Loaded {
    pub settings: Settings,
    /// The defaults' CA buffer (`CA_DER_MAX`, 2 KiB) when the record came from flash: nothing
    /// else uses it then, and the bootstrap keeps its certificate in it
    /// (`crate::bootstrap`).
    pub idle_ca: Option<&'static mut [u8; CA_DER_MAX]>,
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

/// The defaults as a record (port 6443, the board's own profile).
fn defaults_record(build: &BuildDefaults, ca_der: &'static [u8]) -> ProvisionRecord<'static> {
    let host = build.api_host.unwrap_or(API_HOST_PLACEHOLDER);
    let token = BearerToken::new(build.node_token.unwrap_or(NO_TOKEN));
    let mut record = ProvisionRecord::new(host, ServerTrust::Ca(ca_der), token);
    record.wifi = build.wifi;
    record.tls_server_name = build.tls_server_name;
    record
}

/// esp-bootloader-esp-idf's table reader asks for `Storage` but only reads: this lends it a
/// `ReadStorage` and refuses every write.
pub(crate) struct ReadOnly<'a, F>(pub(crate) &'a mut F);

/// What [`ReadOnly`] can fail with (the table reader maps both to its `StorageError`).
pub(crate) enum ReadOnlyError<E> {
    #[allow(dead_code, reason = "the table reader drops the flash's error")]
    Read(E),
    WriteRefused,
}

impl<F: ReadStorage> ReadStorage for ReadOnly<'_, F> {
    type Error = ReadOnlyError<F::Error>;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes).map_err(ReadOnlyError::Read)
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<F: ReadStorage> Storage for ReadOnly<'_, F> {
    fn write(&mut self, _offset: u32, _bytes: &[u8]) -> Result<(), Self::Error> {
        Err(ReadOnlyError::WriteRefused)
    }
}

/// Finds `pkconfig` through the partition table and reads its first `MAX_RECORD_LEN` bytes.
fn read_partition<F: ReadStorage>(
    flash: &mut F,
    bytes: &'static mut [u8; MAX_RECORD_LEN],
) -> PartitionRead<'static> {
    let mut flash = ReadOnly(flash);
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
    if entry.offset().checked_add(entry.len()).is_none() {
        // The bootloader crate adds them unchecked; a table entry past 4 GiB is corrupt.
        println!("config: the pkconfig entry ends beyond 4 GiB: partition table corrupt");
        return PartitionRead::ReadFailed;
    }
    let len = usize::try_from(entry.len())
        .unwrap_or(usize::MAX)
        .min(MAX_RECORD_LEN);
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

//! Which configuration the board runs with — the pure decision, no hardware.
//!
//! Inputs: what reading the `pkconfig` flash partition gave ([`PartitionRead`]) and whether the
//! compile-time defaults (the `PK_*` build environment) are complete ([`CompiledDefaults`]).
//! Output: a [`Choice`]. The rules, in order:
//!
//! 1. A record that parses (`picokubelet_core::provision::parse`) wins over everything.
//! 2. No `pkconfig` partition in the table, or a partition that is erased (every byte read is
//!    0xFF): the compile-time defaults, whatever they hold (the board was never provisioned).
//! 3. A record that does not parse, or a partition that could not be read: loud trouble. The
//!    compile-time defaults are used only when they are complete (API host, CA and token were
//!    all given at build time); otherwise the board refuses to run (and stays refused: the
//!    flash will not change by itself, so there is nothing to retry).
//!
//! The node name: the record's, else the compile-time `PK_NODE_NAME`, else derived from the MAC
//! by the core (`<chip>-<mac>`); see [`apply_compiled_node_name`].
//!
//! This file is also compiled on the host by `firmware/host-tests` (it names no esp-hal item).

use picokubelet_core::{
    k8s::name::{NameError, NodeName},
    provision::{parse, ProvisionRecord, RecordError},
};

/// What reading the `pkconfig` partition gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionRead<'a> {
    /// The partition table has no `pkconfig` entry (flashed with espflash's default table).
    NoPartition,
    /// The partition table or the partition could not be read (flash error, invalid table).
    ReadFailed,
    /// The partition's first bytes (at most `config::MAX_RECORD_LEN`; fewer if it is smaller).
    Contents(&'a [u8]),
}

/// Why the flash configuration could not be used although something was there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// The partition table or the partition could not be read.
    Unreadable,
    /// The partition holds something that is not a valid record (bad magic, CRC, a field…).
    Corrupt(RecordError),
}

/// Why the compile-time defaults are used without any trouble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultsBecause {
    /// No `pkconfig` partition in the partition table.
    NoPartition,
    /// The partition is erased: never provisioned.
    Erased,
}

/// The decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once at boot and consumed at once; boxing would need the heap"
)]
pub enum Choice<'a> {
    /// Run with the flash record.
    Record(ProvisionRecord<'a>),
    /// Run with the compile-time defaults; nothing is wrong.
    Defaults(DefaultsBecause),
    /// The flash configuration is unusable, the compile-time defaults are complete: run with
    /// them, but say so loudly (log and LED).
    DefaultsDespite(Trouble),
    /// The flash configuration is unusable and the defaults are incomplete: do not run.
    Refuse(Trouble),
}

/// What the build environment provided, as far as completeness goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompiledDefaults {
    /// `PK_API_HOST` was set (its fallback `kubernetes.local` is a placeholder).
    pub api_host: bool,
    /// A cluster CA was compiled in and decodes.
    pub ca: bool,
    /// `PK_NODE_TOKEN` was set.
    pub token: bool,
}

impl CompiledDefaults {
    /// The first thing the defaults lack, for the log; `None` when they are complete.
    pub fn missing(&self) -> Option<&'static str> {
        if !self.api_host {
            Some("PK_API_HOST")
        } else if !self.ca {
            Some("a cluster CA (PK_CA_PEM_FILE or PK_CA_B64)")
        } else if !self.token {
            Some("PK_NODE_TOKEN")
        } else {
            None
        }
    }

    /// Every setting a board needs to talk to the server was given at build time.
    pub fn is_complete(&self) -> bool {
        self.missing().is_none()
    }
}

/// Label of the configuration partition in `partitions.csv`.
pub const PARTITION_LABEL: &[u8] = picokubelet_core::provision::PARTITION_NAME.as_bytes();
/// Raw partition type "data".
pub const PARTITION_TYPE_DATA: u8 = 1;

/// Whether a partition-table entry (raw type byte, 16-byte label field padded with NUL or
/// 0xFF) is the configuration partition. Matched on raw bytes and not on the subtype:
/// esp-bootloader-esp-idf's `partition_type()` panics on custom subtypes, so a table that
/// gives `pkconfig` one (ours uses `undefined`, see `partitions.csv`) must still be readable.
pub fn is_config_partition(raw_type: u8, label: &[u8]) -> bool {
    raw_type == PARTITION_TYPE_DATA
        && label.split(|&b| b == 0 || b == 0xFF).next() == Some(PARTITION_LABEL)
}

/// Every byte is 0xFF (NOR flash after an erase). An empty slice is not "erased": there was
/// nothing to look at.
pub fn is_erased(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| b == 0xFF)
}

/// Applies the rules of the module documentation.
pub fn choose(read: PartitionRead<'_>, defaults: CompiledDefaults) -> Choice<'_> {
    let trouble = match read {
        PartitionRead::NoPartition => return Choice::Defaults(DefaultsBecause::NoPartition),
        PartitionRead::Contents(bytes) if is_erased(bytes) => {
            return Choice::Defaults(DefaultsBecause::Erased)
        }
        PartitionRead::Contents(bytes) => match parse(bytes) {
            Ok(record) => return Choice::Record(record),
            Err(e) => Trouble::Corrupt(e),
        },
        PartitionRead::ReadFailed => Trouble::Unreadable,
    };
    if defaults.is_complete() {
        Choice::DefaultsDespite(trouble)
    } else {
        Choice::Refuse(trouble)
    }
}

/// Where the node name comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameSource {
    /// The record's node-name field.
    Record,
    /// `PK_NODE_NAME` of the build.
    Compiled,
    /// Derived from the MAC by `ProvisionRecord::agent_strings` (`<chip>-<mac>`).
    Derived,
}

/// Fills in the compile-time node name when the record has none, so that the core's
/// `agent_strings` picks record → compiled → derived. A compiled name that is not a valid node
/// name is an error (the build was misconfigured), not a silent fallback to the derived one.
pub fn apply_compiled_node_name<'a>(
    record: &mut ProvisionRecord<'a>,
    compiled: Option<&'a str>,
) -> Result<NameSource, NameError> {
    if record.node_name.is_some() {
        return Ok(NameSource::Record);
    }
    match compiled {
        Some(name) => {
            record.node_name = Some(NodeName::new(name)?);
            Ok(NameSource::Compiled)
        }
        None => Ok(NameSource::Derived),
    }
}

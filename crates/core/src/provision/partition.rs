//! Where the record lives on a board: the `pkconfig` data partition of `firmware/partitions.csv`.
//! `picokubelet provision` writes images of it, the firmware finds it by this label.
use super::record::MAX_RECORD_LEN;

/// The partition's label.
pub const PARTITION_NAME: &str = "pkconfig";
/// Its flash offset.
pub const PARTITION_OFFSET: u32 = 0xd000;
/// Its size: exactly the largest record.
pub const PARTITION_SIZE: usize = 0x2000;
const _: () = assert!(PARTITION_SIZE == MAX_RECORD_LEN);

/// The label of the partition that holds the identity a board got through TLS bootstrap (the
/// bootstrap module's store, which checks that its two slots fill this size exactly).
pub const IDENTITY_PARTITION_NAME: &str = "pkident";
/// Its flash offset: the last 8 KiB of a 4 MiB flash.
pub const IDENTITY_PARTITION_OFFSET: u32 = 0x3f_0000;
/// Its size: the store's two 4 KiB slots.
pub const IDENTITY_PARTITION_SIZE: u32 = 0x2000;

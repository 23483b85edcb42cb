//! The board's flash as a file: a [`FlashImage`] is what a board's SPI flash holds after
//! `espflash flash --partition-table partitions.csv` and `espflash write-bin 0xd000
//! pkconfig.bin` — the partition table at 0x8000 (binary, MD5-terminated, as espflash writes
//! it from the CSV) and the `pkconfig` partition image `picokubelet provision` wrote — with the
//! rest erased (0xFF). The body reads it through `embedded_storage::ReadStorage`, exactly as it
//! reads esp-storage on a chip, and writes the identity store (`pkident`) through
//! `embedded_storage::nor_flash::NorFlash` with NOR's rules: a write may only clear bits (a
//! write that would set one is refused, as the chip would silently AND it), an erase sets a
//! whole 4 KiB sector to 0xFF. An image loaded with [`FlashImage::from_file`] writes every
//! change through to its file, so the next boot of the board sees it (a reboot).

use std::fmt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use embedded_storage::ReadStorage;
use md5::{Digest, Md5};

/// Flash size of the boards' images (the factory partition of `partitions.csv` needs 4 MiB).
pub const FLASH_BYTES: usize = 4 * 1024 * 1024;
/// Where the partition table sits (the bootloader's default, esp-bootloader-esp-idf's too).
pub const PARTITION_TABLE_OFFSET: usize = 0x8000;
/// The table's maximum size: 0xC00 bytes, 96 entries of 32 bytes.
pub const PARTITION_TABLE_LEN: usize = 0xC00;
const ENTRY_LEN: usize = 32;
const ENTRY_MAGIC: [u8; 2] = [0xAA, 0x50];
const MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];

/// The SPI flash's erase sector (esp-storage's `ERASE_SIZE`).
pub const SECTOR_BYTES: usize = 4096;

/// A whole flash, in memory; with a file behind it when loaded from one.
#[derive(Clone, PartialEq, Eq)]
pub struct FlashImage {
    bytes: Vec<u8>,
    file: Option<PathBuf>,
}

impl fmt::Debug for FlashImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlashImage({} bytes)", self.bytes.len())
    }
}

/// A read outside the flash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds {
    pub offset: u32,
    pub len: usize,
    pub capacity: usize,
}

impl ReadStorage for FlashImage {
    type Error = OutOfBounds;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let out_of_bounds = OutOfBounds {
            offset,
            len: bytes.len(),
            capacity: self.bytes.len(),
        };
        let start = usize::try_from(offset).map_err(|_| out_of_bounds)?;
        let source = start
            .checked_add(bytes.len())
            .and_then(|end| self.bytes.get(start..end))
            .ok_or(out_of_bounds)?;
        bytes.copy_from_slice(source);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

/// What a NOR operation on the image refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NorError {
    /// Outside the flash.
    OutOfBounds { offset: u32, len: usize },
    /// An erase not on sector boundaries.
    NotAligned { from: u32, to: u32 },
    /// A write that would set a bit the last erase did not: erase the sector first.
    NotErased { offset: u32 },
    /// The image file behind the flash could not be written.
    File,
}

impl NorFlashError for NorError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            NorError::OutOfBounds { .. } => NorFlashErrorKind::OutOfBounds,
            NorError::NotAligned { .. } => NorFlashErrorKind::NotAligned,
            NorError::NotErased { .. } | NorError::File => NorFlashErrorKind::Other,
        }
    }
}

impl fmt::Display for NorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NorError::OutOfBounds { offset, len } => {
                write!(f, "{len} bytes at {offset:#x} are outside the flash")
            }
            NorError::NotAligned { from, to } => write!(
                f,
                "erase {from:#x}..{to:#x} is not on {SECTOR_BYTES}-byte sector boundaries"
            ),
            NorError::NotErased { offset } => write!(
                f,
                "the write at {offset:#x} would set bits NOR flash only sets by an erase: \
                 erase the sector first"
            ),
            NorError::File => f.write_str("the flash image file could not be written"),
        }
    }
}

impl FlashImage {
    fn range(&self, offset: u32, len: usize) -> Result<std::ops::Range<usize>, NorError> {
        let out = NorError::OutOfBounds { offset, len };
        let start = usize::try_from(offset).map_err(|_| out)?;
        let end = start.checked_add(len).ok_or(out)?;
        if end > self.bytes.len() {
            return Err(out);
        }
        Ok(start..end)
    }

    fn write_through(&self, range: std::ops::Range<usize>) -> Result<(), NorError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let bytes = self.bytes.get(range.clone()).ok_or(NorError::File)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|_| NorError::File)?;
        file.write_all_at(bytes, range.start as u64)
            .map_err(|_| NorError::File)
    }
}

impl ErrorType for FlashImage {
    type Error = NorError;
}

impl ReadNorFlash for FlashImage {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NorError> {
        let range = self.range(offset, bytes.len())?;
        bytes.copy_from_slice(self.bytes.get(range).unwrap_or(&[]));
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl NorFlash for FlashImage {
    // esp-storage's: words for writes, sectors for erases.
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = SECTOR_BYTES;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), NorError> {
        let sector = SECTOR_BYTES as u32;
        if !from.is_multiple_of(sector) || !to.is_multiple_of(sector) || to < from {
            return Err(NorError::NotAligned { from, to });
        }
        let range = self.range(from, (to - from) as usize)?;
        if let Some(bytes) = self.bytes.get_mut(range.clone()) {
            bytes.fill(0xFF);
        }
        self.write_through(range)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NorError> {
        if !(offset as usize).is_multiple_of(Self::WRITE_SIZE)
            || !bytes.len().is_multiple_of(Self::WRITE_SIZE)
        {
            return Err(NorError::NotAligned {
                from: offset,
                to: offset.saturating_add(bytes.len() as u32),
            });
        }
        let range = self.range(offset, bytes.len())?;
        let current = self.bytes.get(range.clone()).unwrap_or(&[]);
        if let Some(at) = current
            .iter()
            .zip(bytes)
            .position(|(&old, &new)| new & !old != 0)
        {
            return Err(NorError::NotErased {
                offset: offset.saturating_add(at as u32),
            });
        }
        if let Some(dst) = self.bytes.get_mut(range.clone()) {
            dst.copy_from_slice(bytes);
        }
        self.write_through(range)
    }
}

/// Why a flash image could not be made.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageError {
    /// A row of the partition table CSV (1-based line number) is not understood.
    Csv { line: usize, reason: String },
    /// More partitions than the table has room for.
    TooManyPartitions(usize),
    /// A label longer than an entry's 16 bytes.
    LabelTooLong(String),
    /// A part does not fit the flash at its offset.
    DoesNotFit {
        what: &'static str,
        offset: usize,
        len: usize,
    },
    /// The partition table names no `pkconfig` partition to put the record in.
    NoPkconfigPartition,
    /// The record image is larger than the `pkconfig` partition.
    RecordTooLarge { len: usize, partition: usize },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Csv { line, reason } => {
                write!(f, "partition table CSV, line {line}: {reason}")
            }
            ImageError::TooManyPartitions(n) => write!(
                f,
                "{n} partitions: the table holds at most {} (with its MD5 entry)",
                PARTITION_TABLE_LEN / ENTRY_LEN - 1
            ),
            ImageError::LabelTooLong(label) => {
                write!(f, "partition label '{label}' is longer than 16 bytes")
            }
            ImageError::DoesNotFit { what, offset, len } => write!(
                f,
                "{what} ({len} bytes at {offset:#x}) does not fit a {FLASH_BYTES}-byte flash"
            ),
            ImageError::NoPkconfigPartition => write!(
                f,
                "the partition table has no `pkconfig` data partition for the record"
            ),
            ImageError::RecordTooLarge { len, partition } => write!(
                f,
                "the record image is {len} bytes, the pkconfig partition only {partition}"
            ),
        }
    }
}

impl std::error::Error for ImageError {}

/// One row of a partition table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub label: String,
    pub raw_type: u8,
    pub raw_subtype: u8,
    pub offset: u32,
    pub size: u32,
    pub flags: u32,
}

impl FlashImage {
    /// An erased flash of `len` bytes.
    pub fn erased(len: usize) -> Self {
        FlashImage {
            bytes: vec![0xFF; len],
            file: None,
        }
    }

    /// A flash image as read back from a board or written by `espflash save-image --merge`.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        FlashImage { bytes, file: None }
    }

    /// The image in `path`; erases and writes go to the file as well (the board's flash
    /// survives a restart, as a chip's does).
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(FlashImage {
            bytes,
            file: Some(path.to_owned()),
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The flash of a board flashed with `partitions_csv` and, if given, provisioned with
    /// `pkconfig` (the partition image `picokubelet provision` writes) at the `pkconfig`
    /// partition's offset.
    pub fn provisioned(partitions_csv: &str, pkconfig: Option<&[u8]>) -> Result<Self, ImageError> {
        let partitions = parse_csv(partitions_csv)?;
        let mut image = FlashImage::erased(FLASH_BYTES);
        image.put(
            "the partition table",
            PARTITION_TABLE_OFFSET,
            &binary_table(&partitions)?,
        )?;
        if let Some(record) = pkconfig {
            let partition = partitions
                .iter()
                .find(|p| p.label == "pkconfig" && p.raw_type == 1)
                .ok_or(ImageError::NoPkconfigPartition)?;
            let size = partition.size as usize;
            if record.len() > size {
                return Err(ImageError::RecordTooLarge {
                    len: record.len(),
                    partition: size,
                });
            }
            image.put("the pkconfig record", partition.offset as usize, record)?;
        }
        Ok(image)
    }

    /// Writes `bytes` at `offset` (as `espflash write-bin` would).
    pub fn put(
        &mut self,
        what: &'static str,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), ImageError> {
        let does_not_fit = ImageError::DoesNotFit {
            what,
            offset,
            len: bytes.len(),
        };
        let dest = offset
            .checked_add(bytes.len())
            .and_then(|end| self.bytes.get_mut(offset..end))
            .ok_or(does_not_fit)?;
        dest.copy_from_slice(bytes);
        Ok(())
    }
}

/// The binary partition table espflash writes for `partitions`: 32-byte entries, then an MD5
/// entry over them, then erased flash up to [`PARTITION_TABLE_LEN`].
pub fn binary_table(partitions: &[Partition]) -> Result<Vec<u8>, ImageError> {
    if partitions.len() >= PARTITION_TABLE_LEN / ENTRY_LEN {
        return Err(ImageError::TooManyPartitions(partitions.len()));
    }
    let mut table = Vec::with_capacity(PARTITION_TABLE_LEN);
    for p in partitions {
        table.extend_from_slice(&ENTRY_MAGIC);
        table.push(p.raw_type);
        table.push(p.raw_subtype);
        table.extend_from_slice(&p.offset.to_le_bytes());
        table.extend_from_slice(&p.size.to_le_bytes());
        let mut label = [0u8; 16];
        label
            .get_mut(..p.label.len())
            .ok_or_else(|| ImageError::LabelTooLong(p.label.clone()))?
            .copy_from_slice(p.label.as_bytes());
        table.extend_from_slice(&label);
        table.extend_from_slice(&p.flags.to_le_bytes());
    }
    let digest = Md5::digest(&table);
    table.extend_from_slice(&MD5_MAGIC);
    table.extend_from_slice(&[0xFF; 14]);
    table.extend_from_slice(&digest);
    table.resize(PARTITION_TABLE_LEN, 0xFF);
    Ok(table)
}

/// Parses an ESP-IDF partition table CSV (`Name, Type, SubType, Offset, Size[, Flags]`, `#`
/// comments). Every offset must be given (the firmware's table gives them all).
pub fn parse_csv(text: &str) -> Result<Vec<Partition>, ImageError> {
    let mut partitions = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw_line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let error = |reason: String| ImageError::Csv { line, reason };
        let fields: Vec<&str> = content.split(',').map(str::trim).collect();
        if fields.len() < 5 {
            return Err(error(format!(
                "{} fields, expected Name, Type, SubType, Offset, Size[, Flags]",
                fields.len()
            )));
        }
        let label = fields[0];
        if label.is_empty() || label.len() > 16 {
            return Err(error(format!("label '{label}' is not 1..=16 bytes")));
        }
        let raw_type = match fields[1] {
            "app" => 0,
            "data" => 1,
            other => number(other)
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| error(format!("type '{other}' is not app, data or 0..=254")))?,
        };
        let raw_subtype = subtype(raw_type, fields[2])
            .ok_or_else(|| error(format!("subtype '{}' is not known", fields[2])))?;
        let offset = size_value(fields[3])
            .ok_or_else(|| error(format!("offset '{}' is not a number", fields[3])))?;
        let size = size_value(fields[4])
            .ok_or_else(|| error(format!("size '{}' is not a number", fields[4])))?;
        let mut flags = 0;
        for flag in fields.get(5).map_or("", |f| f).split(':').map(str::trim) {
            flags |= match flag {
                "" => 0,
                "encrypted" => 1,
                "readonly" => 2,
                other => return Err(error(format!("flag '{other}' is not known"))),
            };
        }
        partitions.push(Partition {
            label: label.to_owned(),
            raw_type,
            raw_subtype,
            offset,
            size,
            flags,
        });
    }
    Ok(partitions)
}

/// ESP-IDF's subtype names (`gen_esp32part.py`), else a number.
fn subtype(raw_type: u8, name: &str) -> Option<u8> {
    let known = match (raw_type, name) {
        (0, "factory") => Some(0x00),
        (0, "test") => Some(0x20),
        (0, ota) if ota.starts_with("ota_") => ota[4..]
            .parse::<u8>()
            .ok()
            .filter(|n| *n < 16)
            .map(|n| 0x10 + n),
        (1, "ota") => Some(0x00),
        (1, "phy") => Some(0x01),
        (1, "nvs") => Some(0x02),
        (1, "coredump") => Some(0x03),
        (1, "nvs_keys") => Some(0x04),
        (1, "efuse") => Some(0x05),
        (1, "undefined") => Some(0x06),
        (1, "esphttpd") => Some(0x80),
        (1, "fat") => Some(0x81),
        (1, "spiffs") => Some(0x82),
        (1, "littlefs") => Some(0x83),
        _ => None,
    };
    known.or_else(|| number(name).and_then(|n| u8::try_from(n).ok()))
}

/// `0x…` hex or decimal.
fn number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A number with an optional `K` or `M` suffix.
fn size_value(text: &str) -> Option<u32> {
    let (digits, unit) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 1024),
        'M' | 'm' => (&text[..text.len() - 1], 1024 * 1024),
        _ => (text, 1),
    };
    number(digits)?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_name_their_fault() {
        let short = parse_csv("# comment\n\nnvs, data, nvs, 0x9000\n").expect_err("4 fields");
        assert!(matches!(short, ImageError::Csv { line: 3, .. }), "{short}");
        let subtype = parse_csv("x, data, nonsense, 0x9000, 4K\n").expect_err("subtype");
        assert!(subtype.to_string().contains("nonsense"), "{subtype}");
        let label =
            parse_csv("a-label-longer-than-16, data, nvs, 0x9000, 4K\n").expect_err("label");
        assert!(label.to_string().contains("1..=16"), "{label}");
    }

    #[test]
    fn sizes_take_suffixes_and_subtypes_take_numbers() {
        let rows =
            parse_csv("app0, app, ota_1, 64K, 1M, readonly\nraw, 0x40, 0x99, 0x1000, 4096\n")
                .expect("valid rows");
        assert_eq!(
            (
                rows[0].raw_subtype,
                rows[0].offset,
                rows[0].size,
                rows[0].flags
            ),
            (0x11, 0x10000, 0x100000, 2)
        );
        assert_eq!((rows[1].raw_type, rows[1].raw_subtype), (0x40, 0x99));
    }

    #[test]
    fn reads_outside_the_flash_are_errors() {
        let mut flash = FlashImage::erased(16);
        let mut buf = [0u8; 8];
        assert!(ReadStorage::read(&mut flash, 8, &mut buf).is_ok());
        assert!(ReadStorage::read(&mut flash, 9, &mut buf).is_err());
        assert!(ReadStorage::read(&mut flash, u32::MAX, &mut buf).is_err());
        assert!(FlashImage::erased(16).put("x", usize::MAX, &[1]).is_err());
    }

    #[test]
    fn nor_rules_writes_clear_bits_erases_set_sectors_and_the_edges_are_refused() {
        let mut flash = FlashImage::erased(2 * SECTOR_BYTES);
        NorFlash::write(&mut flash, 8, &[0x0F, 0xF0, 0x00, 0xFF]).expect("erased: any write");
        // Clearing more bits is fine; setting one back is not.
        NorFlash::write(&mut flash, 8, &[0x0E, 0xF0, 0x00, 0xFF]).expect("only clears");
        assert_eq!(
            NorFlash::write(&mut flash, 8, &[0x0F, 0xF0, 0x00, 0xFF]),
            Err(NorError::NotErased { offset: 8 })
        );
        assert_eq!(flash.as_bytes()[8], 0x0E, "a refused write changes nothing");
        // Erase: whole sectors to 0xFF, the other sector untouched.
        NorFlash::write(&mut flash, 4096, &[0; 4]).expect("second sector");
        NorFlash::erase(&mut flash, 0, 4096).expect("first sector");
        assert!(flash.as_bytes()[..4096].iter().all(|&b| b == 0xFF));
        assert_eq!(&flash.as_bytes()[4096..4100], &[0; 4]);
        assert_eq!(
            NorFlash::erase(&mut flash, 1, 4096),
            Err(NorError::NotAligned { from: 1, to: 4096 })
        );
        assert!(matches!(
            NorFlash::erase(&mut flash, 4096, 3 * 4096),
            Err(NorError::OutOfBounds { .. })
        ));
        assert!(matches!(
            NorFlash::write(&mut flash, 2 * 4096 - 4, &[0; 8]),
            Err(NorError::OutOfBounds { .. })
        ));
        assert!(matches!(
            NorFlash::write(&mut flash, u32::MAX - 3, &[0; 4]),
            Err(NorError::OutOfBounds { .. })
        ));
        assert!(matches!(
            NorFlash::write(&mut flash, 2, &[0; 4]),
            Err(NorError::NotAligned { .. })
        ));
        let mut out = [0u8; 4];
        assert!(ReadNorFlash::read(&mut flash, 2 * 4096 - 2, &mut out).is_err());
    }

    #[test]
    fn an_image_from_a_file_writes_through_to_it() {
        let path = std::env::temp_dir().join(format!("pk-flash-{}.bin", std::process::id()));
        std::fs::write(&path, vec![0xFF; 2 * SECTOR_BYTES]).expect("a temp file");
        let mut flash = FlashImage::from_file(&path).expect("read back");
        NorFlash::write(&mut flash, 4100, &[1, 2, 3, 4]).expect("a write");
        let again = FlashImage::from_file(&path).expect("read again");
        assert_eq!(&again.as_bytes()[4100..4104], &[1, 2, 3, 4]);
        NorFlash::erase(&mut flash, 4096, 8192).expect("an erase");
        let again = FlashImage::from_file(&path).expect("read again");
        assert_eq!(&again.as_bytes()[4100..4104], &[0xFF; 4]);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_record_larger_than_pkconfig_is_refused() {
        let csv = "pkconfig, data, undefined, 0xd000, 0x10\n";
        assert_eq!(
            FlashImage::provisioned(csv, Some(&[0; 17])),
            Err(ImageError::RecordTooLarge {
                len: 17,
                partition: 16
            })
        );
        assert_eq!(
            FlashImage::provisioned("nvs, data, nvs, 0x9000, 0x4000\n", Some(&[0; 4])),
            Err(ImageError::NoPkconfigPartition)
        );
    }
}

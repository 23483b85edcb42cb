//! Where a board keeps the certificate and key it got through TLS bootstrap: the `pkident`
//! flash region, two 4 KiB slots (one erase sector each). Each save writes the slot that does
//! not hold the current identity, with the next sequence number and a CRC, so power lost in
//! the middle of a write leaves the other slot (or, on the first save, no identity: the board
//! asks again with the bootstrap token). A slot is used only when its CRC, its lengths and its
//! certificate check out, and the certificate is for the key.
//!
//! Through `embedded_storage::Storage` (byte addressed; esp-storage erases and rewrites the
//! sectors it touches), so the ESP32's flash and the tap board's image file share this code.
//!
//! # Slot layout (little-endian)
//!
//! | offset | size | content                                              |
//! |--------|------|------------------------------------------------------|
//! | 0      | 4    | magic `PKID`                                         |
//! | 4      | 1    | format version, 1                                    |
//! | 5      | 1    | reserved, 0                                          |
//! | 6      | 2    | certificate length `L`, 1..=[`MAX_CLIENT_CERT_LEN`]  |
//! | 8      | 4    | sequence number (newer wins, wrapping)               |
//! | 12     | 32   | P-256 private scalar, big-endian                     |
//! | 44     | `L`  | certificate, DER                                     |
//! | 44+`L` | 4    | CRC-32 of bytes `0..44+L`                            |

use embedded_storage::Storage;

use crate::provision::{crc32, CLIENT_KEY_LEN, MAX_CLIENT_CERT_LEN};
use crate::tls::x509::{self, PublicKey};

/// One slot: one erase sector.
pub const SLOT_SIZE: u32 = 4096;
/// The region: two slots.
pub const REGION_SIZE: u32 = 2 * SLOT_SIZE;
const _: () = assert!(REGION_SIZE == crate::provision::IDENTITY_PARTITION_SIZE);
const MAGIC: [u8; 4] = *b"PKID";
const VERSION: u8 = 1;
const HEAD_LEN: usize = 44;
const CRC_LEN: usize = 4;
/// The largest slot content; the caller's buffer for [`IdentityStore::load`] and
/// [`IdentityStore::save`].
pub const SLOT_BYTES_MAX: usize = HEAD_LEN + MAX_CLIENT_CERT_LEN + CRC_LEN;

/// A buffer for one slot.
pub type SlotBuf = [u8; SLOT_BYTES_MAX];

/// The identity in flash: the key, the certificate (borrowed from the caller's buffer) and
/// its validity (Unix seconds).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StoredIdentity<'b> {
    pub key: [u8; CLIENT_KEY_LEN],
    pub certificate_der: &'b [u8],
    pub not_before: i64,
    pub not_after: i64,
    pub sequence: u32,
}

impl core::fmt::Debug for StoredIdentity<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoredIdentity")
            .field("key", &"<redacted>")
            .field("certificate_der_len", &self.certificate_der.len())
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("sequence", &self.sequence)
            .finish()
    }
}

/// Why a slot is not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotProblem {
    /// Erased (or never written): no magic.
    Empty,
    /// Another format version or reserved byte.
    Format,
    /// A certificate length of 0 or above [`MAX_CLIENT_CERT_LEN`].
    Length,
    /// A torn or decayed write.
    Crc,
    /// The certificate is no X.509 certificate, or not for the stored key.
    Mismatch,
}

/// What the store cannot do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The flash said no (read, erase or write).
    Flash,
    /// The region given is smaller than [`REGION_SIZE`].
    RegionTooSmall { len: u32 },
    /// The certificate is empty or longer than [`MAX_CLIENT_CERT_LEN`].
    CertificateSize { len: usize },
    /// The certificate is not for the key: nothing is written.
    Mismatch,
    /// The slot read back differs from what was written.
    Verify,
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::Flash => f.write_str("the flash refused a read, erase or write"),
            StoreError::RegionTooSmall { len } => write!(
                f,
                "the identity region is {len} bytes, {REGION_SIZE} needed: flash the \
                 partition table in firmware/partitions.csv"
            ),
            StoreError::CertificateSize { len } => write!(
                f,
                "a certificate of {len} bytes does not fit a slot (1..={MAX_CLIENT_CERT_LEN})"
            ),
            StoreError::Mismatch => f.write_str("the certificate is not for the key"),
            StoreError::Verify => f.write_str("the slot read back differs from what was written"),
        }
    }
}

/// The two slots at `base..base + REGION_SIZE` of `flash`.
pub struct IdentityStore<F> {
    flash: F,
    base: u32,
}

impl<F: Storage> IdentityStore<F> {
    /// The store in `flash` at `base`, whose region is `len` bytes (the partition's size).
    pub fn new(flash: F, base: u32, len: u32) -> Result<Self, StoreError> {
        if len < REGION_SIZE {
            return Err(StoreError::RegionTooSmall { len });
        }
        Ok(IdentityStore { flash, base })
    }

    /// The flash back.
    pub fn into_inner(self) -> F {
        self.flash
    }

    fn slot_offset(&self, slot: u8) -> u32 {
        self.base.saturating_add(u32::from(slot) * SLOT_SIZE)
    }

    /// Reads slot `slot` (0 or 1) into `buf` and checks it.
    pub fn read_slot<'b>(
        &mut self,
        slot: u8,
        buf: &'b mut SlotBuf,
    ) -> Result<Result<StoredIdentity<'b>, SlotProblem>, StoreError> {
        let offset = self.slot_offset(slot);
        self.flash
            .read(offset, buf)
            .map_err(|_| StoreError::Flash)?;
        Ok(check_slot(buf))
    }

    /// The newest usable identity, and which slot holds it; `None` when neither slot is
    /// usable (never saved, both torn or corrupt): the board goes back to its bootstrap
    /// token. `spare` is scratch for the other slot.
    pub fn load<'b>(
        &mut self,
        buf: &'b mut SlotBuf,
        spare: &mut SlotBuf,
    ) -> Result<Option<(u8, StoredIdentity<'b>)>, StoreError> {
        let second = self.read_slot(1, spare)?.ok().map(|i| i.sequence);
        let first = self.read_slot(0, buf)?.ok().map(|i| i.sequence);
        let slot = match (first, second) {
            (None, None) => return Ok(None),
            (Some(_), None) => 0,
            (None, Some(_)) => 1,
            (Some(a), Some(b)) => u8::from(newer(b, a)),
        };
        if slot == 1 {
            buf.copy_from_slice(spare);
        }
        Ok(check_slot(buf).ok().map(|id| (slot, id)))
    }

    /// Saves `key` and `certificate_der` into the slot that does not hold the newest usable
    /// identity, with the next sequence number; reads it back. `buf` and `spare` are scratch.
    pub fn save(
        &mut self,
        key: &[u8; CLIENT_KEY_LEN],
        certificate_der: &[u8],
        buf: &mut SlotBuf,
        spare: &mut SlotBuf,
    ) -> Result<u8, StoreError> {
        let len = certificate_der.len();
        if len == 0 || len > MAX_CLIENT_CERT_LEN {
            return Err(StoreError::CertificateSize { len });
        }
        if !certificate_matches_key(certificate_der, key) {
            return Err(StoreError::Mismatch);
        }
        let (slot, sequence) = match self.load(buf, spare)? {
            Some((slot, current)) => (1 - slot, current.sequence.wrapping_add(1)),
            None => (0, 1),
        };
        let total = encode(key, certificate_der, sequence, buf);
        let offset = self.slot_offset(slot);
        let written = buf.get(..total).ok_or(StoreError::Verify)?;
        self.flash
            .write(offset, written)
            .map_err(|_| StoreError::Flash)?;
        self.flash
            .read(offset, spare)
            .map_err(|_| StoreError::Flash)?;
        if spare.get(..total) != buf.get(..total) {
            return Err(StoreError::Verify);
        }
        Ok(slot)
    }

    /// Erases both slots (the identity is refused for good: the token again).
    pub fn clear(&mut self) -> Result<(), StoreError> {
        let erased = [0xFFu8; 64];
        for slot in 0..2 {
            // Only the head: without the magic the slot is empty.
            let at = self.slot_offset(slot);
            self.flash
                .write(at, &erased)
                .map_err(|_| StoreError::Flash)?;
        }
        Ok(())
    }
}

/// Serial-number order: `a` is newer than `b`.
fn newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000_0000
}

fn encode(key: &[u8; CLIENT_KEY_LEN], cert: &[u8], sequence: u32, buf: &mut SlotBuf) -> usize {
    buf.fill(0xFF);
    let len16 = u16::try_from(cert.len()).unwrap_or(u16::MAX);
    let mut head = [0u8; HEAD_LEN];
    let parts: [(usize, &[u8]); 6] = [
        (0, &MAGIC),
        (4, &[VERSION, 0]),
        (6, &len16.to_le_bytes()),
        (8, &sequence.to_le_bytes()),
        (12, key),
        (HEAD_LEN, &[]),
    ];
    for (at, bytes) in parts {
        if let Some(dst) = head.get_mut(at..at.saturating_add(bytes.len())) {
            dst.copy_from_slice(bytes);
        }
    }
    let end = HEAD_LEN.saturating_add(cert.len());
    if let Some(dst) = buf.get_mut(..HEAD_LEN) {
        dst.copy_from_slice(&head);
    }
    if let Some(dst) = buf.get_mut(HEAD_LEN..end) {
        dst.copy_from_slice(cert);
    }
    let crc = crc32(buf.get(..end).unwrap_or(&[]));
    if let Some(dst) = buf.get_mut(end..end.saturating_add(CRC_LEN)) {
        dst.copy_from_slice(&crc.to_le_bytes());
    }
    end.saturating_add(CRC_LEN)
}

fn check_slot(buf: &SlotBuf) -> Result<StoredIdentity<'_>, SlotProblem> {
    if buf.get(..4) != Some(&MAGIC[..]) {
        return Err(SlotProblem::Empty);
    }
    if buf.get(4..6) != Some(&[VERSION, 0][..]) {
        return Err(SlotProblem::Format);
    }
    let len = usize::from(u16::from_le_bytes([
        buf.get(6).copied().unwrap_or(0),
        buf.get(7).copied().unwrap_or(0),
    ]));
    if len == 0 || len > MAX_CLIENT_CERT_LEN {
        return Err(SlotProblem::Length);
    }
    let end = HEAD_LEN + len;
    let covered = buf.get(..end).ok_or(SlotProblem::Length)?;
    let stored = buf
        .get(end..end + CRC_LEN)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or(SlotProblem::Length)?;
    if crc32(covered) != stored {
        return Err(SlotProblem::Crc);
    }
    let sequence = buf
        .get(8..12)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes);
    let key: [u8; CLIENT_KEY_LEN] = buf
        .get(12..HEAD_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(SlotProblem::Length)?;
    let certificate_der = buf.get(HEAD_LEN..end).ok_or(SlotProblem::Length)?;
    if !certificate_matches_key(certificate_der, &key) {
        return Err(SlotProblem::Mismatch);
    }
    let cert = x509::parse(certificate_der).map_err(|_| SlotProblem::Mismatch)?;
    Ok(StoredIdentity {
        key,
        certificate_der,
        not_before: cert.not_before,
        not_after: cert.not_after,
        sequence,
    })
}

/// The certificate parses and carries the P-256 public key of `key`.
pub fn certificate_matches_key(certificate_der: &[u8], key: &[u8; CLIENT_KEY_LEN]) -> bool {
    let Ok(signing) = p256::ecdsa::SigningKey::from_bytes(key.into()) else {
        return false;
    };
    match x509::parse(certificate_der).map(|c| c.key) {
        Ok(PublicKey::P256(point)) => {
            signing.verifying_key().to_encoded_point(false).as_bytes() == point
        }
        _ => false,
    }
}

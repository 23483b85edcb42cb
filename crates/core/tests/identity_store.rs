//! The board's identity store (two flash slots): the newest good slot wins, a torn write falls
//! back to the other slot or to nothing (the bootstrap token), and nothing unusable is ever
//! handed out.
use embedded_storage::{ReadStorage, Storage};
use picokubelet_core::bootstrap::store::*;
use picokubelet_core::provision::CLIENT_KEY_LEN;

/// Flash in RAM whose writes stop (power lost) after `budget` bytes when set.
struct RamFlash {
    bytes: Vec<u8>,
    budget: Option<usize>,
    fail_reads: bool,
}

impl RamFlash {
    fn new(len: usize) -> Self {
        RamFlash {
            bytes: vec![0xFF; len],
            budget: None,
            fail_reads: false,
        }
    }
}

#[derive(Debug)]
struct Broken;

impl ReadStorage for RamFlash {
    type Error = Broken;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Broken> {
        if self.fail_reads {
            return Err(Broken);
        }
        let at = offset as usize;
        bytes.copy_from_slice(self.bytes.get(at..at + bytes.len()).ok_or(Broken)?);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl Storage for RamFlash {
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Broken> {
        let at = offset as usize;
        let dst = self.bytes.get_mut(at..at + bytes.len()).ok_or(Broken)?;
        match self.budget {
            Some(n) if n < bytes.len() => {
                // A torn write: the first n bytes land, the rest of the sector is erased.
                dst.fill(0xFF);
                dst[..n].copy_from_slice(&bytes[..n]);
                self.budget = Some(0);
                Err(Broken)
            }
            _ => {
                dst.copy_from_slice(bytes);
                Ok(())
            }
        }
    }
}

fn identity(cn: &str) -> (Vec<u8>, [u8; CLIENT_KEY_LEN]) {
    use p256::pkcs8::DecodePrivateKey as _;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    let scalar = p256::SecretKey::from_pkcs8_der(&key.serialize_der()).unwrap();
    (cert.der().to_vec(), scalar.to_bytes().into())
}

const BASE: u32 = 0x1000;

fn store() -> IdentityStore<RamFlash> {
    IdentityStore::new(RamFlash::new(0x4000), BASE, REGION_SIZE).unwrap()
}

fn bufs() -> (Box<SlotBuf>, Box<SlotBuf>) {
    (Box::new([0; SLOT_BYTES_MAX]), Box::new([0; SLOT_BYTES_MAX]))
}

/// The certificate, key and slot `load` hands out, owned.
fn loaded(s: &mut IdentityStore<RamFlash>) -> Option<(u8, Vec<u8>, [u8; CLIENT_KEY_LEN], u32)> {
    let (mut a, mut b) = bufs();
    s.load(&mut a, &mut b)
        .unwrap()
        .map(|(slot, id)| (slot, id.certificate_der.to_vec(), id.key, id.sequence))
}

#[test]
fn an_erased_region_holds_no_identity_and_a_saved_one_comes_back() {
    let mut s = store();
    assert_eq!(loaded(&mut s), None);
    let (cert, key) = identity("system:node:esp32c6-240ac4123456");
    let (mut a, mut b) = bufs();
    assert_eq!(s.save(&key, &cert, &mut a, &mut b), Ok(0));
    assert_eq!(loaded(&mut s), Some((0, cert.clone(), key, 1)));
    let (mut a, mut b) = bufs();
    let (_, id) = s.load(&mut a, &mut b).unwrap().unwrap();
    assert!(id.not_after > id.not_before);
    assert!(!format!("{id:?}").contains(&format!("{:?}", key[0..4].to_vec())));
    // Renewal alternates slots, the newest sequence wins.
    let (cert2, key2) = identity("system:node:esp32c6-240ac4123456");
    let (mut a, mut b) = bufs();
    assert_eq!(s.save(&key2, &cert2, &mut a, &mut b), Ok(1));
    assert_eq!(loaded(&mut s), Some((1, cert2.clone(), key2, 2)));
    let (cert3, key3) = identity("system:node:esp32c6-240ac4123456");
    let (mut a, mut b) = bufs();
    assert_eq!(s.save(&key3, &cert3, &mut a, &mut b), Ok(0));
    assert_eq!(loaded(&mut s), Some((0, cert3, key3, 3)));
}

#[test]
fn a_torn_write_falls_back_to_the_other_slot_or_to_the_token() {
    let (cert, key) = identity("system:node:a");
    let (cert2, key2) = identity("system:node:a");
    // Every cut is short of the whole slot (44 + certificate + 4 bytes) of both writes; the
    // two certificates' lengths differ by a byte or two (DER signatures).
    let shortest = 44 + cert.len().min(cert2.len()) + 4;
    for cut in [0, 1, 8, 44, 100, shortest - 5, shortest - 1] {
        // First save torn: nothing usable, the board uses its bootstrap token.
        let mut s = store();
        let (mut a, mut b) = bufs();
        let mut flash = s.into_inner();
        flash.budget = Some(cut);
        s = IdentityStore::new(flash, BASE, REGION_SIZE).unwrap();
        assert_eq!(s.save(&key, &cert, &mut a, &mut b), Err(StoreError::Flash));
        assert_eq!(loaded(&mut s), None, "cut at {cut}");
        // A renewal torn: the previous identity stays.
        let mut s = store();
        let (mut a, mut b) = bufs();
        s.save(&key, &cert, &mut a, &mut b).unwrap();
        let mut flash = s.into_inner();
        flash.budget = Some(cut);
        let mut s = IdentityStore::new(flash, BASE, REGION_SIZE).unwrap();
        assert_eq!(
            s.save(&key2, &cert2, &mut a, &mut b),
            Err(StoreError::Flash)
        );
        assert_eq!(
            loaded(&mut s),
            Some((0, cert.clone(), key, 1)),
            "cut at {cut}"
        );
    }
}

#[test]
fn both_slots_corrupt_mean_no_identity() {
    let mut s = store();
    let (cert, key) = identity("system:node:a");
    let (mut a, mut b) = bufs();
    s.save(&key, &cert, &mut a, &mut b).unwrap();
    s.save(&key, &cert, &mut a, &mut b).unwrap();
    let mut flash = s.into_inner();
    // A flipped bit in each slot's certificate.
    flash.bytes[BASE as usize + 100] ^= 0x01;
    flash.bytes[(BASE + SLOT_SIZE) as usize + 100] ^= 0x01;
    let mut s = IdentityStore::new(flash, BASE, REGION_SIZE).unwrap();
    assert_eq!(loaded(&mut s), None);
    let (mut a, _) = bufs();
    assert_eq!(
        s.read_slot(0, &mut a).unwrap().unwrap_err(),
        SlotProblem::Crc
    );
    // Garbage lengths are refused, not read past.
    let mut flash = s.into_inner();
    flash.bytes[BASE as usize + 6..BASE as usize + 8].copy_from_slice(&u16::MAX.to_le_bytes());
    let mut s = IdentityStore::new(flash, BASE, REGION_SIZE).unwrap();
    let (mut a, _) = bufs();
    assert_eq!(
        s.read_slot(0, &mut a).unwrap().unwrap_err(),
        SlotProblem::Length
    );
    // Clearing empties both.
    s.clear().unwrap();
    let (mut a, _) = bufs();
    assert_eq!(
        s.read_slot(1, &mut a).unwrap().unwrap_err(),
        SlotProblem::Empty
    );
}

#[test]
fn a_certificate_that_is_not_for_the_key_is_neither_saved_nor_loaded() {
    let mut s = store();
    let (cert, _) = identity("system:node:a");
    let (_, other_key) = identity("system:node:a");
    let (mut a, mut b) = bufs();
    assert_eq!(
        s.save(&other_key, &cert, &mut a, &mut b),
        Err(StoreError::Mismatch)
    );
    assert_eq!(loaded(&mut s), None);
    // A slot written by something else with a mismatched pair (CRC right) is not used.
    let (good_cert, good_key) = identity("system:node:a");
    s.save(&good_key, &good_cert, &mut a, &mut b).unwrap();
    let mut flash = s.into_inner();
    let at = BASE as usize;
    flash.bytes[at + 12..at + 44].copy_from_slice(&other_key);
    let len = u16::from_le_bytes([flash.bytes[at + 6], flash.bytes[at + 7]]) as usize;
    let crc = picokubelet_core::provision::crc32(&flash.bytes[at..at + 44 + len]);
    flash.bytes[at + 44 + len..at + 48 + len].copy_from_slice(&crc.to_le_bytes());
    let mut s = IdentityStore::new(flash, BASE, REGION_SIZE).unwrap();
    let (mut a, _) = bufs();
    assert_eq!(
        s.read_slot(0, &mut a).unwrap().unwrap_err(),
        SlotProblem::Mismatch
    );
    assert_eq!(loaded(&mut s), None);
}

#[test]
fn wrong_sizes_are_refused() {
    assert!(matches!(
        IdentityStore::new(RamFlash::new(0x4000), 0, REGION_SIZE - 1),
        Err(StoreError::RegionTooSmall { len }) if len == REGION_SIZE - 1
    ));
    let mut s = store();
    let (_, key) = identity("system:node:a");
    let (mut a, mut b) = bufs();
    assert_eq!(
        s.save(&key, &[], &mut a, &mut b),
        Err(StoreError::CertificateSize { len: 0 })
    );
    assert_eq!(
        s.save(&key, &[0x30; 2049], &mut a, &mut b),
        Err(StoreError::CertificateSize { len: 2049 })
    );
    // A flash that cannot be read is an error, not an empty store.
    let mut flash = s.into_inner();
    flash.fail_reads = true;
    let mut s = IdentityStore::new(flash, BASE, REGION_SIZE).unwrap();
    assert_eq!(s.load(&mut a, &mut b).unwrap_err(), StoreError::Flash);
}

#[test]
fn sequence_numbers_wrap() {
    let mut s = store();
    let (cert, key) = identity("system:node:a");
    let (mut a, mut b) = bufs();
    s.save(&key, &cert, &mut a, &mut b).unwrap();
    // Slot 0 at u32::MAX, then a save writes slot 1 with 0, which is newer.
    let mut flash = s.into_inner();
    let at = BASE as usize;
    flash.bytes[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let len = u16::from_le_bytes([flash.bytes[at + 6], flash.bytes[at + 7]]) as usize;
    let crc = picokubelet_core::provision::crc32(&flash.bytes[at..at + 44 + len]);
    flash.bytes[at + 44 + len..at + 48 + len].copy_from_slice(&crc.to_le_bytes());
    let mut s = IdentityStore::new(flash, BASE, REGION_SIZE).unwrap();
    let (cert2, key2) = identity("system:node:a");
    assert_eq!(s.save(&key2, &cert2, &mut a, &mut b), Ok(1));
    assert_eq!(loaded(&mut s), Some((1, cert2, key2, 0)));
}

proptest::proptest! {
    /// Flash contents are untrusted: any bytes in the slots load as an identity or as none,
    /// never a panic; a valid head with any length and CRC is checked, not read past.
    #[test]
    fn any_flash_contents_load_without_panicking(
        slot0 in proptest::collection::vec(proptest::num::u8::ANY, 0..2200),
        slot1 in proptest::collection::vec(proptest::num::u8::ANY, 0..2200),
        len: u16,
    ) {
        let mut flash = RamFlash::new(0x4000);
        let at0 = BASE as usize;
        let at1 = (BASE + SLOT_SIZE) as usize;
        flash.bytes[at0..at0 + slot0.len()].copy_from_slice(&slot0);
        flash.bytes[at1..at1 + slot1.len()].copy_from_slice(&slot1);
        // A plausible head in slot 1, so the length and CRC checks are reached.
        flash.bytes[at1..at1 + 6].copy_from_slice(b"PKID\x01\x00");
        flash.bytes[at1 + 6..at1 + 8].copy_from_slice(&len.to_le_bytes());
        let mut s = IdentityStore::new(flash, BASE, REGION_SIZE).unwrap();
        let (mut a, mut b) = bufs();
        let loaded = s.load(&mut a, &mut b).unwrap();
        proptest::prop_assert!(loaded.is_none(), "random bytes are no identity");
    }
}

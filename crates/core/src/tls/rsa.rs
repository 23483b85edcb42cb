//! RSA signature verification (RFC 8017) without alloc: PKCS#1 v1.5 (certificate signatures)
//! and PSS with salt length = hash length (TLS 1.3 `rsa_pss_rsae_*` CertificateVerify).
//!
//! Bounds: moduli of [`MIN_MODULUS_BITS`]..=[`MAX_MODULUS_BITS`] bits (RSA-2048, -3072, -4096;
//! RSA-1024 is broken, RSA-8192 would double the stack and quadruple the time for no server we
//! know), public exponents odd in 3..2^33 (ring's limit; every real key uses 65537).
//!
//! The arithmetic is crypto-bigint's (fixed-size `Uint`, schoolbook `mul_wide`,
//! `montgomery_reduction`), instantiated once, at 4096 bits, for every key size (flash over
//! speed: see `public_op`). We do not use its `DynResidueParams::new`: it computes R² mod n by a bit-serial
//! reduction of a double-width number (BITS steps over 2·LIMBS limbs) and R³ we never need,
//! which costs more than the whole exponentiation; here R² comes from R mod n by a few modular
//! doublings and log2(BITS) Montgomery squarings.
//!
//! Stack: the 4096-bit path keeps ~6 values of 512 bytes plus one 1 KiB double-width product
//! (≈ 5 KiB), the 512-byte encoded message buffer included. No secret is involved (public key,
//! public signature), so nothing here needs to be constant-time.

use crypto_bigint::modular::montgomery_reduction;
use crypto_bigint::{Limb, Uint, Word};
use digest::Digest;

/// Smallest modulus accepted.
pub const MIN_MODULUS_BITS: usize = 2048;
/// Largest modulus accepted (also the largest signature: 512 bytes).
pub const MAX_MODULUS_BITS: usize = 4096;
/// Largest modulus / signature / encoded message in bytes.
pub const MAX_MODULUS_BYTES: usize = MAX_MODULUS_BITS / 8;
/// Public exponents are below this (ring's bound; 65537 = 2^16 + 1 in practice).
const MAX_EXPONENT: u64 = 1 << 33;

const WORD_BYTES: usize = core::mem::size_of::<Word>();

/// Hash function of a signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Largest digest we compute.
pub const MAX_DIGEST: usize = 64;

impl HashAlg {
    /// Digest length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Name as in "sha256WithRSAEncryption".
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
        }
    }

    /// Hashes `parts` (concatenated) into `out`; returns the digest.
    pub fn digest<'o>(self, parts: &[&[u8]], out: &'o mut [u8; MAX_DIGEST]) -> &'o [u8] {
        fn run<D: Digest>(parts: &[&[u8]], out: &mut [u8]) {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            out.copy_from_slice(&h.finalize());
        }
        let (dst, _) = out.split_at_mut(self.output_len());
        match self {
            HashAlg::Sha256 => run::<sha2::Sha256>(parts, dst),
            HashAlg::Sha384 => run::<sha2::Sha384>(parts, dst),
            HashAlg::Sha512 => run::<sha2::Sha512>(parts, dst),
        }
        dst
    }

    /// DER DigestInfo prefix of EMSA-PKCS1-v1_5 (RFC 8017 9.2 note 1), NULL parameters.
    const fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            HashAlg::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            HashAlg::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            HashAlg::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// Why an RSA key or signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaError {
    /// The modulus has this many bits, outside 2048..=4096.
    UnsupportedSize(u16),
    /// Even modulus, exponent even / < 3 / >= 2^33, or a non-minimal / negative INTEGER.
    BadKey,
    /// The signature is not exactly the modulus length.
    BadSignatureLength,
    /// The signature does not verify (wrong key, wrong hash, bad padding).
    BadSignature,
}

/// A checked RSA public key, borrowed from the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaPublicKey<'a> {
    /// Big-endian modulus without leading zero bytes.
    modulus: &'a [u8],
    exponent: u64,
    bits: usize,
}

/// Size in bits of a big-endian unsigned number without leading zero bytes.
fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        Some(&top) => (be.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

/// A DER INTEGER's contents as an unsigned big-endian number: positive, minimal encoding.
fn unsigned(int: &[u8]) -> Result<&[u8], RsaError> {
    match int {
        [] => Err(RsaError::BadKey),
        [b, ..] if b & 0x80 != 0 => Err(RsaError::BadKey), // negative
        [0, rest @ ..] => match rest.first() {
            Some(b) if b & 0x80 != 0 => Ok(rest),
            _ => Err(RsaError::BadKey), // zero or non-minimal
        },
        _ => Ok(int),
    }
}

impl<'a> RsaPublicKey<'a> {
    /// From the RSAPublicKey INTEGER contents (`modulus`, `publicExponent`), as DER has them.
    pub fn new(modulus: &'a [u8], exponent: &[u8]) -> Result<Self, RsaError> {
        let modulus = unsigned(modulus)?;
        let bits = bit_len(modulus);
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(RsaError::UnsupportedSize(
                u16::try_from(bits).unwrap_or(u16::MAX),
            ));
        }
        if modulus.last().is_none_or(|b| b & 1 == 0) {
            return Err(RsaError::BadKey);
        }
        let exponent = unsigned(exponent)?;
        if exponent.len() > 8 {
            return Err(RsaError::BadKey);
        }
        let e = exponent
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        if e < 3 || e & 1 == 0 || e >= MAX_EXPONENT {
            return Err(RsaError::BadKey);
        }
        Ok(Self {
            modulus,
            exponent: e,
            bits,
        })
    }

    /// A key that [`RsaPublicKey::new`] accepted before (copied out of its certificate).
    pub(crate) fn from_checked(modulus: &'a [u8], exponent: u64) -> Self {
        Self {
            modulus,
            exponent,
            bits: bit_len(modulus),
        }
    }

    /// Modulus size in bits.
    pub const fn bits(&self) -> usize {
        self.bits
    }

    /// Big-endian modulus, no leading zeros.
    pub const fn modulus(&self) -> &'a [u8] {
        self.modulus
    }

    /// Public exponent.
    pub const fn exponent(&self) -> u64 {
        self.exponent
    }

    /// RSASSA-PKCS1-v1_5 verification of `msg` hashed with `hash`.
    pub fn verify_pkcs1v15(&self, hash: HashAlg, msg: &[u8], sig: &[u8]) -> Result<(), RsaError> {
        let mut digest = [0u8; MAX_DIGEST];
        let h = hash.digest(&[msg], &mut digest);
        let mut buf = [0u8; MAX_MODULUS_BYTES];
        let em = self.public_op(sig, &mut buf)?;
        let prefix = hash.digest_info_prefix();
        // EM = 00 01 FF..FF 00 || DigestInfo prefix || H
        let t_len = prefix.len() + h.len();
        let ps_end = em
            .len()
            .checked_sub(t_len + 1)
            .ok_or(RsaError::BadSignature)?;
        let ok = em.get(..2) == Some(&[0x00, 0x01][..])
            && em
                .get(2..ps_end)
                .is_some_and(|ps| ps.len() >= 8 && ps.iter().all(|&b| b == 0xff))
            && em.get(ps_end) == Some(&0)
            && em.get(ps_end + 1..ps_end + 1 + prefix.len()) == Some(prefix)
            && em.get(ps_end + 1 + prefix.len()..) == Some(h);
        if ok {
            Ok(())
        } else {
            Err(RsaError::BadSignature)
        }
    }

    /// RSASSA-PSS verification (EMSA-PSS, MGF1 with the same hash, salt length = hash
    /// length as TLS 1.3 requires, RFC 8446 4.2.3).
    pub fn verify_pss(&self, hash: HashAlg, msg: &[u8], sig: &[u8]) -> Result<(), RsaError> {
        let mut digest = [0u8; MAX_DIGEST];
        let m_hash = hash.digest(&[msg], &mut digest);
        let mut buf = [0u8; MAX_MODULUS_BYTES];
        let k_bytes = self.public_op(sig, &mut buf)?;
        // RFC 8017 9.1.2: emBits = modBits - 1; EM is the last emLen bytes.
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        let lead_len = k_bytes.len().checked_sub(em_len).ok_or(RsaError::BadKey)?;
        let (lead, em) = k_bytes.split_at_mut(lead_len);
        let h_len = hash.output_len();
        let s_len = h_len;
        if lead.iter().any(|&b| b != 0) || em_len < h_len + s_len + 2 {
            return Err(RsaError::BadSignature);
        }
        let (db, rest) = em.split_at_mut(em_len - h_len - 1);
        let (h, trailer) = rest.split_at(h_len);
        let top_mask = 0xffu8 >> (8 * em_len - em_bits);
        if trailer != [0xbc] || db.first().is_none_or(|&b| b & !top_mask != 0) {
            return Err(RsaError::BadSignature);
        }
        mgf1_xor(hash, h, db);
        if let Some(b) = db.first_mut() {
            *b &= top_mask;
        }
        let ps_len = em_len - h_len - s_len - 2;
        let (ps, one_salt) = db.split_at(ps_len);
        let Some((&one, salt)) = one_salt.split_first() else {
            return Err(RsaError::BadSignature);
        };
        if ps.iter().any(|&b| b != 0) || one != 0x01 {
            return Err(RsaError::BadSignature);
        }
        let mut check = [0u8; MAX_DIGEST];
        let h2 = hash.digest(&[&[0u8; 8], m_hash, salt], &mut check);
        if h2 == h {
            Ok(())
        } else {
            Err(RsaError::BadSignature)
        }
    }

    /// sig^e mod n, big-endian, modulus-length, in `out`.
    fn public_op<'o>(
        &self,
        sig: &[u8],
        out: &'o mut [u8; MAX_MODULUS_BYTES],
    ) -> Result<&'o mut [u8], RsaError> {
        let k = self.modulus.len();
        if sig.len() != k {
            return Err(RsaError::BadSignatureLength);
        }
        let start = MAX_MODULUS_BYTES.checked_sub(k).ok_or(RsaError::BadKey)?;
        let (_, dst) = out.split_at_mut(start);
        // One width for every key size: each width is its own copy of the arithmetic (~3 KB
        // of flash on riscv32), and a key is verified once per handshake. An RSA-2048 key at
        // the 4096-bit width costs ~4× the products plus a 2048-step R mod n (≈ 70 ms instead
        // of 13 on a C6, by count; BENCHMARKS.md).
        mod_pow::<{ MAX_MODULUS_BITS / Limb::BITS }>(self.modulus, self.exponent, sig, dst)?;
        Ok(dst)
    }
}

/// db ^= MGF1(seed, db.len()) (RFC 8017 B.2.1).
fn mgf1_xor(hash: HashAlg, seed: &[u8], db: &mut [u8]) {
    let mut block = [0u8; MAX_DIGEST];
    for (counter, chunk) in (0u32..).zip(db.chunks_mut(hash.output_len())) {
        let mask = hash.digest(&[seed, &counter.to_be_bytes()], &mut block);
        for (d, m) in chunk.iter_mut().zip(mask) {
            *d ^= m;
        }
    }
}

fn from_be<const L: usize>(be: &[u8]) -> Result<Uint<L>, RsaError> {
    if be.len() > L * WORD_BYTES {
        return Err(RsaError::BadKey);
    }
    let mut words = [0 as Word; L];
    for (chunk, w) in be.rchunks(WORD_BYTES).zip(words.iter_mut()) {
        let mut b = [0u8; WORD_BYTES];
        if let Some(dst) = b.get_mut(WORD_BYTES - chunk.len()..) {
            dst.copy_from_slice(chunk);
        }
        *w = Word::from_be_bytes(b);
    }
    Ok(Uint::from_words(words))
}

/// Writes the low `out.len()` bytes of `x`, big-endian (the caller knows `x` fits).
fn to_be<const L: usize>(x: &Uint<L>, out: &mut [u8]) {
    let mut words = x.as_words().iter();
    for chunk in out.rchunks_mut(WORD_BYTES) {
        let bytes = words.next().copied().unwrap_or(0).to_be_bytes();
        let skip = WORD_BYTES - chunk.len();
        if let Some(src) = bytes.get(skip..) {
            chunk.copy_from_slice(src);
        }
    }
}

/// Montgomery multiplication a·b·R⁻¹ mod n.
fn mont_mul<const L: usize>(a: &Uint<L>, b: &Uint<L>, n: &Uint<L>, n_inv: Limb) -> Uint<L> {
    montgomery_reduction(&a.mul_wide(b), n, n_inv)
}

fn mont_square<const L: usize>(a: &Uint<L>, n: &Uint<L>, n_inv: Limb) -> Uint<L> {
    montgomery_reduction(&a.square_wide(), n, n_inv)
}

/// out = s^e mod n at width L limbs; n odd with its top bit within the width, s < n.
fn mod_pow<const L: usize>(
    n_be: &[u8],
    e: u64,
    s_be: &[u8],
    out: &mut [u8],
) -> Result<(), RsaError> {
    let n = from_be::<L>(n_be)?;
    let s = from_be::<L>(s_be)?;
    if s >= n {
        // RFC 8017 5.2.2 "signature representative out of range": a signature by another
        // key of the same size is this half of the time, so it says "does not verify".
        return Err(RsaError::BadSignature);
    }
    // -n⁻¹ mod 2^WORD (as crypto-bigint's DynResidueParams computes it).
    let [n0] = Uint::<1>::from_words([n.as_words().first().copied().unwrap_or(1)])
        .inv_mod2k_vartime(Word::BITS as usize)
        .to_words();
    let n_inv = Limb(Word::MIN.wrapping_sub(n0));
    // R = 2^BITS. R mod n = (R - 1) mod n + 1 (n odd > 1 never divides R). The bit-serial
    // remainder takes BITS - bits(n) steps: none for a full-width key.
    let r = Uint::<L>::MAX.const_rem(&n).0.wrapping_add(&Uint::ONE);
    // R² mod n: BITS = a·2^j with a odd; a doublings give R·2^a, and each Montgomery squaring
    // maps R·2^c to R·2^2c, so j of them give R·2^BITS = R².
    let bits = Uint::<L>::BITS;
    let j = bits.trailing_zeros();
    let mut r2 = r;
    for _ in 0..(bits >> j) {
        r2 = r2.add_mod(&r2, &n);
    }
    for _ in 0..j {
        r2 = mont_square(&r2, &n, n_inv);
    }
    let base = mont_mul(&s, &r2, &n, n_inv); // s·R
    let mut acc = base;
    let top = u64::BITS - 1 - e.leading_zeros();
    for i in (0..top).rev() {
        acc = mont_square(&acc, &n, n_inv);
        if (e >> i) & 1 == 1 {
            acc = mont_mul(&acc, &base, &n, n_inv);
        }
    }
    let plain = montgomery_reduction(&(acc, Uint::ZERO), &n, n_inv);
    to_be(&plain, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_bounds() {
        // DER INTEGER contents: a leading 0 keeps a top-bit-set modulus positive.
        let int = |len: usize, top: u8, low: u8| {
            let mut v = std::vec![0u8];
            v.extend(core::iter::repeat_n(top, len));
            if let Some(last) = v.last_mut() {
                *last = low;
            }
            v
        };
        let n = int(256, 0xff, 0xff);
        assert_eq!(
            RsaPublicKey::new(&n, &[1, 0, 1]).map(|k| k.bits()),
            Ok(2048)
        );
        assert_eq!(
            RsaPublicKey::new(&int(128, 0xff, 0xff), &[1, 0, 1]),
            Err(RsaError::UnsupportedSize(1024))
        );
        assert_eq!(
            RsaPublicKey::new(&int(513, 0xff, 0xff), &[3]),
            Err(RsaError::UnsupportedSize(4104))
        );
        assert_eq!(RsaPublicKey::new(&n[1..], &[3]), Err(RsaError::BadKey)); // negative
        assert_eq!(RsaPublicKey::new(&n, &[1, 0, 0]), Err(RsaError::BadKey)); // even e
        assert_eq!(RsaPublicKey::new(&n, &[1]), Err(RsaError::BadKey)); // e = 1
        assert_eq!(
            RsaPublicKey::new(&n, &[2, 0, 0, 0, 1]),
            Err(RsaError::BadKey)
        ); // e >= 2^33
        assert_eq!(RsaPublicKey::new(&n, &[0, 1]), Err(RsaError::BadKey)); // non-minimal
        assert_eq!(
            RsaPublicKey::new(&int(256, 0xff, 0xfe), &[3]),
            Err(RsaError::BadKey) // even modulus
        );
    }

    #[test]
    fn signature_must_be_modulus_sized_and_below_it() {
        let n = [0xffu8; 256];
        let mut der = std::vec![0u8];
        der.extend_from_slice(&n);
        let key = RsaPublicKey::new(&der, &[1, 0, 1]).unwrap();
        let h = HashAlg::Sha256;
        assert_eq!(
            key.verify_pss(h, b"m", &[1; 255]),
            Err(RsaError::BadSignatureLength)
        );
        assert_eq!(
            key.verify_pss(h, b"m", &[0xff; 256]),
            Err(RsaError::BadSignature)
        );
        assert_eq!(
            key.verify_pkcs1v15(h, b"m", &[1; 256]),
            Err(RsaError::BadSignature)
        );
        assert_eq!(
            key.verify_pss(h, b"m", &[1; 256]),
            Err(RsaError::BadSignature)
        );
    }
}

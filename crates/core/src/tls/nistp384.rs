//! ECDSA P-384 verification (FIPS 186-5 6.4.2, SEC 1 point encodings) on crypto-bigint's
//! 384-bit integers, for the `p384` feature.
//!
//! Why not the `p384` crate: its fiat-crypto field arithmetic (straight-line 12 × 12-word
//! products, inlined into every caller) was 112 KB of the C6 image's flash (BENCHMARKS.md
//! "Firmware size"). Verification touches only public values (key, signature, message), so
//! nothing here needs to be constant-time: Montgomery products as loops (the same
//! `mul_wide` + `montgomery_reduction` the RSA code uses), Jacobian coordinates, Shamir's
//! simultaneous double-and-add, inversion by Fermat. About 6,000 field products per
//! verification; the RSA-4096 path is slower.
//!
//! The answers are the `p384` crate's (`VerifyingKey::from_sec1_bytes`,
//! `Signature::from_der`, `verify_prehash`): compressed and uncompressed keys, strict DER
//! signatures with 0 < r, s < n, a prehash of at least 24 bytes taken as `bits2field` does
//! (left-padded when shorter than 48 bytes, its first 48 bytes when longer); the unit tests
//! compare with the crate.

use crypto_bigint::modular::montgomery_reduction;
use crypto_bigint::{Encoding, Limb, Word, U384};

use super::der::{Reader, INTEGER};

/// Bytes of a field element or scalar.
const FIELD_BYTES: usize = 48;

/// Why a P-384 key or signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcdsaError {
    /// Not a SEC1 point on P-384 (wrong length or tag, a coordinate ≥ p, off the curve).
    BadKey,
    /// Not a DER `SEQUENCE { r INTEGER, s INTEGER }` with 0 < r, s < n.
    MalformedSignature,
    /// The signature does not verify (or the prehash is shorter than 24 bytes).
    BadSignature,
}

/// An odd prime modulus with its Montgomery constants (R = 2^384).
struct Modulus {
    m: U384,
    /// -m⁻¹ mod 2^WORD.
    neg_inv: Limb,
    /// R² mod m: `mont_in` multiplies by it.
    r2: U384,
}

impl Modulus {
    const fn new(hex: &str) -> Self {
        let m = U384::from_be_hex(hex);
        let [Limb(n0), ..] = *m.inv_mod2k_vartime(Word::BITS as usize).as_limbs();
        let r = U384::MAX.const_rem(&m).0.wrapping_add(&U384::ONE);
        let r2 = U384::const_rem_wide(r.square_wide(), &m).0;
        Self {
            m,
            neg_inv: Limb(Word::MIN.wrapping_sub(n0)),
            r2,
        }
    }

    fn mul(&self, a: &U384, b: &U384) -> U384 {
        montgomery_reduction(&a.mul_wide(b), &self.m, self.neg_inv)
    }

    fn square(&self, a: &U384) -> U384 {
        montgomery_reduction(&a.square_wide(), &self.m, self.neg_inv)
    }

    fn add(&self, a: &U384, b: &U384) -> U384 {
        a.add_mod(b, &self.m)
    }

    fn sub(&self, a: &U384, b: &U384) -> U384 {
        a.sub_mod(b, &self.m)
    }

    /// `a` (< m) into Montgomery form.
    fn mont_in(&self, a: &U384) -> U384 {
        self.mul(a, &self.r2)
    }

    /// `a` out of Montgomery form.
    fn mont_out(&self, a: &U384) -> U384 {
        montgomery_reduction(&(*a, U384::ZERO), &self.m, self.neg_inv)
    }

    /// a^e, `a` and the result in Montgomery form; `e` is public.
    fn pow(&self, a: &U384, e: &U384) -> U384 {
        let mut acc = self.mont_in(&U384::ONE);
        for i in (0..e.bits_vartime()).rev() {
            acc = self.square(&acc);
            if e.bit_vartime(i) {
                acc = self.mul(&acc, a);
            }
        }
        acc
    }

    /// a⁻¹ (Fermat: a^(m-2)), Montgomery form; `a` ≠ 0.
    fn invert(&self, a: &U384) -> U384 {
        self.pow(a, &self.m.wrapping_sub(&U384::from_u8(2)))
    }
}

/// The field prime p = 2^384 − 2^128 − 2^96 + 2^32 − 1.
static P: Modulus = Modulus::new(
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
);
/// The group order n.
static N: Modulus = Modulus::new(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
);
/// y² = x³ − 3x + b.
const B: U384 = U384::from_be_hex(
    "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
);
const GX: U384 = U384::from_be_hex(
    "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
);
const GY: U384 = U384::from_be_hex(
    "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
);

/// A point in Jacobian coordinates (x/z², y/z³), Montgomery form; z = 0 is the identity.
#[derive(Clone, Copy)]
struct Point {
    x: U384,
    y: U384,
    z: U384,
}

impl Point {
    const IDENTITY: Point = Point {
        x: U384::ZERO,
        y: U384::ZERO,
        z: U384::ZERO,
    };

    /// An affine point (coordinates < p, not in Montgomery form).
    fn affine(x: &U384, y: &U384) -> Point {
        Point {
            x: P.mont_in(x),
            y: P.mont_in(y),
            z: P.mont_in(&U384::ONE),
        }
    }

    fn is_identity(&self) -> bool {
        self.z == U384::ZERO
    }

    /// 2·self ("dbl-2001-b", a = −3).
    fn double(&self) -> Point {
        if self.is_identity() || self.y == U384::ZERO {
            return Point::IDENTITY;
        }
        let delta = P.square(&self.z);
        let gamma = P.square(&self.y);
        let beta = P.mul(&self.x, &gamma);
        let t = P.mul(&P.sub(&self.x, &delta), &P.add(&self.x, &delta));
        let alpha = P.add(&P.add(&t, &t), &t);
        let beta2 = P.add(&beta, &beta);
        let beta4 = P.add(&beta2, &beta2);
        let x = P.sub(&P.square(&alpha), &P.add(&beta4, &beta4));
        let yz = P.add(&self.y, &self.z);
        let z = P.sub(&P.sub(&P.square(&yz), &gamma), &delta);
        let gamma2 = P.square(&gamma);
        let g2 = P.add(&gamma2, &gamma2);
        let g4 = P.add(&g2, &g2);
        let y = P.sub(&P.mul(&alpha, &P.sub(&beta4, &x)), &P.add(&g4, &g4));
        Point { x, y, z }
    }

    /// self + other ("add-2007-bl"), with the cases the formula does not cover.
    fn add(&self, other: &Point) -> Point {
        if self.is_identity() {
            return *other;
        }
        if other.is_identity() {
            return *self;
        }
        let z1z1 = P.square(&self.z);
        let z2z2 = P.square(&other.z);
        let u1 = P.mul(&self.x, &z2z2);
        let u2 = P.mul(&other.x, &z1z1);
        let s1 = P.mul(&P.mul(&self.y, &other.z), &z2z2);
        let s2 = P.mul(&P.mul(&other.y, &self.z), &z1z1);
        let h = P.sub(&u2, &u1);
        let s_diff = P.sub(&s2, &s1);
        if h == U384::ZERO {
            return if s_diff == U384::ZERO {
                self.double()
            } else {
                Point::IDENTITY
            };
        }
        let r = P.add(&s_diff, &s_diff);
        let h2 = P.add(&h, &h);
        let i = P.square(&h2);
        let j = P.mul(&h, &i);
        let v = P.mul(&u1, &i);
        let x = P.sub(&P.sub(&P.square(&r), &j), &P.add(&v, &v));
        let s1j = P.mul(&s1, &j);
        let y = P.sub(&P.mul(&r, &P.sub(&v, &x)), &P.add(&s1j, &s1j));
        let zz = P.square(&P.add(&self.z, &other.z));
        let z = P.mul(&P.sub(&P.sub(&zz, &z1z1), &z2z2), &h);
        Point { x, y, z }
    }

    /// The affine x coordinate (not in Montgomery form); `None` for the identity.
    fn affine_x(&self) -> Option<U384> {
        if self.is_identity() {
            return None;
        }
        let z2_inv = P.invert(&P.square(&self.z));
        Some(P.mont_out(&P.mul(&self.x, &z2_inv)))
    }
}

/// x³ − 3x + b for `x` in Montgomery form.
fn curve_rhs(x: &U384) -> U384 {
    let x3 = P.mul(&P.square(x), x);
    let three_x = P.add(&P.add(x, x), x);
    P.add(&P.sub(&x3, &three_x), &P.mont_in(&B))
}

/// A big-endian 48-byte value below `m`.
fn below(bytes: &[u8], m: &U384) -> Option<U384> {
    let array: [u8; FIELD_BYTES] = bytes.try_into().ok()?;
    let v = U384::from_be_bytes(array);
    (v < *m).then_some(v)
}

/// A SEC1 public key: 0x04 ‖ x ‖ y, or 0x02/0x03 ‖ x (y's parity in the tag).
fn decode_point(sec1: &[u8]) -> Result<Point, EcdsaError> {
    let (&tag, rest) = sec1.split_first().ok_or(EcdsaError::BadKey)?;
    match tag {
        0x04 => {
            let (x, y) = rest
                .split_at_checked(FIELD_BYTES)
                .ok_or(EcdsaError::BadKey)?;
            let x = below(x, &P.m).ok_or(EcdsaError::BadKey)?;
            let y = below(y, &P.m).ok_or(EcdsaError::BadKey)?;
            let point = Point::affine(&x, &y);
            if P.square(&point.y) != curve_rhs(&point.x) {
                return Err(EcdsaError::BadKey);
            }
            Ok(point)
        }
        0x02 | 0x03 => {
            let x = below(rest, &P.m).ok_or(EcdsaError::BadKey)?;
            let xm = P.mont_in(&x);
            let rhs = curve_rhs(&xm);
            // p ≡ 3 (mod 4): the square root is rhs^((p+1)/4), if rhs is a square at all.
            let exp = P.m.wrapping_add(&U384::ONE).shr_vartime(2);
            let root = P.pow(&rhs, &exp);
            if P.square(&root) != rhs {
                return Err(EcdsaError::BadKey);
            }
            let mut y = P.mont_out(&root);
            let want_odd = tag == 0x03;
            if y.bit_vartime(0) != want_odd {
                if y == U384::ZERO {
                    return Err(EcdsaError::BadKey);
                }
                y = P.m.wrapping_sub(&y);
            }
            Ok(Point::affine(&x, &y))
        }
        _ => Err(EcdsaError::BadKey),
    }
}

/// One DER INTEGER of the signature as a scalar in 1..n.
fn scalar(reader: &mut Reader<'_>) -> Result<U384, EcdsaError> {
    let int = reader
        .read(INTEGER)
        .map_err(|_| EcdsaError::MalformedSignature)?
        .value;
    // Positive and minimal: a leading 0 only before a byte with its top bit set.
    let magnitude = match int {
        [] => return Err(EcdsaError::MalformedSignature),
        [b, ..] if b & 0x80 != 0 => return Err(EcdsaError::MalformedSignature),
        [0, rest @ ..] => match rest.first() {
            Some(b) if b & 0x80 != 0 => rest,
            _ => return Err(EcdsaError::MalformedSignature),
        },
        _ => int,
    };
    let start = FIELD_BYTES
        .checked_sub(magnitude.len())
        .ok_or(EcdsaError::MalformedSignature)?;
    let mut padded = [0u8; FIELD_BYTES];
    padded
        .get_mut(start..)
        .ok_or(EcdsaError::MalformedSignature)?
        .copy_from_slice(magnitude);
    let v = U384::from_be_bytes(padded);
    if v == U384::ZERO || v >= N.m {
        return Err(EcdsaError::MalformedSignature);
    }
    Ok(v)
}

/// The prehash as an integer mod n (SEC 1 4.1.4 step 5 / `ecdsa::hazmat::bits2field`).
fn hash_scalar(prehash: &[u8]) -> Result<U384, EcdsaError> {
    if prehash.len() < FIELD_BYTES / 2 {
        return Err(EcdsaError::BadSignature);
    }
    let mut field = [0u8; FIELD_BYTES];
    let take = prehash.len().min(FIELD_BYTES);
    let (src, dst) = (prehash.get(..take), field.get_mut(FIELD_BYTES - take..));
    if let (Some(src), Some(dst)) = (src, dst) {
        dst.copy_from_slice(src);
    }
    let e = U384::from_be_bytes(field);
    // e < 2^384 < 2n: one subtraction reduces it.
    Ok(if e >= N.m { e.wrapping_sub(&N.m) } else { e })
}

/// Checks the DER ECDSA signature `sig` over `prehash` (the message's digest) with the SEC1
/// P-384 public key `key`.
pub fn verify_prehash(key: &[u8], prehash: &[u8], sig: &[u8]) -> Result<(), EcdsaError> {
    let q = decode_point(key)?;
    let mut outer = Reader::new(sig);
    let mut seq = outer
        .sequence()
        .map_err(|_| EcdsaError::MalformedSignature)?;
    outer.finish().map_err(|_| EcdsaError::MalformedSignature)?;
    let r = scalar(&mut seq)?;
    let s = scalar(&mut seq)?;
    seq.finish().map_err(|_| EcdsaError::MalformedSignature)?;
    let e = hash_scalar(prehash)?;

    let w = N.invert(&N.mont_in(&s));
    let u1 = N.mont_out(&N.mul(&N.mont_in(&e), &w));
    let u2 = N.mont_out(&N.mul(&N.mont_in(&r), &w));

    // u1·G + u2·Q by Shamir's trick: one doubling per bit, one addition per nonzero bit pair.
    let g = Point::affine(&GX, &GY);
    let gq = g.add(&q);
    let mut acc = Point::IDENTITY;
    for i in (0..u1.bits_vartime().max(u2.bits_vartime())).rev() {
        acc = acc.double();
        match (u1.bit_vartime(i), u2.bit_vartime(i)) {
            (true, true) => acc = acc.add(&gq),
            (true, false) => acc = acc.add(&g),
            (false, true) => acc = acc.add(&q),
            (false, false) => {}
        }
    }
    let x = acc.affine_x().ok_or(EcdsaError::BadSignature)?;
    // x < p < 2n: one subtraction gives x mod n.
    let x = if x >= N.m { x.wrapping_sub(&N.m) } else { x };
    if x == r {
        Ok(())
    } else {
        Err(EcdsaError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::signature::hazmat::PrehashSigner;
    use p384::ecdsa::{Signature, SigningKey};
    use rand_core::OsRng;

    fn der(r: &[u8], s: &[u8]) -> std::vec::Vec<u8> {
        let int = |v: &[u8]| {
            let mut out = std::vec![INTEGER, v.len() as u8];
            out.extend_from_slice(v);
            out
        };
        let body = [int(r), int(s)].concat();
        let mut out = std::vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    /// Our verdict equals the `p384` crate's on real signatures (compressed and uncompressed
    /// keys, 32/48/64-byte prehashes) and on each of them tampered with.
    #[test]
    fn agrees_with_the_p384_crate() {
        use p384::ecdsa::signature::hazmat::PrehashVerifier;
        for round in 0..12u8 {
            let key = SigningKey::random(&mut OsRng);
            let vk = key.verifying_key();
            let len = [32usize, 48, 64][usize::from(round % 3)];
            let prehash: std::vec::Vec<u8> = (0..len)
                .map(|i| (i as u8) ^ round.wrapping_mul(37))
                .collect();
            let sig: Signature = key.sign_prehash(&prehash).unwrap();
            let sig_der = sig.to_der();
            for compress in [false, true] {
                let point = vk.to_encoded_point(compress);
                assert_eq!(
                    verify_prehash(point.as_bytes(), &prehash, sig_der.as_bytes()),
                    Ok(())
                );
            }
            let point = vk.to_encoded_point(false);
            let mut other = prehash.clone();
            other[0] ^= 1;
            assert!(vk.verify_prehash(&other, &sig).is_err());
            assert_eq!(
                verify_prehash(point.as_bytes(), &other, sig_der.as_bytes()),
                Err(EcdsaError::BadSignature)
            );
            let other_key = SigningKey::random(&mut OsRng);
            let other_point = other_key.verifying_key().to_encoded_point(false);
            assert_eq!(
                verify_prehash(other_point.as_bytes(), &prehash, sig_der.as_bytes()),
                Err(EcdsaError::BadSignature)
            );
        }
    }

    #[test]
    fn refuses_what_the_crate_refuses() {
        let key = SigningKey::random(&mut OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let prehash = [7u8; 48];
        let sig: Signature = key.sign_prehash(&prehash).unwrap();
        let (r, s) = sig.split_bytes();
        let good = der(&strip(&r), &strip(&s));
        assert_eq!(verify_prehash(point.as_bytes(), &prehash, &good), Ok(()));

        // Off the curve, wrong tag, wrong length, identity.
        let mut bad = point.as_bytes().to_vec();
        bad[96] ^= 1;
        assert_eq!(
            verify_prehash(&bad, &prehash, &good),
            Err(EcdsaError::BadKey)
        );
        bad = point.as_bytes().to_vec();
        bad[0] = 0x05;
        assert_eq!(
            verify_prehash(&bad, &prehash, &good),
            Err(EcdsaError::BadKey)
        );
        assert_eq!(
            verify_prehash(&point.as_bytes()[..96], &prehash, &good),
            Err(EcdsaError::BadKey)
        );
        assert_eq!(
            verify_prehash(&[0], &prehash, &good),
            Err(EcdsaError::BadKey)
        );
        // x ≥ p.
        let mut big = std::vec![0x02];
        big.extend([0xff; 48]);
        assert_eq!(
            verify_prehash(&big, &prehash, &good),
            Err(EcdsaError::BadKey)
        );

        // r = 0, s = n, a negative r, a non-minimal r, trailing bytes, a short prehash.
        let n = N.m.to_be_bytes();
        assert_eq!(
            verify_prehash(point.as_bytes(), &prehash, &der(&[0], &strip(&s))),
            Err(EcdsaError::MalformedSignature)
        );
        assert_eq!(
            verify_prehash(
                point.as_bytes(),
                &prehash,
                &der(&strip(&r), &[&[0u8][..], &n[..]].concat())
            ),
            Err(EcdsaError::MalformedSignature)
        );
        assert_eq!(
            verify_prehash(point.as_bytes(), &prehash, &der(&[0x80], &strip(&s))),
            Err(EcdsaError::MalformedSignature)
        );
        assert_eq!(
            verify_prehash(point.as_bytes(), &prehash, &der(&[0, 1], &strip(&s))),
            Err(EcdsaError::MalformedSignature)
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            verify_prehash(point.as_bytes(), &prehash, &trailing),
            Err(EcdsaError::MalformedSignature)
        );
        assert_eq!(
            verify_prehash(point.as_bytes(), &prehash[..23], &good),
            Err(EcdsaError::BadSignature)
        );
    }

    /// DER INTEGER contents of a big-endian unsigned value.
    fn strip(v: &[u8]) -> std::vec::Vec<u8> {
        let start = v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1);
        let mut out = std::vec::Vec::new();
        if v[start] & 0x80 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&v[start..]);
        out
    }
}

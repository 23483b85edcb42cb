//! The PKCS#10 certificate request (RFC 2986) a node sends for its client certificate (kubelet
//! TLS bootstrap): subject `O=system:nodes, CN=system:node:<name>`, an ECDSA P-256 key, signed
//! ecdsa-with-SHA256, no attributes — byte for byte what Go's `x509.CreateCertificateRequest`
//! writes for the kubelet (recorded-2 A01), so the API server's CSR checks see what they
//! expect. Written into caller buffers, no alloc.
//!
//! [`write_pem`] armors it (64-character lines, as Go's `pem.Encode`); the CSR object carries
//! the base64 of that PEM (`spec.request`, see [`crate::k8s::csr`]).

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

use super::base64::{encoded_len, Alphabet, Encoder};
use crate::k8s::name::NodeName;

/// The group every node certificate names (`O`), which the Node authorizer requires.
pub const NODE_ORGANIZATION: &str = "system:nodes";
/// The prefix of a node's user name (`CN`).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// PEM label of a certificate request.
pub const CSR_PEM_LABEL: &str = "CERTIFICATE REQUEST";

/// Largest DER [`write_node_csr`] needs (with room for the longest signature): a 253-byte node
/// name needs 499 bytes.
pub const CSR_DER_MAX: usize = 500;
/// Largest PEM of a [`CSR_DER_MAX`]-byte request.
pub const CSR_PEM_MAX: usize = pem_len(CSR_DER_MAX, CSR_PEM_LABEL.len());

const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// AlgorithmIdentifier { id-ecPublicKey, prime256v1 } and the BIT STRING header of an
/// uncompressed point: the first 26 bytes of every P-256 SubjectPublicKeyInfo.
const SPKI_P256_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// AlgorithmIdentifier { ecdsa-with-SHA256 } (no parameters, RFC 5758 3.2).
const ALG_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
/// version INTEGER 0.
const VERSION_1: &[u8] = &[0x02, 0x01, 0x00];
/// attributes [0] IMPLICIT SET OF, empty.
const NO_ATTRIBUTES: &[u8] = &[0xa0, 0x00];
const UTF8_STRING: u8 = 0x0c;
const SET: u8 = 0x31;
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;

/// Why no request was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrError {
    /// The output buffer is too small; `needed` bytes would do.
    BufferTooSmall { needed: usize },
    /// The key could not sign (does not happen with a valid P-256 key).
    Signing,
}

/// Bytes of a DER header (tag + length) for contents of `len` bytes (< 64 KiB).
const fn header_len(len: usize) -> usize {
    if len < 0x80 {
        2
    } else if len < 0x100 {
        3
    } else {
        4
    }
}

const fn tlv_len(len: usize) -> usize {
    header_len(len) + len
}

/// A forward DER writer over a caller buffer; a write past the end sets `overflow`.
struct Der<'a> {
    buf: &'a mut [u8],
    at: usize,
    overflow: bool,
}

impl Der<'_> {
    fn bytes(&mut self, b: &[u8]) {
        match self.buf.get_mut(self.at..self.at + b.len()) {
            Some(dst) => dst.copy_from_slice(b),
            None => self.overflow = true,
        }
        self.at += b.len();
    }

    fn header(&mut self, tag: u8, len: usize) {
        // Lengths here stay far below 64 KiB (CSR_DER_MAX).
        let [hi, lo] = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
        match len {
            0..=0x7f => self.bytes(&[tag, lo]),
            0x80..=0xff => self.bytes(&[tag, 0x81, lo]),
            _ => self.bytes(&[tag, 0x82, hi, lo]),
        }
    }

    fn tlv(&mut self, tag: u8, contents: &[u8]) {
        self.header(tag, contents.len());
        self.bytes(contents);
    }
}

/// Lengths of the parts of one request's certificationRequestInfo.
struct Layout {
    cn_len: usize,
    o_atv: usize,
    cn_atv: usize,
    name: usize,
    info: usize,
}

impl Layout {
    fn new(node: NodeName<'_>) -> Self {
        let cn_len = NODE_USER_PREFIX.len() + node.as_str().len();
        let o_atv = tlv_len(OID_ORGANIZATION.len()) + tlv_len(NODE_ORGANIZATION.len());
        let cn_atv = tlv_len(OID_COMMON_NAME.len()) + tlv_len(cn_len);
        let name = tlv_len(tlv_len(o_atv)) + tlv_len(tlv_len(cn_atv));
        let info = VERSION_1.len() + tlv_len(name) + 91 + NO_ATTRIBUTES.len();
        Layout {
            cn_len,
            o_atv,
            cn_atv,
            name,
            info,
        }
    }
}

fn write_info(node: NodeName<'_>, point: &[u8], layout: &Layout, out: &mut Der<'_>) {
    out.header(SEQUENCE, layout.info);
    out.bytes(VERSION_1);
    out.header(SEQUENCE, layout.name);
    out.header(SET, tlv_len(layout.o_atv));
    out.header(SEQUENCE, layout.o_atv);
    out.tlv(OID, OID_ORGANIZATION);
    out.tlv(UTF8_STRING, NODE_ORGANIZATION.as_bytes());
    out.header(SET, tlv_len(layout.cn_atv));
    out.header(SEQUENCE, layout.cn_atv);
    out.tlv(OID, OID_COMMON_NAME);
    out.header(UTF8_STRING, layout.cn_len);
    out.bytes(NODE_USER_PREFIX.as_bytes());
    out.bytes(node.as_str().as_bytes());
    out.bytes(SPKI_P256_PREFIX);
    out.bytes(point);
    out.bytes(NO_ATTRIBUTES);
}

/// A big-endian unsigned integer as DER INTEGER contents: no superfluous leading zeros, one
/// zero added when the top bit is set. Returns (pad, digits).
fn integer_parts(be: &[u8]) -> (bool, &[u8]) {
    let start = be
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(be.len().saturating_sub(1));
    let digits = be.get(start..).unwrap_or(&[]);
    (digits.first().is_some_and(|&b| b & 0x80 != 0), digits)
}

/// Writes the DER of the certificate request of `node` for `key` into `out` and returns its
/// length (at most [`CSR_DER_MAX`]). The signature is RFC 6979 deterministic. Writes nothing
/// usable when `out` is too small ([`CsrError::BufferTooSmall`] says how much would do).
pub fn write_node_csr(
    node: NodeName<'_>,
    key: &SigningKey,
    out: &mut [u8],
) -> Result<usize, CsrError> {
    let layout = Layout::new(node);
    let point = key.verifying_key().to_encoded_point(false);
    let info_len = tlv_len(layout.info);
    // The signature's DER length is known only after signing: the contents go after room for
    // the longest outer header, which is written last.
    let max_outer = header_len(info_len + ALG_ECDSA_SHA256.len() + 75);
    let mut w = Der {
        buf: out,
        at: max_outer,
        overflow: false,
    };
    write_info(node, point.as_bytes(), &layout, &mut w);
    if w.overflow {
        return Err(CsrError::BufferTooSmall {
            needed: max_outer + info_len + ALG_ECDSA_SHA256.len() + 75,
        });
    }
    let info = w.buf.get(max_outer..w.at).ok_or(CsrError::Signing)?;
    let signature: Signature = key.try_sign(info).map_err(|_| CsrError::Signing)?;
    let bytes = signature.to_bytes();
    let (r, s) = bytes.split_at(32);
    let (r_pad, r) = integer_parts(r);
    let (s_pad, s) = integer_parts(s);
    let r_len = r.len() + usize::from(r_pad);
    let s_len = s.len() + usize::from(s_pad);
    let sig_seq = tlv_len(r_len) + tlv_len(s_len);
    let bit_string = 1 + tlv_len(sig_seq);
    let body = info_len + ALG_ECDSA_SHA256.len() + tlv_len(bit_string);
    let outer_header = header_len(body);
    w.bytes(ALG_ECDSA_SHA256);
    w.header(BIT_STRING, bit_string);
    w.bytes(&[0]);
    w.header(SEQUENCE, sig_seq);
    w.header(INTEGER, r_len);
    if r_pad {
        w.bytes(&[0]);
    }
    w.bytes(r);
    w.header(INTEGER, s_len);
    if s_pad {
        w.bytes(&[0]);
    }
    w.bytes(s);
    if w.overflow {
        return Err(CsrError::BufferTooSmall {
            needed: max_outer + body,
        });
    }
    // The outer header goes right in front of the contents, then everything to the start.
    let start = max_outer - outer_header;
    let mut head = Der {
        buf: out,
        at: start,
        overflow: false,
    };
    head.header(SEQUENCE, body);
    let total = outer_header + body;
    out.copy_within(start..start + total, 0);
    Ok(total)
}

/// Length of the PEM armor of `der_len` bytes under a label of `label_len` bytes.
pub const fn pem_len(der_len: usize, label_len: usize) -> usize {
    let text = encoded_len(der_len, Alphabet::Standard);
    // "-----BEGIN " label "-----\n" … "-----END " label "-----\n", one "\n" per line.
    (11 + label_len + 6) + text + text.div_ceil(64) + (9 + label_len + 6)
}

/// Writes `der` as PEM with `label` (64-character lines, `\n` endings, as Go's `pem.Encode`).
pub fn write_pem(label: &str, der: &[u8], out: &mut [u8]) -> Result<usize, CsrError> {
    let needed = pem_len(der.len(), label.len());
    let Some(dst) = out.get_mut(..needed) else {
        return Err(CsrError::BufferTooSmall { needed });
    };
    let mut w = Der {
        buf: dst,
        at: 0,
        overflow: false,
    };
    w.bytes(b"-----BEGIN ");
    w.bytes(label.as_bytes());
    w.bytes(b"-----\n");
    let mut column = 0;
    let mut sink = |piece: &[u8]| {
        for &c in piece {
            w.bytes(&[c]);
            column += 1;
            if column == 64 {
                w.bytes(b"\n");
                column = 0;
            }
        }
    };
    let mut enc = Encoder::new(Alphabet::Standard);
    enc.feed(der, &mut sink);
    enc.finish(&mut sink);
    if column != 0 {
        w.bytes(b"\n");
    }
    w.bytes(b"-----END ");
    w.bytes(label.as_bytes());
    w.bytes(b"-----\n");
    Ok(w.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use std::vec::Vec;

    /// The CSR picokubelet's recording sent (recorded-2 A01), DER.
    fn recorded_csr() -> Vec<u8> {
        use base64::Engine as _;
        let b64 = concat!(
            "MIHzMIGbAgEAMDkxFTATBgNVBAoMDHN5c3RlbTpub2RlczEgMB4GA1UEAwwXc3lz",
            "dGVtOm5vZGU6ZXNwLWJvb3QtMDEwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT2",
            "I86+A2lGc0yMXmNv8/EaPBlo2rMqLaIjPCQxcXpRYhIDkco2jUoELVgw7as8nvNw",
            "sjZ6xUZlrR3gYHTi3hSHoAAwCgYIKoZIzj0EAwIDRwAwRAIgNGt5zTUDnxXK7qpn",
            "ng2w0Qgwew8jWYObJWb1ELu8v9kCIDZKsK6RppbZ4IdD3SdkD+FcrQS6eGWsACKy",
            "Rvaon3NK"
        );
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    /// (certificationRequestInfo, signature DER) of a request.
    fn split(der: &[u8]) -> (&[u8], &[u8]) {
        use crate::tls::der::{Reader, BIT_STRING, SEQUENCE};
        let mut outer = Reader::new(der);
        let mut req = outer.sequence().unwrap();
        outer.finish().unwrap();
        let info = req.read(SEQUENCE).unwrap().raw;
        let alg = req.read(SEQUENCE).unwrap().raw;
        assert_eq!(alg, ALG_ECDSA_SHA256);
        let sig = req.read(BIT_STRING).unwrap().value;
        req.finish().unwrap();
        assert_eq!(sig[0], 0, "no unused bits");
        (info, &sig[1..])
    }

    #[test]
    fn the_request_info_is_byte_for_byte_the_recorded_one() {
        let recorded = recorded_csr();
        let (recorded_info, _) = split(&recorded);
        // The recording's key is not known; its public point is in the info. Rebuild the info
        // for that point and compare the bytes.
        let point = &recorded_info[recorded_info.len() - 2 - 65..recorded_info.len() - 2];
        let node = NodeName::new("esp-boot-01").unwrap();
        let layout = Layout::new(node);
        let mut buf = [0u8; CSR_DER_MAX];
        let mut w = Der {
            buf: &mut buf,
            at: 0,
            overflow: false,
        };
        write_info(node, point, &layout, &mut w);
        assert!(!w.overflow);
        let at = w.at;
        assert_eq!(&buf[..at], recorded_info);
    }

    #[test]
    fn the_request_verifies_under_its_own_key_and_parses_as_the_server_would() {
        for seed in 1..=40u8 {
            let key = key(seed);
            let node = NodeName::new("esp-boot-01").unwrap();
            let mut out = [0u8; CSR_DER_MAX];
            let len = write_node_csr(node, &key, &mut out).unwrap();
            let (info, sig) = split(&out[..len]);
            let sig = Signature::from_der(sig).unwrap();
            VerifyingKey::from(&key).verify(info, &sig).unwrap();
            // Same layout as the recording apart from the key and signature.
            assert_eq!(
                &info[..info.len() - 67],
                &split(&recorded_csr()).0[..info.len() - 67]
            );
        }
    }

    #[test]
    fn the_longest_node_name_fits_the_stated_maximum() {
        let name = std::format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        let node = NodeName::new(&name).unwrap();
        let mut out = [0u8; CSR_DER_MAX];
        let len = write_node_csr(node, &key(7), &mut out).unwrap();
        assert!(len <= CSR_DER_MAX && len > 470, "{len}");
        let (info, sig) = split(&out[..len]);
        VerifyingKey::from(&key(7))
            .verify(info, &Signature::from_der(sig).unwrap())
            .unwrap();
        let mut pem = [0u8; CSR_PEM_MAX];
        assert!(write_pem(CSR_PEM_LABEL, &out[..len], &mut pem).is_ok());
    }

    #[test]
    fn a_short_buffer_is_an_error_naming_the_size_that_would_do() {
        let node = NodeName::new("esp-boot-01").unwrap();
        let mut big = [0u8; CSR_DER_MAX];
        let len = write_node_csr(node, &key(3), &mut big).unwrap();
        for short in [0, 10, 150, len - 1] {
            let mut out = std::vec![0u8; short];
            match write_node_csr(node, &key(3), &mut out) {
                Err(CsrError::BufferTooSmall { needed }) => {
                    assert!(needed >= len && needed > short)
                }
                other => panic!("{short}: {other:?}"),
            }
        }
        // A buffer of exactly the request's size works.
        let mut out = std::vec![0u8; len];
        assert_eq!(write_node_csr(node, &key(3), &mut out), Ok(len));
    }

    #[test]
    fn pem_matches_the_recorded_armor() {
        let recorded = recorded_csr();
        let mut out = [0u8; CSR_PEM_MAX];
        let len = write_pem(CSR_PEM_LABEL, &recorded, &mut out).unwrap();
        let want = "-----BEGIN CERTIFICATE REQUEST-----\n\
MIHzMIGbAgEAMDkxFTATBgNVBAoMDHN5c3RlbTpub2RlczEgMB4GA1UEAwwXc3lz\n\
dGVtOm5vZGU6ZXNwLWJvb3QtMDEwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT2\n\
I86+A2lGc0yMXmNv8/EaPBlo2rMqLaIjPCQxcXpRYhIDkco2jUoELVgw7as8nvNw\n\
sjZ6xUZlrR3gYHTi3hSHoAAwCgYIKoZIzj0EAwIDRwAwRAIgNGt5zTUDnxXK7qpn\n\
ng2w0Qgwew8jWYObJWb1ELu8v9kCIDZKsK6RppbZ4IdD3SdkD+FcrQS6eGWsACKy\n\
Rvaon3NK\n\
-----END CERTIFICATE REQUEST-----\n";
        assert_eq!(std::str::from_utf8(&out[..len]).unwrap(), want);
        assert_eq!(len, pem_len(recorded.len(), CSR_PEM_LABEL.len()));
        // A full last line gets no empty line after it.
        let mut out = [0u8; 200];
        let len = write_pem("X", &[0u8; 48], &mut out).unwrap();
        assert_eq!(len, pem_len(48, 1));
        assert!(std::str::from_utf8(&out[..len])
            .unwrap()
            .ends_with("AAAA\n-----END X-----\n"));
        assert_eq!(
            write_pem("X", &[0u8; 48], &mut [0u8; 20]),
            Err(CsrError::BufferTooSmall { needed: len })
        );
    }
}

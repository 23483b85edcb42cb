//! Just enough DER to read what the server needs from a certificate it verified or a public key it
//! is asked to certify: a subject's CN and O values (kube-apiserver's x509 authenticator maps
//! them to user and groups) and a SubjectPublicKeyInfo's key type (rcgen wants the algorithm of
//! a key it certifies). Malformed input is `None`, never a panic.

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;

/// 2.5.4.3 commonName.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
/// 2.5.4.10 organizationName.
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];
/// 1.2.840.10045.2.1 id-ecPublicKey.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 prime256v1.
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.132.0.34 secp384r1.
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// 1.2.840.113549.1.1.1 rsaEncryption.
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.3.101.112 Ed25519.
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// One TLV off the front of `input`: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The content of a TLV with tag `want` at the front of `input`, and the rest.
fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, content, rest) = tlv(input)?;
    (tag == want).then_some((content, rest))
}

/// The subject's commonName and organizationName values, in certificate order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    /// CN values (the apiserver takes the first as the user name).
    pub common_names: Vec<String>,
    /// O values (the apiserver's groups).
    pub organizations: Vec<String>,
}

/// The subject of an X.509 certificate (DER).
pub fn certificate_subject(cert_der: &[u8]) -> Option<Subject> {
    let (cert, _) = expect(cert_der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    // [0] EXPLICIT version, optional.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature, issuer, validity: skipped.
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (name, _) = expect(rest, SEQUENCE)?;
    let mut subject = Subject::default();
    let mut rdns = name;
    while !rdns.is_empty() {
        let (set, next) = expect(rdns, SET)?;
        rdns = next;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, next) = expect(atvs, SEQUENCE)?;
            atvs = next;
            let (oid, value) = expect(atv, OID)?;
            // Any string type (UTF8String, PrintableString, …): the bytes as text.
            let (_, text, _) = tlv(value)?;
            let text = String::from_utf8_lossy(text).into_owned();
            if oid == OID_CN {
                subject.common_names.push(text);
            } else if oid == OID_O {
                subject.organizations.push(text);
            }
        }
    }
    Some(subject)
}

/// The key type of a SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on P-256.
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// RSA (any size).
    Rsa,
    /// Ed25519.
    Ed25519,
}

/// A SubjectPublicKeyInfo (DER) split into its key type and the BIT STRING's key bytes.
pub fn public_key(spki_der: &[u8]) -> Option<(KeyType, Vec<u8>)> {
    let (spki, trailing) = expect(spki_der, SEQUENCE)?;
    if !trailing.is_empty() {
        return None;
    }
    let (alg, rest) = expect(spki, SEQUENCE)?;
    let (bits, _) = expect(rest, BIT_STRING)?;
    // The first content byte counts unused bits; a key is whole bytes.
    let (&0, key) = bits.split_first()? else {
        return None;
    };
    let (oid, params) = expect(alg, OID)?;
    let kind = if oid == OID_RSA {
        KeyType::Rsa
    } else if oid == OID_ED25519 {
        KeyType::Ed25519
    } else if oid == OID_EC_PUBLIC_KEY {
        let (curve, _) = expect(params, OID)?;
        if curve == OID_P256 {
            KeyType::EcdsaP256
        } else if curve == OID_P384 {
            KeyType::EcdsaP384
        } else {
            return None;
        }
    } else {
        return None;
    };
    Some((kind, key.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};

    #[test]
    fn reads_cn_and_every_o_of_an_rcgen_certificate() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "system:nodes");
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), "fleet:lab");
        dn.push(DnType::CommonName, "system:node:esp-01");
        p.distinguished_name = dn;
        let cert = p.self_signed(&key).unwrap();
        let s = certificate_subject(cert.der()).unwrap();
        assert_eq!(s.common_names, vec!["system:node:esp-01"]);
        assert_eq!(s.organizations, vec!["system:nodes", "fleet:lab"]);
    }

    #[test]
    fn reads_the_key_type_of_a_public_key() {
        for (alg, kind) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, KeyType::EcdsaP256),
            (&rcgen::PKCS_ECDSA_P384_SHA384, KeyType::EcdsaP384),
            (&rcgen::PKCS_ED25519, KeyType::Ed25519),
        ] {
            let key = KeyPair::generate_for(alg).unwrap();
            let (k, bytes) = public_key(&key.subject_public_key_info()).unwrap();
            assert_eq!(k, kind);
            assert_eq!(bytes, key.der_bytes());
        }
    }

    #[test]
    fn malformed_input_is_none() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = key.subject_public_key_info();
        for cut in 0..spki.len() {
            assert_eq!(public_key(&spki[..cut]), None, "cut at {cut}");
        }
        let mut trailing = spki.clone();
        trailing.push(0);
        assert_eq!(public_key(&trailing), None);
        assert_eq!(
            certificate_subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(certificate_subject(&[]), None);
    }
}

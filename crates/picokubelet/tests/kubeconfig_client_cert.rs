//! kubeconfig client certificates: `client-certificate(-data)` + `client-key(-data)` become the
//! core's client identity (leaf DER + an ECDSA P-256 key, SEC1 or PKCS#8 PEM, or an RSA key,
//! PKCS#1 or PKCS#8 PEM, as kind writes); other keys are refused with what to use instead.
mod common;

use base64::Engine as _;
use common::{ca_data, parse_in, TOKEN};
use p256::pkcs8::DecodePrivateKey as _;
use picokubelet::kubeconfig::{
    ClientCertError, KubeconfigError, PemSource, ResolveOptions, ResolvedConfig, TokenSource,
};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};

/// A client certificate (CN = user, O = group) from a fresh CA, and its PKCS#8 key.
struct ClientCert {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
    key_der: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A PEM block with its body wrapped at 64 columns (RFC 7468).
fn pem_block(label: &str, der: &[u8]) -> String {
    let body = b64(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn config(user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n\
         clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n    \
         certificate-authority-data: {}\n\
         users:\n- name: u\n  user:\n{user}",
        ca_data()
    )
}

fn resolve_in(dir: &std::path::Path, user: &str) -> Result<ResolvedConfig, KubeconfigError> {
    parse_in(dir, &config(user))?.resolve(&ResolveOptions::default())
}

fn resolve(user: &str) -> Result<ResolvedConfig, KubeconfigError> {
    resolve_in(tempfile::tempdir().unwrap().path(), user)
}

fn node_cert() -> ClientCert {
    cert_for(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap())
}

/// kind's admin user: an RSA key of `bits` bits (PKCS#1 `RSA PRIVATE KEY` in `key_pem`, as kind
/// writes it; PKCS#8 in `key_der`).
fn rsa_cert(bits: usize) -> ClientCert {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).unwrap();
    let pkcs8 = key.to_pkcs8_der().unwrap();
    let pair = KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let mut c = cert_for(pair);
    c.key_pem = key.to_pkcs1_pem(Default::default()).unwrap().to_string();
    c
}

fn cert_for(key: KeyPair) -> ClientCert {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca, ca_key);
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "system:nodes");
    dn.push(DnType::CommonName, "system:node:pico-1");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    ClientCert {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    }
}

/// The same key as SEC1 `EC PRIVATE KEY` PEM (kubeadm's and openssl ecparam's form).
fn sec1_pem(c: &ClientCert) -> String {
    let key = p256::SecretKey::from_pkcs8_der(&c.key_der).unwrap();
    key.to_sec1_pem(Default::default()).unwrap().to_string()
}

fn inline_user(cert_pem: &str, key_pem: &str) -> String {
    format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(cert_pem.as_bytes()),
        b64(key_pem.as_bytes())
    )
}

fn client_error(r: Result<ResolvedConfig, KubeconfigError>) -> (ClientCertError, String) {
    match r {
        Err(e @ KubeconfigError::ClientCertificate { .. }) => {
            let msg = e.to_string();
            let KubeconfigError::ClientCertificate { error, .. } = e else {
                unreachable!()
            };
            (error, msg)
        }
        other => panic!("expected a client certificate error, got {other:?}"),
    }
}

#[test]
fn inline_pkcs8_key_and_certificate_resolve_without_a_token() {
    let c = node_cert();
    let r = resolve(&inline_user(&c.cert_pem, &c.key_pem)).unwrap();
    assert_eq!(r.credentials.source, TokenSource::None);
    assert!(r.credentials.bearer_token().is_none());
    let cc = r.credentials.client_certificate.as_ref().unwrap();
    assert_eq!(cc.certificate_der, c.cert_der);
    assert_eq!(cc.certificate_source, PemSource::Inline);
    assert_eq!(cc.identity().certificate_der, &c.cert_der[..]);
    let key = p256::ecdsa::SigningKey::from_pkcs8_der(&c.key_der).unwrap();
    assert_eq!(cc.p256_key(), Some(&key));
}

#[test]
fn sec1_key_files_resolve_relative_to_the_kubeconfig_and_a_token_is_kept() {
    let c = node_cert();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pki")).unwrap();
    std::fs::write(dir.path().join("pki/node.crt"), &c.cert_pem).unwrap();
    std::fs::write(dir.path().join("pki/node.key"), sec1_pem(&c)).unwrap();
    let user = format!(
        "    client-certificate: pki/node.crt\n    client-key: pki/node.key\n    token: {TOKEN}\n"
    );
    let r = resolve_in(dir.path(), &user).unwrap();
    assert_eq!(r.credentials.bearer_token().unwrap().expose(), TOKEN);
    let cc = r.credentials.client_certificate.unwrap();
    assert_eq!(cc.certificate_der, c.cert_der);
    assert_eq!(
        cc.key_source,
        PemSource::File(dir.path().join("pki/node.key"))
    );
}

#[test]
fn one_file_holding_certificate_and_key_works_as_the_kubelets_does() {
    // kubelet-client-current.pem: certificate and key in one file, both fields point to it.
    let c = node_cert();
    let dir = tempfile::tempdir().unwrap();
    let both = format!("{}{}", c.cert_pem, sec1_pem(&c));
    std::fs::write(dir.path().join("current.pem"), both).unwrap();
    let user = "    client-certificate: current.pem\n    client-key: current.pem\n";
    let r = resolve_in(dir.path(), user).unwrap();
    assert_eq!(
        r.credentials.client_certificate.unwrap().certificate_der,
        c.cert_der
    );
}

#[test]
fn redacted_debug_shows_no_key() {
    let c = node_cert();
    let r = resolve(&inline_user(&c.cert_pem, &c.key_pem)).unwrap();
    let debug = format!("{r:?}");
    let sec1 = sec1_pem(&c);
    let body: String = sec1.lines().nth(1).unwrap().chars().take(16).collect();
    assert!(!debug.contains(&body), "{debug}");
    assert!(debug.contains("ClientCertificate"), "{debug}");
}

#[test]
fn rsa_keys_are_taken_in_pkcs1_and_pkcs8() {
    let c = rsa_cert(2048);
    for key in [c.key_pem.clone(), pem_block("PRIVATE KEY", &c.key_der)] {
        let r = resolve(&inline_user(&c.cert_pem, &key)).unwrap();
        let client = r.credentials.client_certificate.unwrap();
        assert_eq!(client.certificate_der, c.cert_der);
        assert!(
            client.p256_key().is_none(),
            "an RSA key: no board can use it"
        );
        assert!(format!("{:?}", client.identity()).contains("RSA"));
    }
    // Another RSA key than the certificate's.
    let other = rsa_cert(2048);
    let (error, _) = client_error(resolve(&inline_user(&c.cert_pem, &other.key_pem)));
    assert_eq!(error, ClientCertError::KeyMismatch);
}

#[test]
fn weak_and_malformed_rsa_keys_are_named() {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let c = rsa_cert(2048);
    // The size is judged before the certificate (ring would not even sign one for it).
    let weak = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024)
        .unwrap()
        .to_pkcs1_pem(Default::default())
        .unwrap()
        .to_string();
    let (error, msg) = client_error(resolve(&inline_user(&c.cert_pem, &weak)));
    assert_eq!(error, ClientCertError::RsaSize(1024));
    assert!(msg.contains("RSA-1024") && msg.contains("2048"), "{msg}");
    let truncated = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----\n";
    let (error, _) = client_error(resolve(&inline_user(&c.cert_pem, truncated)));
    assert!(
        matches!(error, ClientCertError::MalformedKey(_)),
        "{error:?}"
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let c = node_cert();
    let other = node_cert();
    let (error, _) = client_error(resolve(&inline_user(&c.cert_pem, &other.key_pem)));
    assert_eq!(error, ClientCertError::KeyMismatch);
}

#[test]
fn other_curves_encrypted_and_missing_keys_are_named() {
    let c = node_cert();
    let p384 = p384_sec1_pem();
    let cases = [
        (p384, "NotP256"),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
                .to_string(),
            "EncryptedKey",
        ),
        (c.cert_pem.clone(), "NoKey"),
    ];
    for (key, want) in cases {
        let (error, msg) = client_error(resolve(&inline_user(&c.cert_pem, &key)));
        assert!(
            format!("{error:?}").starts_with(want),
            "{want}: {error:?} ({msg})"
        );
    }
    let (error, _) = client_error(resolve(&inline_user("no pem here", &c.key_pem)));
    assert_eq!(error, ClientCertError::NoCertificate);
}

/// A P-384 SEC1 key (an EC key on a curve we do not sign with).
fn p384_sec1_pem() -> String {
    // SEC1 ECPrivateKey { version 1, privateKey OCTET STRING (48), [0] secp384r1 }.
    let mut key = vec![0x02, 0x01, 0x01, 0x04, 0x30];
    key.extend_from_slice(&[0x11; 48]);
    key.extend_from_slice(&[0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]);
    let mut der = vec![0x30, key.len() as u8];
    der.extend_from_slice(&key);
    pem_block("EC PRIVATE KEY", &der)
}

#[test]
fn a_certificate_without_a_key_and_the_reverse_are_refused() {
    let c = node_cert();
    let only_cert = format!(
        "    client-certificate-data: {}\n",
        b64(c.cert_pem.as_bytes())
    );
    let only_key = format!("    client-key-data: {}\n", b64(c.key_pem.as_bytes()));
    for (user, missing) in [(only_cert, "client-key"), (only_key, "client-certificate")] {
        match resolve(&user) {
            Err(e @ KubeconfigError::ClientCertificateHalf { .. }) => {
                assert!(e.to_string().contains(&format!("no {missing}")), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_missing_key_file_names_the_field_and_path() {
    let c = node_cert();
    let user = format!(
        "    client-certificate-data: {}\n    client-key: /nonexistent/node.key\n",
        b64(c.cert_pem.as_bytes())
    );
    let msg = resolve(&user).unwrap_err().to_string();
    assert!(msg.contains("client-key /nonexistent/node.key"), "{msg}");
}

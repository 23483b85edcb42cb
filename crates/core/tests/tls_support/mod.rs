//! Shared by tests/tls_*.rs: a k3s-like PKI made with rcgen, a rustls TLS 1.3 server that
//! answers HTTP/1.1 keep-alive GETs with `{"conn":C,"req":R,"path":"..."}`, and the client
//! side driven through `picokubelet_core::tls::open` over a tokio TcpStream.
#![allow(dead_code)] // each test crate uses a different part

pub mod evil;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use embedded_io_adapters::tokio_1::FromTokio;
use embedded_io_async::{Read, Write};
use picokubelet_core::time::UnixMicros;
use picokubelet_core::tls::{
    open_as, ClientIdentity, ServerIdentity, TlsOpenError, TlsVerification, RX_RECORD_BUFFER,
    TX_RECORD_BUFFER,
};
use rand_core::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A CA (DER + PEM) and the key/params to issue from it.
pub struct Ca {
    pub der: Vec<u8>,
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate chain (leaf first) and the leaf key.
#[derive(Clone)]
pub struct ServerCert {
    pub chain: Vec<Vec<u8>>,
    pub key_pkcs8: Vec<u8>,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn p256_key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// A key type and the algorithm its owner signs certificates with.
#[derive(Clone, Copy, Debug)]
pub enum Key {
    P256,
    P384,
    Ed25519,
    /// RSA of this many bits (from a per-process pool: `index` picks another key of the size)
    /// signing PKCS#1 v1.5 with the given rcgen algorithm (PKCS_RSA_SHA256/384/512).
    Rsa {
        bits: usize,
        index: usize,
        alg: &'static rcgen::SignatureAlgorithm,
    },
}

pub const fn rsa(bits: usize) -> Key {
    Key::Rsa {
        bits,
        index: 0,
        alg: &rcgen::PKCS_RSA_SHA256,
    }
}

/// PKCS#8 DER of the `index`th RSA key of `bits` bits, generated once per test process.
pub fn rsa_pkcs8(bits: usize, index: usize) -> Vec<u8> {
    use rsa::pkcs8::EncodePrivateKey as _;
    type Pool = Vec<((usize, usize), Vec<u8>)>;
    static POOL: std::sync::Mutex<Pool> = std::sync::Mutex::new(Vec::new());
    let mut pool = POOL.lock().unwrap();
    if let Some((_, der)) = pool.iter().find(|(k, _)| *k == (bits, index)) {
        return der.clone();
    }
    let key = rsa::RsaPrivateKey::new(&mut OsRng, bits).unwrap();
    let der = key.to_pkcs8_der().unwrap().as_bytes().to_vec();
    pool.push(((bits, index), der.clone()));
    der
}

pub fn key_pair(k: Key) -> KeyPair {
    match k {
        Key::P256 => p256_key(),
        Key::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
        Key::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
        Key::Rsa { bits, index, alg } => KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(rsa_pkcs8(bits, index)),
            alg,
        )
        .unwrap(),
    }
}

/// A public key that nobody holds the private half of (for sizes we refuse before any
/// signature is checked): an RSA modulus of `bits` bits, exponent 65537.
pub struct FakeRsaPublicKey(Vec<u8>);

impl FakeRsaPublicKey {
    pub fn new(bits: usize) -> Self {
        let mut n = vec![0xc5u8; bits / 8];
        n[0] = 0xc0 | (n[0] & 0x3f);
        *n.last_mut().unwrap() |= 1;
        let int = |v: &[u8]| {
            let mut c = if v[0] & 0x80 != 0 { vec![0] } else { vec![] };
            c.extend_from_slice(v);
            der_tlv(0x02, &c)
        };
        let mut body = int(&n);
        body.extend(int(&[1, 0, 1]));
        FakeRsaPublicKey(der_tlv(0x30, &body))
    }
}

pub fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

impl rcgen::PublicKeyData for FakeRsaPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

fn sans(names: &[&str]) -> CertificateParams {
    CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

impl Ca {
    /// Self-signed ECDSA P-256 root, like k3s' `k3s-server-ca@...`.
    pub fn new(cn: &str) -> Ca {
        Ca::with_key(cn, Key::P256)
    }

    /// Self-signed root with the given key (kubeadm: RSA-2048, or RSA-4096 as in F02).
    pub fn with_key(cn: &str, k: Key) -> Ca {
        let key = key_pair(k);
        let mut p = sans(&[]);
        p.distinguished_name = dn(cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        let cert = p.self_signed(&key).unwrap();
        Ca {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// An intermediate CA signed by this CA.
    pub fn intermediate(&self, cn: &str) -> Ca {
        self.intermediate_with(cn, Key::P256)
    }

    /// An intermediate CA with the given key, signed by this CA.
    pub fn intermediate_with(&self, cn: &str, k: Key) -> Ca {
        let key = key_pair(k);
        let mut p = sans(&[]);
        p.distinguished_name = dn(cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Ca {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// An END-ENTITY certificate (cA=false, EKU clientAuth — like a kubelet's client cert)
    /// issued by this CA, returned as something that can (illegitimately) sign.
    pub fn end_entity_as_issuer(&self, cn: &str) -> Ca {
        let key = p256_key();
        let mut p = sans(&[]);
        p.distinguished_name = dn(cn);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Ca {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A serving certificate with the given CN and SANs (IP literals become iPAddress SANs).
    pub fn issue(&self, cn: &str, names: &[&str]) -> ServerCert {
        self.issue_with(cn, names, None)
    }

    /// Like `issue`, with explicit validity (Unix seconds).
    pub fn issue_with(&self, cn: &str, names: &[&str], validity: Option<(i64, i64)>) -> ServerCert {
        self.issue_full(cn, names, validity, Key::P256)
    }

    /// A serving certificate with a key of the given type.
    pub fn issue_key(&self, cn: &str, names: &[&str], k: Key) -> ServerCert {
        self.issue_full(cn, names, None, k)
    }

    /// A serving certificate for `public` (a key nobody holds: for refusals before any
    /// CertificateVerify).
    pub fn issue_for_public_key(
        &self,
        cn: &str,
        names: &[&str],
        public: &impl rcgen::PublicKeyData,
    ) -> Vec<u8> {
        let mut p = sans(names);
        p.distinguished_name = dn(cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.signed_by(public, &self.issuer).unwrap().der().to_vec()
    }

    fn issue_full(
        &self,
        cn: &str,
        names: &[&str],
        validity: Option<(i64, i64)>,
        k: Key,
    ) -> ServerCert {
        let key = key_pair(k);
        let mut p = sans(names);
        p.distinguished_name = dn(cn);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if let Some((nb, na)) = validity {
            let epoch = rcgen::date_time_ymd(1970, 1, 1);
            p.not_before = epoch + std::time::Duration::from_secs(nb as u64);
            p.not_after = epoch + std::time::Duration::from_secs(na as u64);
        }
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        ServerCert {
            chain: vec![cert.der().to_vec()],
            key_pkcs8: key.serialize_der(),
        }
    }

    /// A client certificate as kube-apiserver maps it to a user: CN = user name, O = group
    /// (EKU clientAuth, like kubeadm's and the kubelet's).
    pub fn issue_client(&self, user: &str, group: &str) -> ServerCert {
        self.issue_client_with(user, group, Key::P256)
    }

    /// [`Self::issue_client`] for a key of kind `k` (kind's client keys are RSA-2048).
    pub fn issue_client_with(&self, user: &str, group: &str, k: Key) -> ServerCert {
        let key = key_pair(k);
        let mut p = sans(&[]);
        let mut name = dn(user);
        name.push(DnType::OrganizationName, group);
        p.distinguished_name = name;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        ServerCert {
            chain: vec![cert.der().to_vec()],
            key_pkcs8: key.serialize_der(),
        }
    }

    /// A serving-looking certificate whose EKU allows only clientAuth.
    pub fn issue_client_only(&self, cn: &str, names: &[&str]) -> ServerCert {
        let key = p256_key();
        let mut p = sans(names);
        p.distinguished_name = dn(cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        ServerCert {
            chain: vec![cert.der().to_vec()],
            key_pkcs8: key.serialize_der(),
        }
    }
}

impl ServerCert {
    /// Appends issuer certificates (intermediates) to the chain the server sends.
    pub fn with_chain(mut self, issuers: &[&Ca]) -> ServerCert {
        self.chain.extend(issuers.iter().map(|c| c.der.clone()));
        self
    }
}

/// The SANs k3s puts into its serving certificate (in k3s' order).
pub const K3S_SANS: &[&str] = &[
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
    "127.0.0.1",
    "::1",
    "10.43.0.1",
];

/// Server options.
#[derive(Default, Clone)]
pub struct ServerOpts {
    /// Ask for an optional client certificate signed by this CA (like kube-apiserver does).
    pub request_client_cert: Option<Vec<u8>>,
    /// With `request_client_cert`: refuse clients that send none (`certificate_required`).
    pub require_client_cert: bool,
}

/// A running server: its address, how many TCP connections and TLS handshakes it accepted.
pub struct Server {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    pub handshakes_ok: Arc<AtomicUsize>,
    /// The client certificate (leaf, DER) of each completed handshake that sent one.
    pub client_certs: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Starts a TLS 1.3-only rustls server on 127.0.0.1:0 (one task per connection).
pub async fn start_server(cert: &ServerCert, opts: ServerOpts) -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap();
    let builder = match opts.request_client_cert {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from(ca)).unwrap();
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            );
            let v = if opts.require_client_cert {
                v
            } else {
                v.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(v.build().unwrap())
        }
        None => builder.with_no_client_auth(),
    };
    let chain = cert
        .chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pkcs8.clone()));
    let config = builder.with_single_cert(chain, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
            .await
            .unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let handshakes_ok = Arc::new(AtomicUsize::new(0));
    let client_certs = Arc::new(Mutex::new(Vec::new()));
    let (acc, hs, cc) = (
        accepted.clone(),
        handshakes_ok.clone(),
        client_certs.clone(),
    );
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let conn_id = acc.fetch_add(1, Ordering::SeqCst) + 1;
            let acceptor = acceptor.clone();
            let hs = hs.clone();
            let cc = cc.clone();
            tokio::spawn(async move {
                let mut tls = match acceptor.accept(tcp).into_fallible().await {
                    Ok(tls) => tls,
                    // The alert is sent; read the client's remaining records before closing,
                    // so the close is a FIN, not an RST that could overtake the alert.
                    Err((_, mut tcp)) => {
                        let _ = tcp.shutdown().await;
                        let mut sink = [0u8; 1024];
                        while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
                        return;
                    }
                };
                hs.fetch_add(1, Ordering::SeqCst);
                if let Some(leaf) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                    cc.lock().unwrap().push(leaf.to_vec());
                }
                serve_http(&mut tls, conn_id).await;
            });
        }
    });
    Server {
        addr,
        accepted,
        handshakes_ok,
        client_certs,
    }
}

async fn serve_http<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    conn: usize,
) {
    let mut buf = Vec::new();
    let mut req = 0;
    loop {
        let mut chunk = [0u8; 1024];
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            buf.drain(..end + 4);
            req += 1;
            let path = head.split(' ').nth(1).unwrap_or("?").to_string();
            let body = format!("{{\"conn\":{conn},\"req\":{req},\"path\":\"{path}\"}}");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                body.len(),
                body
            );
            if s.write_all(resp.as_bytes()).await.is_err() || s.flush().await.is_err() {
                return;
            }
        }
    }
}

/// Parses a minimal HTTP/1.1 response with Content-Length; (status, body) once complete.
fn parse_response(buf: &[u8]) -> Option<(u16, String)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))?
        .trim()
        .parse()
        .ok()?;
    let total = end + 4 + len;
    (buf.len() >= total).then(|| {
        (
            status,
            String::from_utf8_lossy(&buf[end + 4..total]).to_string(),
        )
    })
}

/// Sends `GET path` over the session and reads one Content-Length response.
pub async fn get<S: Read + Write>(tls: &mut S, path: &str) -> Result<(u16, String), String> {
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: kubernetes\r\nAccept: application/json\r\n\r\n");
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e:?}"))?;
    tls.flush().await.map_err(|e| format!("flush: {e:?}"))?;
    let mut buf = Vec::new();
    loop {
        if let Some(r) = parse_response(&buf) {
            return Ok(r);
        }
        let mut chunk = [0u8; 512];
        let n = tls
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e:?}"))?;
        if n == 0 {
            return Err("eof".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Outcome of one client run: how `open` ended and the bodies of the GETs that followed.
#[derive(Debug)]
pub struct Outcome {
    pub open: Result<(), TlsOpenError>,
    pub bodies: Vec<String>,
}

/// 2000-01-01 .. 2001-01-01 (an old validity period) and "now" = 2026-01-01.
pub const OLD: (i64, i64) = (946_684_800, 978_307_200);
pub const NOW: u64 = 1_767_225_600;

pub fn now() -> Option<UnixMicros> {
    Some(UnixMicros::from_secs(NOW))
}

/// Dials `addr`, opens with `verification`, then does `gets` GETs over the one session.
pub async fn run(addr: SocketAddr, verification: TlsVerification<'_>, gets: usize) -> Outcome {
    run_as(addr, verification, None, gets).await
}

/// `run`, authenticating as `client` when the server asks.
pub async fn run_as(
    addr: SocketAddr,
    verification: TlsVerification<'_>,
    client: Option<ClientIdentity<'_>>,
    gets: usize,
) -> Outcome {
    let mut rx = vec![0u8; RX_RECORD_BUFFER];
    let mut tx = vec![0u8; TX_RECORD_BUFFER];
    let socket = FromTokio::new(TcpStream::connect(addr).await.unwrap());
    match open_as(socket, &mut rx, &mut tx, verification, client, OsRng).await {
        Ok(mut tls) => {
            let mut bodies = Vec::new();
            for i in 0..gets {
                let (status, body) = get(&mut tls, &format!("/r{i}")).await.expect("GET");
                assert_eq!(status, 200);
                bodies.push(body);
            }
            let _ = tls.close().await;
            Outcome {
                open: Ok(()),
                bodies,
            }
        }
        Err(e) => Outcome {
            open: Err(e),
            bodies: vec![],
        },
    }
}

/// `run` with `TlsVerification::Verify` and the identity parsed from `name`.
pub async fn run_verified(
    addr: SocketAddr,
    ca_der: &[u8],
    name: &str,
    now: Option<UnixMicros>,
    gets: usize,
) -> Outcome {
    let verification = TlsVerification::Verify {
        ca_der,
        identity: ServerIdentity::parse(name),
        now,
    };
    run(addr, verification, gets).await
}

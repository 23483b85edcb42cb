//! A deliberately broken TLS 1.3 "server": an active attacker WITHOUT the server's private key.
//! It does the ECDHE honestly — so it knows the handshake keys and can compute a valid
//! Finished — but cannot prove possession of the certificate key. A correct client must refuse
//! it (RFC 8446 4.4.2/4.4.3: without PSK the server MUST send Certificate and
//! CertificateVerify). Only TLS_AES_128_GCM_SHA256 + secp256r1, what embedded-tls offers.

use std::net::SocketAddr;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer as _;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the impostor sends between EncryptedExtensions and Finished.
#[derive(Clone, Copy, Debug)]
pub enum Attack {
    /// No Certificate, no CertificateVerify.
    NoCertificate,
    /// The real (public) certificate chain, but no CertificateVerify.
    CertificateWithoutVerify,
    /// A CertificateVerify (garbage) and no Certificate at all.
    VerifyWithoutCertificate,
    /// CertificateVerify first, then the real chain.
    VerifyBeforeCertificate,
    /// The real chain and a well-formed CertificateVerify signed with the attacker's own key.
    ForeignCertificateVerify,
    /// Right after ServerHello: an encrypted record whose inner plaintext is EMPTY (only the
    /// 16-byte tag, no content-type octet).
    EmptyEncryptedRecord,
}

fn expand_label(secret: &[u8], label: &str, ctx: &[u8], len: usize) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut info = Vec::new();
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(ctx.len() as u8);
    info.extend_from_slice(ctx);
    let hk = Hkdf::<Sha256>::from_prk(secret).unwrap();
    let mut out = vec![0; len];
    hk.expand(&info, &mut out).unwrap();
    out
}

fn extract(salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    Hkdf::<Sha256>::extract(Some(salt), ikm).0.to_vec()
}

struct Keys {
    key: Vec<u8>,
    iv: Vec<u8>,
    seq: u64,
}

impl Keys {
    fn new(secret: &[u8]) -> Keys {
        Keys {
            key: expand_label(secret, "key", &[], 16),
            iv: expand_label(secret, "iv", &[], 12),
            seq: 0,
        }
    }

    fn nonce(&mut self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n.copy_from_slice(&self.iv);
        for (i, b) in self.seq.to_be_bytes().iter().enumerate() {
            n[4 + i] ^= b;
        }
        self.seq += 1;
        n
    }

    /// Seals `data` + `content_type` (no content type at all when it is 0).
    fn seal(&mut self, content_type: u8, data: &[u8]) -> Vec<u8> {
        let mut buf = data.to_vec();
        if content_type != 0 {
            buf.push(content_type);
        }
        let len = buf.len() + 16;
        let header = [23, 3, 3, (len >> 8) as u8, len as u8];
        let nonce = self.nonce();
        Aes128Gcm::new_from_slice(&self.key)
            .unwrap()
            .encrypt_in_place(Nonce::from_slice(&nonce), &header, &mut buf)
            .unwrap();
        let mut rec = header.to_vec();
        rec.extend_from_slice(&buf);
        rec
    }

    fn open(&mut self, header: &[u8], body: &[u8]) -> Option<Vec<u8>> {
        let mut buf = body.to_vec();
        let nonce = self.nonce();
        Aes128Gcm::new_from_slice(&self.key)
            .unwrap()
            .decrypt_in_place(Nonce::from_slice(&nonce), header, &mut buf)
            .ok()?;
        while buf.last() == Some(&0) {
            buf.pop();
        }
        buf.pop(); // content type
        Some(buf)
    }
}

async fn read_record(s: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut h = [0u8; 5];
    s.read_exact(&mut h).await.ok()?;
    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.ok()?;
    Some((h.to_vec(), body))
}

fn handshake_msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![
        ty,
        (body.len() >> 16) as u8,
        (body.len() >> 8) as u8,
        body.len() as u8,
    ];
    m.extend_from_slice(body);
    m
}

fn u24(n: usize) -> [u8; 3] {
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

/// (legacy_session_id, client P-256 key share) of a ClientHello handshake message.
fn parse_client_hello(ch: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut p = 4 + 2 + 32; // type+len, legacy_version, random
    let sid_len = usize::from(*ch.get(p)?);
    let sid = ch.get(p + 1..p + 1 + sid_len)?.to_vec();
    p += 1 + sid_len;
    let be16 = |i: usize| {
        Some(usize::from(u16::from_be_bytes([
            *ch.get(i)?,
            *ch.get(i + 1)?,
        ])))
    };
    p += 2 + be16(p)?;
    p += 1 + usize::from(*ch.get(p)?);
    let ext_end = p + 2 + be16(p)?;
    p += 2;
    while p < ext_end {
        let ty = be16(p)?;
        let len = be16(p + 2)?;
        let data = ch.get(p + 4..p + 4 + len)?;
        if ty == 0x0033 {
            let mut q = 2;
            while q + 4 <= data.len() {
                let group = u16::from_be_bytes([data[q], data[q + 1]]);
                let klen = usize::from(u16::from_be_bytes([data[q + 2], data[q + 3]]));
                if group == 0x0017 {
                    return Some((sid, data.get(q + 4..q + 4 + klen)?.to_vec()));
                }
                q += 4 + klen;
            }
        }
        p += 4 + len;
    }
    None
}

/// Starts the impostor on 127.0.0.1:0. `chain` is the real server's public chain (leaf first).
/// If a client gets as far, it answers one HTTP request with `{"impostor":true}`.
pub async fn start_impostor(attack: Attack, chain: Vec<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let chain = chain.clone();
            tokio::spawn(async move {
                let _ = impersonate(s, attack, &chain).await;
            });
        }
    });
    addr
}

fn certificate_msg(chain: &[Vec<u8>]) -> Vec<u8> {
    let mut list = Vec::new();
    for c in chain {
        list.extend_from_slice(&u24(c.len()));
        list.extend_from_slice(c);
        list.extend_from_slice(&[0, 0]);
    }
    let mut body = vec![0]; // empty certificate_request_context
    body.extend_from_slice(&u24(list.len()));
    body.extend_from_slice(&list);
    handshake_msg(11, &body)
}

fn certificate_verify_msg(signature_der: &[u8]) -> Vec<u8> {
    let mut body = vec![0x04, 0x03]; // ecdsa_secp256r1_sha256
    body.extend_from_slice(&(signature_der.len() as u16).to_be_bytes());
    body.extend_from_slice(signature_der);
    handshake_msg(15, &body)
}

async fn impersonate(mut s: TcpStream, attack: Attack, chain: &[Vec<u8>]) -> Option<()> {
    let (_, ch) = read_record(&mut s).await?;
    let (sid, client_pub) = parse_client_hello(&ch)?;

    let secret = p256::ecdh::EphemeralSecret::random(&mut rand_core::OsRng);
    let server_pub = p256::EncodedPoint::from(secret.public_key());
    let client_pub = p256::PublicKey::from_sec1_bytes(&client_pub).ok()?;
    let shared = secret.diffie_hellman(&client_pub);

    let mut sh = vec![3, 3];
    sh.extend_from_slice(&[0x42; 32]);
    sh.push(sid.len() as u8);
    sh.extend_from_slice(&sid);
    sh.extend_from_slice(&[0x13, 0x01, 0]);
    let mut ext = vec![0x00, 0x2b, 0, 2, 3, 4]; // supported_versions: TLS 1.3
    let kp = server_pub.as_bytes();
    ext.extend_from_slice(&[0x00, 0x33]);
    ext.extend_from_slice(&((4 + kp.len()) as u16).to_be_bytes());
    ext.extend_from_slice(&[0x00, 0x17]);
    ext.extend_from_slice(&(kp.len() as u16).to_be_bytes());
    ext.extend_from_slice(kp);
    sh.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    sh.extend_from_slice(&ext);
    let sh = handshake_msg(2, &sh);

    let mut transcript = Sha256::new();
    transcript.update(&ch);
    transcript.update(&sh);

    let early = extract(&[0; 32], &[0; 32]);
    let derived = expand_label(&early, "derived", &Sha256::digest([]), 32);
    let hs = extract(&derived, shared.raw_secret_bytes());
    let th = transcript.clone().finalize();
    let s_hs = expand_label(&hs, "s hs traffic", &th, 32);

    let mut rec = vec![22, 3, 3];
    rec.extend_from_slice(&(sh.len() as u16).to_be_bytes());
    rec.extend_from_slice(&sh);
    s.write_all(&rec).await.ok()?;

    let mut server_hs = Keys::new(&s_hs);
    if let Attack::EmptyEncryptedRecord = attack {
        s.write_all(&server_hs.seal(0, &[])).await.ok()?;
        // Hold the connection until the client gives up (no sleeping: EOF ends it).
        let mut sink = [0u8; 256];
        while s.read(&mut sink).await.ok()? > 0 {}
        return None;
    }

    // Encrypted flight: EncryptedExtensions, [attack], Finished — coalesced in one record.
    let mut flight = Vec::new();
    let mut push = |msg: Vec<u8>, transcript: &mut Sha256| {
        transcript.update(&msg);
        flight.extend_from_slice(&msg);
    };
    push(handshake_msg(8, &[0, 0]), &mut transcript);
    let junk_signature = [0x30, 6, 2, 1, 1, 2, 1, 1];
    match attack {
        Attack::NoCertificate | Attack::EmptyEncryptedRecord => {}
        Attack::CertificateWithoutVerify => push(certificate_msg(chain), &mut transcript),
        Attack::VerifyWithoutCertificate => {
            push(certificate_verify_msg(&junk_signature), &mut transcript)
        }
        Attack::VerifyBeforeCertificate => {
            push(certificate_verify_msg(&junk_signature), &mut transcript);
            push(certificate_msg(chain), &mut transcript);
        }
        Attack::ForeignCertificateVerify => {
            push(certificate_msg(chain), &mut transcript);
            let mut msg = vec![0x20u8; 64];
            msg.extend_from_slice(b"TLS 1.3, server CertificateVerify\x00");
            msg.extend_from_slice(&transcript.clone().finalize());
            let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let sig: p256::ecdsa::Signature = key.sign(&msg);
            push(
                certificate_verify_msg(sig.to_der().as_bytes()),
                &mut transcript,
            );
        }
    }
    let finished_key = expand_label(&s_hs, "finished", &[], 32);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&finished_key).unwrap();
    mac.update(&transcript.clone().finalize());
    push(
        handshake_msg(20, &mac.finalize().into_bytes()),
        &mut transcript,
    );
    s.write_all(&server_hs.seal(22, &flight)).await.ok()?;

    // Application keys (transcript through server Finished).
    let th = transcript.clone().finalize();
    let derived = expand_label(&hs, "derived", &Sha256::digest([]), 32);
    let master = extract(&derived, &[0; 32]);
    let mut server_ap = Keys::new(&expand_label(&master, "s ap traffic", &th, 32));
    let mut client_ap = Keys::new(&expand_label(&master, "c ap traffic", &th, 32));

    // Skip the client's CCS (if any) and its encrypted Finished (not even checked); then
    // serve one request on the unauthenticated session.
    let mut seen_finished = false;
    loop {
        let (h, body) = read_record(&mut s).await?;
        match h[0] {
            20 => continue,
            23 if !seen_finished => seen_finished = true,
            23 => {
                let req = client_ap.open(&h, &body)?;
                if req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let body = "{\"impostor\":true}";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    s.write_all(&server_ap.seal(23, resp.as_bytes()))
                        .await
                        .ok()?;
                }
            }
            _ => return None,
        }
    }
}

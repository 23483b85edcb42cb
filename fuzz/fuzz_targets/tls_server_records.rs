#![no_main]
//! TLS records from the server into the agent's TLS client ([`TlsOpener`] over the patched
//! embedded-tls): whatever the server sends, the handshake ends with a typed error or a session,
//! never a panic and never a hang, and a server without the CA's key never gets a verified session.
//!
//! The socket is in memory and always ready: reads hand out the server's bytes in pieces, then
//! EOF; writes are swallowed. The future is polled with a no-op waker, so a `Pending` means the
//! client waits for something that will never come (a hang), and the number of reads is capped
//! so a client spinning on EOF is caught too.
//!
//! Input: `[sel] rest`. `sel` bit 0 picks the form of `rest`, bit 1 the trust, bits 2..8 the
//! read size (0: everything at once, else `7 * n` bytes per read).
//! - raw: `rest` is the server's byte stream, verbatim (plaintext records, as before ServerHello).
//! - keyed: the harness answers the client's ClientHello with a valid ServerHello (a fixed server
//!   key share), so it knows the handshake keys, and `rest` is a list of records
//!   `[ct, len_hi, len_lo, bytes]`: `ct < 0x80` is sealed under the current server keys with
//!   inner content type `ct` (0: none), `0x80..0xFF` is sent in plaintext with outer type
//!   `ct & 0x7f`, and `0xFF` makes the harness send a correct server Finished over the handshake
//!   so far and switch to the application keys (what follows reaches the open session's `read`).
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use picokubelet_core::client::{OpenContext, SessionBuffers, SessionOpener};
use picokubelet_core::tls::{decode_ca, ServerTrust, TlsOpener, CA_DER_MAX};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// Reads a client may make in one handshake plus a few session reads; far above what any
/// handshake needs (one per record piece), so reaching it means the client spins.
const MAX_READS: usize = 100_000;
/// Polls of the open future: the socket is always ready, so one poll must finish it.
const MAX_POLLS: usize = 4;
/// Session reads after a completed handshake.
const MAX_SESSION_READS: usize = 64;
/// The fixed server ECDHE secret of the keyed form (any valid scalar).
const SERVER_SECRET: [u8; 32] = [0x5a; 32];
const CA_PEM: &[u8] = include_bytes!("../../crates/picokubelet/tests/fixtures/ca.crt");

/// Deterministic "RNG": the same ClientHello every run, so coverage is reproducible and the
/// keyed form's shared secret can be cached.
struct FixedRng(u64);

impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for FixedRng {}

fn expand_label(secret: &[u8], label: &str, ctx: &[u8], len: usize) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut info = Vec::new();
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(ctx.len() as u8);
    info.extend_from_slice(ctx);
    let hk = Hkdf::<Sha256>::from_prk(secret).expect("32-byte PRK");
    let mut out = vec![0; len];
    hk.expand(&info, &mut out).expect("short output");
    out
}

fn extract(salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    Hkdf::<Sha256>::extract(Some(salt), ikm).0.to_vec()
}

/// One direction's record protection (RFC 8446 5.2/5.3).
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

    fn seal(&mut self, content_type: u8, data: &[u8]) -> Vec<u8> {
        let mut buf = data.to_vec();
        if content_type != 0 {
            buf.push(content_type);
        }
        let len = buf.len() + 16;
        let header = [23, 3, 3, (len >> 8) as u8, len as u8];
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&self.iv);
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        self.seq += 1;
        Aes128Gcm::new_from_slice(&self.key)
            .expect("16-byte key")
            .encrypt_in_place(Nonce::from_slice(&nonce), &header, &mut buf)
            .expect("in-memory buffer grows");
        let mut rec = header.to_vec();
        rec.extend_from_slice(&buf);
        rec
    }
}

fn handshake_msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut m = vec![ty, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    m
}

fn plaintext_record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut rec = vec![ty, 3, 3];
    rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
    rec.extend_from_slice(body);
    rec
}

/// (ClientHello handshake message, legacy_session_id, P-256 key share) from the client's first
/// record. Our own client wrote it, so a malformed one is a harness bug.
fn client_hello(written: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let len = usize::from(u16::from_be_bytes([written[3], written[4]]));
    let ch = written[5..5 + len].to_vec();
    let be16 = |i: usize| usize::from(u16::from_be_bytes([ch[i], ch[i + 1]]));
    let mut p = 4 + 2 + 32;
    let sid_len = usize::from(ch[p]);
    let sid = ch[p + 1..p + 1 + sid_len].to_vec();
    p += 1 + sid_len;
    p += 2 + be16(p);
    p += 1 + usize::from(ch[p]);
    let ext_end = p + 2 + be16(p);
    p += 2;
    while p < ext_end {
        let (ty, len) = (be16(p), be16(p + 2));
        let data = &ch[p + 4..p + 4 + len];
        if ty == 0x0033 {
            let mut q = 2;
            while q + 4 <= data.len() {
                let klen = usize::from(u16::from_be_bytes([data[q + 2], data[q + 3]]));
                if data[q..q + 2] == [0x00, 0x17] {
                    let share = data[q + 4..q + 4 + klen].to_vec();
                    return (ch, sid, share);
                }
                q += 4 + klen;
            }
        }
        p += 4 + len;
    }
    panic!("our ClientHello offers no secp256r1 key share");
}

thread_local! {
    /// The fixed server key share (a scalar multiplication, so computed once).
    static SERVER_SHARE: p256::EncodedPoint = p256::EncodedPoint::from(
        p256::SecretKey::from_bytes(&SERVER_SECRET.into())
            .expect("valid scalar")
            .public_key(),
    );
    /// (client key share, ECDHE shared secret): the client's share is the same every run.
    static SHARED: RefCell<Option<(Vec<u8>, Vec<u8>)>> = const { RefCell::new(None) };
}

fn server_share() -> p256::EncodedPoint {
    SERVER_SHARE.with(|share| *share)
}

fn shared_secret(client_share: &[u8]) -> Vec<u8> {
    SHARED.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some((share, secret)) = cached.as_ref() {
            if share == client_share {
                return secret.clone();
            }
        }
        let server = p256::SecretKey::from_bytes(&SERVER_SECRET.into()).expect("valid scalar");
        let client = p256::PublicKey::from_sec1_bytes(client_share).expect("our own key share");
        let secret = p256::ecdh::diffie_hellman(server.to_nonzero_scalar(), client.as_affine())
            .raw_secret_bytes()
            .to_vec();
        *cached = Some((client_share.to_vec(), secret.clone()));
        secret
    })
}

/// The server's whole byte stream for the keyed form, given the client's first flight.
fn keyed_stream(written: &[u8], records: &[u8]) -> Vec<u8> {
    let (ch, sid, client_share) = client_hello(written);
    let server_share = server_share();

    let mut sh = vec![3, 3];
    sh.extend_from_slice(&[0x42; 32]);
    sh.push(sid.len() as u8);
    sh.extend_from_slice(&sid);
    sh.extend_from_slice(&[0x13, 0x01, 0]);
    let kp = server_share.as_bytes();
    let mut ext = vec![0x00, 0x2b, 0, 2, 3, 4]; // supported_versions: TLS 1.3
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
    let hs = extract(&derived, &shared_secret(&client_share));
    let s_hs = expand_label(&hs, "s hs traffic", &transcript.clone().finalize(), 32);
    let mut keys = Keys::new(&s_hs);
    let mut in_handshake = true;

    let mut out = plaintext_record(22, &sh);
    let mut rest = records;
    while let [ct, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (body, tail) = tail.split_at(len);
        rest = tail;
        match *ct {
            0xff if in_handshake => {
                let finished_key = expand_label(&s_hs, "finished", &[], 32);
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(&finished_key).expect("any key length");
                mac.update(&transcript.clone().finalize());
                let fin = handshake_msg(20, &mac.finalize().into_bytes());
                transcript.update(&fin);
                out.extend_from_slice(&keys.seal(22, &fin));
                let derived = expand_label(&hs, "derived", &Sha256::digest([]), 32);
                let master = extract(&derived, &[0; 32]);
                let th = transcript.clone().finalize();
                keys = Keys::new(&expand_label(&master, "s ap traffic", &th, 32));
                in_handshake = false;
            }
            0x80.. => out.extend_from_slice(&plaintext_record(ct & 0x7f, body)),
            ct => {
                if in_handshake && ct == 22 {
                    transcript.update(body);
                }
                out.extend_from_slice(&keys.seal(ct, body));
            }
        }
    }
    out
}

/// The in-memory connection to the "server".
struct Wire<'a> {
    keyed: Option<&'a [u8]>,
    stream: Vec<u8>,
    offered: usize,
    piece: usize,
    written: Vec<u8>,
    reads: usize,
}

impl ErrorType for Wire<'_> {
    type Error = ErrorKind;
}

impl Read for Wire<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.reads += 1;
        assert!(self.reads <= MAX_READS, "client keeps reading after EOF");
        if let Some(records) = self.keyed.take() {
            self.stream = keyed_stream(&self.written, records);
        }
        let left = self.stream.get(self.offered..).unwrap_or_default();
        let n = left.len().min(self.piece).min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.offered += n;
        Ok(n)
    }
}

impl Write for Wire<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        // The ClientHello is all the harness needs; cap what it keeps.
        if self.written.len() < 4096 {
            self.written.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// Runs `fut` over the always-ready socket: it must finish within [`MAX_POLLS`] polls.
fn run_ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the TLS client waits although the socket is always ready (hang)");
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let keyed = sel & 1 != 0;
    let verify = sel & 2 != 0;
    let piece = match usize::from(sel >> 2) {
        0 => usize::MAX,
        n => 7 * n,
    };
    let mut ca = [0u8; CA_DER_MAX];
    let ca_der = decode_ca(CA_PEM, &mut ca).expect("the fixture CA decodes");
    let trust = if verify {
        ServerTrust::Ca(ca_der)
    } else {
        ServerTrust::InsecureSkipVerify
    };
    let wire = Wire {
        keyed: keyed.then_some(rest),
        stream: if keyed { Vec::new() } else { rest.to_vec() },
        offered: 0,
        piece,
        written: Vec::new(),
        reads: 0,
    };
    let mut opener = TlsOpener::new(trust);
    let mut bufs = Box::new(SessionBuffers::new());
    let ctx = OpenContext {
        server_name: "kubernetes",
        wall_now: None,
    };
    let mut rng = FixedRng(0x9e37_79b9_7f4a_7c15);
    run_ready(async {
        let Ok(mut session) = opener.open(wire, &mut bufs, ctx, &mut rng).await else {
            return;
        };
        assert!(
            !verify,
            "a server without the CA's key got a verified session"
        );
        let mut buf = [0u8; 512];
        for _ in 0..MAX_SESSION_READS {
            match session.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => assert!(n <= buf.len()),
            }
        }
    });
});

//! Flash-size probe: picokubelet_core::tls::open + write + flush + read on riscv32imac.
//! default: InsecureSkipVerify (handshake, AES-128-GCM, SHA-256, P-256 ECDH, no verifier);
//! `verified`: open_verified (K8sVerifier); `verified,ca`: + decode_ca of the CA input.
#![no_std]
#![no_main]

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use picokubelet_core::tls;

extern "C" {
    fn ext_read(buf: *mut u8, len: usize) -> isize;
    fn ext_write(buf: *const u8, len: usize) -> isize;
    fn ext_rand() -> u32;
    fn ext_ca(len: *mut usize) -> *const u8;
    fn ext_result(code: u32);
}

struct Sock;
impl embedded_io::ErrorType for Sock {
    type Error = embedded_io::ErrorKind;
}
impl embedded_io_async::Read for Sock {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = unsafe { ext_read(buf.as_mut_ptr(), buf.len()) };
        if n < 0 { Err(embedded_io::ErrorKind::Other) } else { Ok(n as usize) }
    }
}
impl embedded_io_async::Write for Sock {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = unsafe { ext_write(buf.as_ptr(), buf.len()) };
        if n < 0 { Err(embedded_io::ErrorKind::Other) } else { Ok(n as usize) }
    }
    async fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
}

struct Rng;
impl rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 { unsafe { ext_rand() } }
    fn next_u64(&mut self) -> u64 { (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32()) }
    fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u32() as u8 } }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
}
impl rand_core::CryptoRng for Rng {}

static mut RX: [u8; tls::RX_RECORD_BUFFER] = [0; tls::RX_RECORD_BUFFER];
static mut TX: [u8; tls::TX_RECORD_BUFFER] = [0; tls::TX_RECORD_BUFFER];

#[allow(static_mut_refs)]
async fn run() -> u32 {
    let (rx, tx) = unsafe { (&mut RX, &mut TX) };
    let input: &'static [u8] = unsafe { let mut l = 0; let p = ext_ca(&mut l); core::slice::from_raw_parts(p, l) };
    #[cfg(feature = "ca")]
    let mut ca_buf = [0u8; tls::CA_DER_MAX];
    #[cfg(feature = "ca")]
    let ca = match tls::decode_ca(input, &mut ca_buf) { Ok(d) => d, Err(_) => return 9 };
    #[cfg(not(feature = "ca"))]
    let ca = input;
    let id = tls::ServerIdentity::parse("kubernetes");
    #[cfg(feature = "verified")]
    let v = tls::TlsVerification::Verify { ca_der: ca, identity: id, now: None };
    #[cfg(not(feature = "verified"))]
    let v = { let _ = ca; tls::TlsVerification::InsecureSkipVerify { identity: id } };
    #[cfg(feature = "raw")]
    let mut conn = {
        let _ = v;
        struct P;
        impl embedded_tls::CryptoProvider for P {
            type CipherSuite = embedded_tls::Aes128GcmSha256;
            type Signature = p256::ecdsa::DerSignature;
            fn rng(&mut self) -> impl embedded_tls::CryptoRngCore { Rng }
        }
        let config = embedded_tls::TlsConfig::new().with_server_name("kubernetes");
        let mut c: embedded_tls::TlsConnection<'_, Sock, embedded_tls::Aes128GcmSha256> = embedded_tls::TlsConnection::new(Sock, rx, tx);
        if c.open(embedded_tls::TlsContext::new(&config, P)).await.is_err() { return 1; }
        c
    };
    #[cfg(not(feature = "raw"))]
    let mut conn = match tls::open(Sock, rx, tx, v, Rng).await {
        Ok(c) => c,
        Err(e) => return e.rejection().map_or(1, |r| r as u32 + 10),
    };
    if conn.write(b"GET /version HTTP/1.1\r\n\r\n").await.is_err() { return 3; }
    if conn.flush().await.is_err() { return 4; }
    let mut buf = [0u8; 256];
    match conn.read(&mut buf).await { Ok(n) => n as u32, Err(_) => 5 }
}

fn noop_waker() -> Waker {
    const VT: RawWakerVTable = RawWakerVTable::new(|_| RawWaker::new(core::ptr::null(), &VT), |_| {}, |_| {}, |_| {});
    unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VT)) }
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let w = noop_waker();
    let mut cx = Context::from_waker(&w);
    let mut f = pin!(run());
    loop {
        if let Poll::Ready(code) = f.as_mut().poll(&mut cx) { unsafe { ext_result(code) } }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }

//! The board's TLS bootstrap (core `bootstrap::board`, as the firmware drives it) against the
//! test API server over real TLS on in-memory pipes, under tokio's paused clock: discovery
//! from the token and the CA hash, a CSR sent with the token, the issued certificate kept in
//! the two-slot flash store and read back at the next boot (no new CSR), a dead token refused.
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use embedded_io_adapters::tokio_1::FromTokio;
use embedded_storage::{ReadStorage, Storage};
use picokubelet_core::bootstrap::board::{
    discover, request_certificate, BootstrapBuffers, CsrRequest, Link, Requested, StepError,
};
use picokubelet_core::bootstrap::csr_flow::CsrRefusal;
use picokubelet_core::bootstrap::session::CsrEvent;
use picokubelet_core::bootstrap::store::{IdentityStore, SlotBuf, REGION_SIZE, SLOT_BYTES_MAX};
use picokubelet_core::client::{ClientMetrics, HttpBuffers, SessionBuffers};
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::runtime::{Clock, Connector, Instant};
use picokubelet_core::tls::jws::BootstrapToken;
use picokubelet_core::tls::pin::CaPin;
use picokubelet_core::tls::{ServerTrust, TlsOpener};
use picokubelet_testkit::{ServerOptions, TestApiServer, TokioClock};

const TOKEN: &str = "abcdef.0123456789abcdef";
const NODE: &str = "esp32c6-240ac4123456";
const HOST: &str = "127.0.0.1:6443";
const SERVER_NAME: &str = "127.0.0.1";

struct Pipes(Rc<TestApiServer>);

impl Connector for Pipes {
    type Socket = FromTokio<tokio::io::DuplexStream>;
    type Error = &'static str;
    async fn connect(&mut self) -> Result<Self::Socket, &'static str> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let server = self.0.clone();
        tokio::task::spawn_local(async move {
            let _ = server.serve_connection(theirs).await;
        });
        Ok(FromTokio::new(ours))
    }
}

struct Paused(tokio::time::Instant);

impl Clock for Paused {
    fn now(&self) -> Instant {
        Instant::from_micros((tokio::time::Instant::now() - self.0).as_micros() as u64)
    }
    fn sleep_until(&self, at: Instant) -> impl std::future::Future<Output = ()> {
        tokio::time::sleep_until(self.0 + Duration::from_micros(at.as_micros()))
    }
}

struct Os;
impl rand_core::RngCore for Os {
    fn next_u32(&mut self) -> u32 {
        rand_core::OsRng.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::OsRng.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::OsRng.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        rand_core::OsRng.try_fill_bytes(dest)
    }
}
impl rand_core::CryptoRng for Os {}

/// The board's flash region in RAM.
struct Ram(Vec<u8>);
impl ReadStorage for Ram {
    type Error = ();
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), ()> {
        let at = offset as usize;
        bytes.copy_from_slice(self.0.get(at..at + bytes.len()).ok_or(())?);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.0.len()
    }
}
impl Storage for Ram {
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), ()> {
        let at = offset as usize;
        self.0
            .get_mut(at..at + bytes.len())
            .ok_or(())?
            .copy_from_slice(bytes);
        Ok(())
    }
}

fn server(auto_approve: bool) -> Rc<TestApiServer> {
    let wall = UNIX_EPOCH + Duration::from_secs(1_795_525_452);
    let server = TestApiServer::new(
        ServerOptions::default()
            .with_clock(TokioClock::new(wall))
            .with_csr_auto_approval(auto_approve)
            .with_seed(11),
    );
    let (id, secret) = TOKEN.split_once('.').unwrap();
    server.add_bootstrap_token(picokubelet_testkit::BootstrapToken::new(id, secret));
    Rc::new(server)
}

/// Everything a board holds for the steps.
struct Board {
    pipes: Pipes,
    clock: Paused,
    session: Box<SessionBuffers>,
    http: Box<HttpBuffers>,
    metrics: ClientMetrics,
    bufs: Box<BootstrapBuffers>,
}

impl Board {
    fn new(server: &Rc<TestApiServer>) -> Self {
        Board {
            pipes: Pipes(server.clone()),
            clock: Paused(tokio::time::Instant::now()),
            session: Box::default(),
            http: Box::default(),
            metrics: ClientMetrics::new(),
            bufs: Box::default(),
        }
    }
}

macro_rules! link {
    ($b:expr, $opener:expr) => {
        Link {
            connector: &mut $b.pipes,
            opener: $opener,
            clock: &$b.clock,
            session: &mut $b.session,
            http: &mut $b.http,
            metrics: &$b.metrics,
            host: HOST,
            server_name: SERVER_NAME,
            wall_now: None,
        }
    };
}

fn slot_bufs() -> (Box<SlotBuf>, Box<SlotBuf>) {
    (Box::new([0; SLOT_BYTES_MAX]), Box::new([0; SLOT_BYTES_MAX]))
}

#[tokio::test(start_paused = true)]
async fn token_and_ca_hash_to_a_stored_node_certificate_and_reuse_at_the_next_boot() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let server = server(true);
            let token = BootstrapToken::parse(TOKEN).unwrap();
            let pin = CaPin::of_certificate(&server.ca_der()).unwrap();
            let mut b = Board::new(&server);
            // 1. Discovery: anonymous, unverified session; the CA comes out checked.
            let mut insecure = TlsOpener::new(ServerTrust::InsecureSkipVerify);
            let mut bufs = std::mem::take(&mut b.bufs);
            let mut ca_buf = Box::new([0u8; picokubelet_core::tls::CA_DER_MAX]);
            let ca_len = discover(
                link!(b, &mut insecure),
                &token,
                &pin,
                &mut bufs,
                &mut ca_buf,
                &mut Os,
            )
            .await
            .unwrap();
            assert_eq!(&ca_buf[..ca_len], &server.ca_der()[..]);
            // A wrong hash is refused before anything is trusted.
            let wrong = CaPin([0; 32]);
            assert!(matches!(
                discover(
                    link!(b, &mut insecure),
                    &token,
                    &wrong,
                    &mut bufs,
                    &mut ca_buf,
                    &mut Os
                )
                .await,
                Err(StepError::Discovery(_))
            ));
            // 2.-3. The CSR with the token over a verified session.
            let ca = ca_buf[..ca_len].to_vec();
            let mut verified = TlsOpener::new(ServerTrust::Ca(&ca));
            let node = NodeName::new(NODE).unwrap();
            let mut req = CsrRequest::new(node, None, &mut bufs, &mut Os).unwrap();
            let mut sent = Vec::new();
            let len = loop {
                let on_event = |e: CsrEvent<'_>| {
                    if let CsrEvent::Sent { name } = e {
                        sent.push(name.to_owned());
                    }
                };
                match request_certificate(
                    link!(b, &mut verified),
                    Some(BearerToken::new(TOKEN)),
                    &mut req,
                    &mut bufs,
                    &mut Os,
                    on_event,
                )
                .await
                {
                    Requested::Issued { len } => break len,
                    Requested::Again(_) => continue,
                    other => panic!("{other:?}"),
                }
            };
            assert_eq!(sent.len(), 1, "{sent:?}");
            let csr = server.csr(&sent[0]).unwrap();
            assert_eq!(csr["spec"]["username"], "system:bootstrap:abcdef");
            assert_eq!(
                csr["spec"]["signerName"],
                "kubernetes.io/kube-apiserver-client-kubelet"
            );
            let cert = bufs.certificate[..len].to_vec();
            let parsed = picokubelet_core::tls::x509::parse(&cert).unwrap();
            assert!(
                parsed
                    .subject
                    .windows(NODE.len() + 12)
                    .any(|w| w == format!("system:node:{NODE}").as_bytes()),
                "the certificate names the node"
            );
            // 4. Into the store; the next boot reads it back (and sends no CSR).
            let mut store =
                IdentityStore::new(Ram(vec![0xFF; 0x4000]), 0x2000, REGION_SIZE).unwrap();
            let (mut s1, mut s2) = slot_bufs();
            store
                .save(&req.key_bytes(), &cert, &mut s1, &mut s2)
                .unwrap();
            let flash = store.into_inner();
            let requests_before = server.requests().len();
            let mut store = IdentityStore::new(flash, 0x2000, REGION_SIZE).unwrap();
            let (_, id) = store.load(&mut s1, &mut s2).unwrap().expect("an identity");
            assert_eq!(id.certificate_der, &cert[..]);
            assert_eq!(id.key, req.key_bytes());
            assert!(id.not_after > id.not_before);
            assert_eq!(server.requests().len(), requests_before);
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_deleted_token_is_refused_and_the_board_does_not_keep_asking_with_it() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let server = server(true);
            server.remove_bootstrap_token("abcdef");
            let mut b = Board::new(&server);
            let ca = server.ca_der();
            let mut verified = TlsOpener::new(ServerTrust::Ca(&ca));
            let mut bufs = std::mem::take(&mut b.bufs);
            let node = NodeName::new(NODE).unwrap();
            let mut req = CsrRequest::new(node, None, &mut bufs, &mut Os).unwrap();
            let got = request_certificate(
                link!(b, &mut verified),
                Some(BearerToken::new(TOKEN)),
                &mut req,
                &mut bufs,
                &mut Os,
                |_| {},
            )
            .await;
            assert_eq!(got, Requested::Refused(CsrRefusal::Unauthorized));
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn without_auto_approval_the_board_hears_once_that_it_waits_for_a_person() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let server = server(false);
            let mut b = Board::new(&server);
            let ca = server.ca_der();
            let mut verified = TlsOpener::new(ServerTrust::Ca(&ca));
            let mut bufs = std::mem::take(&mut b.bufs);
            let node = NodeName::new(NODE).unwrap();
            let mut req = CsrRequest::new(node, None, &mut bufs, &mut Os).unwrap();
            let mut hints = Vec::new();
            let mut rng = Os;
            let session = request_certificate(
                link!(b, &mut verified),
                Some(BearerToken::new(TOKEN)),
                &mut req,
                &mut bufs,
                &mut rng,
                |e| {
                    if let CsrEvent::AwaitingApproval { name } = e {
                        hints.push(name.to_owned());
                    }
                },
            );
            // The board polls for good; after a minute of simulated time it has said once
            // what to approve.
            let _ = tokio::time::timeout(Duration::from_secs(60), session).await;
            assert_eq!(hints.len(), 1, "{hints:?}");
            assert!(hints[0].starts_with("csr-"), "{hints:?}");
        })
        .await;
}

//! Bytes on the wire per node-hour (issue 11 "Measure"): the real agent (`run_agent` with the
//! core's TLS opener, as on the board) against the Kubernetes API test server, in simulated time
//! (tokio's paused clock drives both), for each way a board can authenticate. Every byte that
//! crosses the client's end of the connection is counted, TLS records included; the server's
//! request log gives the HTTP bytes per exchange, so the rest is TLS (handshake, record headers
//! and AEAD tags, session tickets).
//!
//! The agent runs `HOURS` simulated hours; the table reports the first hour (handshake,
//! registration, first status pushes) and the steady hours after it (a renewal every 10 s, a
//! status push every 5 min, a `/version` re-anchoring every 30 min).
//!
//! `cargo bench -p picokubelet-core --bench wire_bytes` (about a minute in the bench profile).

#[path = "../tests/agent_support/mod.rs"]
#[allow(unused_imports)]
mod agent_support;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_support::{
    profile, roomy_board, LogRef, SimClock, TestBoard, TestLog, BOOT_WALL_SECS, HOUR, NODE, SECOND,
};
use embedded_io_adapters::tokio_1::FromTokio;
use picokubelet_core::agent::{run_agent, AgentBuffers, AgentConfig, AgentState, Runtime};
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::runtime::Connector;
use picokubelet_core::tls::{ClientIdentity, ServerTrust, TlsOpener};
use picokubelet_testkit::{RequestRecord, ServerOptions, TestApiServer, TokioClock};

/// Simulated hours per credential: the first, then the steady ones.
const HOURS: u32 = 3;

use agent_support::counted::{Counted, Wire};

/// Dials the test server through a fresh duplex pipe.
struct PipeConnector {
    server: Rc<TestApiServer>,
    wire: Rc<Wire>,
}

impl Connector for PipeConnector {
    type Socket = Counted;
    type Error = &'static str;

    async fn connect(&mut self) -> Result<Counted, &'static str> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let server = self.server.clone();
        tokio::task::spawn_local(async move {
            let _ = server.serve_connection(theirs).await;
        });
        Ok(Counted::new(FromTokio::new(ours), self.wire.clone()))
    }
}

/// How the board authenticates.
#[derive(Clone, Copy, Debug)]
enum Credential {
    /// The testkit's node token (32 hex characters, like a k3s node token's secret part).
    StaticToken,
    /// An ECDSA P-256 client certificate from the client CA (kubeadm/kind kubeconfigs; what a
    /// bootstrap-issued certificate also is).
    ClientCertificate,
    /// A 1,024-byte bearer token (the size of a projected ServiceAccount JWT).
    LongToken,
    /// A certificate the client CA signed for the board's own P-256 key, as
    /// kube-controller-manager's signer issues it after a kubelet TLS bootstrap (recorded A07:
    /// one year, O=system:nodes). The bootstrap's own exchanges (CSR, polling) are not in it.
    IssuedForOwnKey,
}

impl Credential {
    fn label(self) -> &'static str {
        match self {
            Credential::StaticToken => "static token (32 B)",
            Credential::ClientCertificate => "ECDSA P-256 client certificate",
            Credential::LongToken => "1 KB ServiceAccount-style token",
            Credential::IssuedForOwnKey => {
                "certificate issued for the board's key (bootstrap shape)"
            }
        }
    }
}

/// What one credential cost.
struct Figures {
    /// (wire bytes out, wire bytes in) in the first hour and in the steady hours.
    first: (u64, u64),
    steady: (u64, u64),
    handshakes: usize,
    /// TLS records (out, in) in the steady hours.
    records: (u64, u64),
    /// Per exchange kind over the steady hours: (count, request bytes, response bytes).
    exchanges: BTreeMap<String, (usize, usize, usize)>,
}

/// `PATCH lease`, `PATCH node/status`, `GET /version`, … for a request.
fn exchange(r: &RequestRecord) -> String {
    let path = r.target.split('?').next().unwrap_or("");
    let what = if path.contains("/leases") {
        "lease"
    } else if path.ends_with("/status") {
        "node/status"
    } else if path.contains("/nodes") {
        "node"
    } else if path.contains("/events") {
        "event"
    } else {
        path
    };
    format!("{} {what}", r.method)
}

async fn measure(credential: Credential) -> Figures {
    let wall = UNIX_EPOCH + Duration::from_secs(BOOT_WALL_SECS);
    let server = Rc::new(TestApiServer::new(
        ServerOptions::default()
            .with_clock(TokioClock::new(wall))
            .with_seed(7),
    ));
    let node_user = format!("system:node:{NODE}");
    let long_token: String = (0..1024).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let token = match credential {
        Credential::StaticToken => Some(server.node_token(NODE)),
        Credential::LongToken => {
            server.add_token(&long_token, &node_user, &["system:nodes"]);
            Some(long_token.clone())
        }
        Credential::ClientCertificate | Credential::IssuedForOwnKey => None,
    };
    let (cert_der, key) = match credential {
        Credential::IssuedForOwnKey => {
            let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            // SubjectPublicKeyInfo of a P-256 key: the fixed DER prefix, then the point.
            let mut spki = vec![
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ];
            spki.extend_from_slice(key.verifying_key().to_encoded_point(false).as_bytes());
            let issued = server
                .issue_client_cert_for(
                    &spki,
                    &node_user,
                    &["system:nodes"],
                    wall,
                    wall + Duration::from_secs(365 * 86_400),
                )
                .expect("a certificate for the board's key");
            (issued.der, key)
        }
        _ => {
            use p256::pkcs8::DecodePrivateKey as _;
            let cert = server.issue_client_cert(&node_user, &["system:nodes"]);
            let key = p256::ecdsa::SigningKey::from_pkcs8_der(&cert.key_der)
                .expect("the testkit's P-256 key");
            (cert.cert_der, key)
        }
    };
    let ca = server.ca_der();
    let mut opener = TlsOpener::new(ServerTrust::Ca(&ca));
    if matches!(
        credential,
        Credential::ClientCertificate | Credential::IssuedForOwnKey
    ) {
        opener = opener.with_client_identity(ClientIdentity {
            certificate_der: &cert_der,
            key: picokubelet_core::tls::ClientKey::P256(&key),
        });
    }
    let mut cfg = AgentConfig::new(
        "127.0.0.1:6443",
        token.as_deref().map(BearerToken::new),
        profile(),
    );
    cfg.server_name = "127.0.0.1";

    let start = tokio::time::Instant::now();
    let log = Rc::new(TestLog::default());
    log.start.set(Some(start));
    let wire = Rc::new(Wire::default());
    let mut rt = Runtime {
        clock: SimClock { start },
        connector: PipeConnector {
            server: server.clone(),
            wire: wire.clone(),
        },
        opener,
        rng: rand_core::OsRng,
        board: TestBoard::new(roomy_board()),
        log: LogRef(log),
    };
    let state = AgentState::new();
    let mut bufs = Box::new(AgentBuffers::new());
    let first = Rc::new(Cell::new((0, 0)));
    let first_records = Rc::new(Cell::new((0, 0)));
    {
        let mark = first.clone();
        let mark_records = first_records.clone();
        let w = wire.clone();
        let agent = Box::pin(run_agent(&mut rt, &cfg, &state, &mut bufs));
        let script = async {
            tokio::time::sleep_until(start + HOUR).await;
            mark.set((w.tx.get(), w.rx.get()));
            mark_records.set((w.tx_records.get(), w.rx_records.get()));
            tokio::time::sleep_until(start + HOUR * HOURS + SECOND).await;
        };
        tokio::select! {
            r = agent => panic!("the agent returned: {r:?}"),
            _ = script => {}
        }
    }
    let (tx1, rx1) = first.get();
    let after_first: SystemTime = wall + HOUR;
    let mut exchanges = BTreeMap::new();
    for r in server.requests().iter().filter(|r| r.at > after_first) {
        assert_eq!(r.user.as_deref(), Some(node_user.as_str()), "{r:?}");
        let e = exchanges.entry(exchange(r)).or_insert((0, 0, 0));
        e.0 += 1;
        e.1 += r.request_bytes;
        e.2 += r.response_bytes;
    }
    Figures {
        first: (tx1, rx1),
        steady: (wire.tx.get() - tx1, wire.rx.get() - rx1),
        handshakes: server.tls_handshakes(),
        records: (
            wire.tx_records.get() - first_records.get().0,
            wire.rx_records.get() - first_records.get().1,
        ),
        exchanges,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    let steady_hours = f64::from(HOURS - 1);
    println!("| credential | first hour (out + in) | per steady node-hour (out + in) | TLS handshakes in {HOURS} h |");
    println!("|---|---|---|---|");
    let mut details = Vec::new();
    for credential in [
        Credential::StaticToken,
        Credential::ClientCertificate,
        Credential::LongToken,
        Credential::IssuedForOwnKey,
    ] {
        let f = rt.block_on(tokio::task::LocalSet::new().run_until(measure(credential)));
        let per_hour = |b: u64| b as f64 / steady_hours;
        println!(
            "| {} | {} B ({} + {}) | {:.0} B ({:.0} + {:.0}) | {} |",
            credential.label(),
            f.first.0 + f.first.1,
            f.first.0,
            f.first.1,
            per_hour(f.steady.0 + f.steady.1),
            per_hour(f.steady.0),
            per_hour(f.steady.1),
            f.handshakes,
        );
        details.push((credential, f));
    }
    for (credential, f) in details {
        println!("\nsteady hours, {} — per node-hour:", credential.label());
        println!("| exchange | count | request B | response B |");
        println!("|---|---|---|---|");
        let mut http = 0usize;
        let mut count = 0usize;
        for (what, (n, req, resp)) in &f.exchanges {
            count += n;
            println!(
                "| {what} | {:.0} | {:.0} | {:.0} |",
                *n as f64 / steady_hours,
                *req as f64 / steady_hours,
                *resp as f64 / steady_hours
            );
            http += req + resp;
        }
        let wire = (f.steady.0 + f.steady.1) as f64;
        println!(
            "| TLS (records, tags, tickets) | | {:.0} B = {:.1} % of the wire | |",
            (wire - http as f64) / steady_hours,
            100.0 * (wire - http as f64) / wire
        );
        println!(
            "| TLS records | {:.0} out + {:.0} in | {:.2} out per exchange | {:.2} in per exchange |",
            f.records.0 as f64 / steady_hours,
            f.records.1 as f64 / steady_hours,
            f.records.0 as f64 / count as f64,
            f.records.1 as f64 / count as f64,
        );
    }
}

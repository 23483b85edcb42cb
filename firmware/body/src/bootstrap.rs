//! kubelet TLS bootstrap on the board: a record with a bootstrap token (tag 0x11) gets the
//! board its own client certificate, kept in the `pkident` partition, and the agent runs with
//! it. The steps are the core's (`picokubelet_core::bootstrap::board`, the host's
//! `run --bootstrap-*` drives the same machine); this module strings them together with the
//! board's flash, RNG, network and log:
//!
//! 1. `pkident` through the partition table; the identity store's newest usable slot is the
//!    certificate when there is one (a torn or corrupt slot is said once and skipped).
//! 2. A record with a CA hash: cluster-info (every boot: the store keeps no CA), checked with
//!    the token's JWS and the hash.
//! 3. No usable certificate: a P-256 key from the board's RNG, a CSR with the token, polled
//!    until issued (a person must approve it unless the cluster does; said once), stored.
//! 4. The agent with that certificate until the renewal point (70–90 % of its lifetime, by the
//!    wall clock the agent anchors on the server's `Date`), then a new key and CSR with the
//!    current certificate; the token again when the certificate is refused (401) or expired.
//!
//! Every buffer has a stated size ([`IdentityBuffers`]); the TLS and HTTP buffers
//! are the agent's, lent to the steps while the agent is not running.

use core::fmt;

use embassy_futures::select::{select3, Either3};
use embassy_time::{Duration, Timer};
use embedded_storage::nor_flash::{NorFlash, RmwNorFlashStorage};
use embedded_storage::ReadStorage;
use esp_bootloader_esp_idf::partitions::{read_partition_table, PARTITION_TABLE_MAX_LEN};
use picokubelet_core::{
    agent::{run_agent, AgentBuffers, AgentConfig, AgentPhase, AgentState, ApiErrorClass, Runtime},
    bootstrap::{
        board::{discover, request_certificate, BootstrapBuffers, CsrRequest, Link, Requested},
        csr_flow::CsrRefusal,
        renewal::renewal_at,
        session::CsrEvent,
        store::{IdentityStore, SlotBuf, SlotProblem, REGION_SIZE, SLOT_BYTES_MAX},
    },
    client::{ClientMetrics, TLS_RX_LEN},
    http::request::BearerToken,
    k8s::name::NodeName,
    provision::{ClientCertificate, RecordTrust, CLIENT_KEY_LEN, MAX_CLIENT_CERT_LEN},
    runtime::{Clock, Connector},
    time::UnixMicros,
    tls::{
        jws::BootstrapToken, x509, ClientIdentity, ClientKey, ServerTrust, TlsOpener, CA_DER_MAX,
    },
};
use rand_core::{CryptoRng, RngCore};
use static_cell::ConstStaticCell;

use crate::{
    board_state::{self, BodyBoard, HeapGauge},
    bringup::stages::Stage,
    config::ReadOnly,
    connector::{EmbassyClock, NetConnector},
    progress::{halt, mirror, report, StageLog},
};

/// The identity partition's label in `firmware/partitions.csv`.
const IDENTITY_LABEL: &[u8] = b"pkident";
/// The largest erase sector the store's read-modify-write handles (esp-storage's and the tap
/// board's are 4 KiB); a flash with larger sectors is refused, not written.
pub const ERASE_MAX: usize = 4096;
/// A step that could not reach the server is tried again after this, doubling up to
/// [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// A refusal (dead token, denied request, wrong CA hash) needs a person: the board asks again
/// this rarely.
const REFUSED_PAUSE: Duration = Duration::from_secs(300);
/// How often the running agent's wall clock and last error are looked at for the renewal
/// point, expiry or a refused certificate.
const WATCH_PERIOD: Duration = Duration::from_secs(2);

/// What bootstrap keeps for as long as the agent runs: 2048 (CA) + 2048 (certificate in use)
/// = 4,096 bytes. The CA (discovery's; a record with the CA itself leaves it unused) is
/// static; the certificate is kept in the configuration's idle CA buffer
/// (`idle_ca::take`: a bootstrap record always comes from flash, so the compile-time
/// defaults' CA is never decoded into it).
///
/// The steps' own buffers ([`BootstrapBuffers`], 7,556 bytes) are not here: they are a local
/// of [`discover_ca`] and [`request`], so they live in the main task's future only while a
/// step runs, in the space the agent's future takes while the agent runs (an async fn's
/// states share storage; the agent is stopped during every step). The identity store's
/// scratch (one erase sector for the read-modify-write, two slots: 8,288 bytes) is the TLS
/// receive buffer's (`scratch`): no session is open while the store is read or written.
struct IdentityBuffers {
    /// The CA the sessions verify the server against, when it came from discovery.
    ca: &'static mut [u8; CA_DER_MAX],
    /// The certificate the agent runs with (DER).
    cert: &'static mut [u8; MAX_CLIENT_CERT_LEN],
}

static DISCOVERED_CA: ConstStaticCell<[u8; CA_DER_MAX]> = ConstStaticCell::new([0; CA_DER_MAX]);

const _: () = assert!(MAX_CLIENT_CERT_LEN == CA_DER_MAX);

/// The certificate in use: its key, its length in [`IdentityBuffers::cert`], its validity.
#[derive(Clone, Copy)]
struct Identity {
    key: [u8; CLIENT_KEY_LEN],
    len: usize,
    not_before: i64,
    not_after: i64,
}

/// What the bootstrap runs with, from `bringup::run`.
pub struct Bootstrap<'a, F, R, H> {
    pub token: BootstrapToken<'static>,
    pub trust: RecordTrust<'static>,
    /// The one connector (its socket pool is static, taken once): lent to each step and to
    /// each run of the agent.
    pub connector: NetConnector,
    pub host_header: &'a str,
    pub server_name: &'a str,
    pub node: &'a str,
    /// The agent's configuration (its token already `None`: the certificate is the identity).
    /// Borrowed: a copy here would be a second one in the main task's future, beside
    /// `bringup::run`'s.
    pub config: &'a AgentConfig<'a>,
    pub board: BodyBoard<H>,
    pub rng: R,
    pub flash: F,
    pub agent_buffers: &'static mut AgentBuffers,
}

/// Why the agent was stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Renew,
    Expired,
    Refused,
}

/// Gets the board a certificate, runs the agent with it and renews it, for ever. `b` is
/// borrowed: moved in, it would be in this future twice (argument and local).
pub async fn run<F, R, H>(b: &mut Bootstrap<'_, F, R, H>) -> !
where
    F: NorFlash + ReadStorage,
    R: RngCore + CryptoRng,
    H: HeapGauge + Copy,
{
    let Some(cert) = crate::idle_ca::take() else {
        halt(
            Stage::Identity,
            "no buffer for the certificate",
            "a bootstrap record must come from the pkconfig partition, not the build's defaults",
        )
        .await
    };
    let bufs = &mut IdentityBuffers {
        ca: DISCOVERED_CA.take(),
        cert,
    };
    board_state::update_led(|led| led.phase = AgentPhase::Connecting);
    let node = match NodeName::new(b.node) {
        Ok(node) => node,
        Err(e) => {
            halt(
                Stage::Identity,
                "the node name cannot be a certificate's",
                e,
            )
            .await
        }
    };
    let (base, len) = match identity_partition(&mut b.flash) {
        Ok(region) => region,
        Err(why) => halt(Stage::Identity, "no identity partition", why).await,
    };
    if F::ERASE_SIZE > ERASE_MAX || REGION_SIZE > len {
        halt(
            Stage::Identity,
            "the identity partition cannot hold the store",
            format_args!(
                "{} B sectors (at most {}), {} B partition (at least {}): flash \
                 firmware/partitions.csv",
                F::ERASE_SIZE,
                ERASE_MAX,
                len,
                REGION_SIZE
            ),
        )
        .await
    }
    println!(
        "bootstrap: identity store at {:#x}, {} bytes; node {} with bootstrap token {}.<secret>",
        base,
        len,
        b.node,
        b.token.id()
    );
    let ca_len = match b.trust {
        RecordTrust::Discovery(pin) => discover_ca(b, &pin, bufs).await,
        RecordTrust::Server(_) => 0,
    };
    let mut current = match load(
        &mut b.flash,
        base,
        &mut b.agent_buffers.session.rx,
        bufs.cert,
    ) {
        Some(id) => {
            report(
                Stage::Identity,
                true,
                &format_args!(
                    "the stored certificate for system:node:{} (valid until {})",
                    b.node, id.not_after
                ),
            );
            id
        }
        None => {
            println!("bootstrap: no usable stored certificate: asking with the bootstrap token");
            with_token(b, node, ca_len, base, bufs).await
        }
    };
    loop {
        let stop = run_until_stop(b, ca_len, &current, bufs).await;
        current = match stop {
            Stop::Renew => {
                println!("bootstrap: the certificate's renewal point: a new key and CSR with it");
                match request(b, node, ca_len, Some(current), bufs).await {
                    Ok(id) => {
                        store(
                            &mut b.flash,
                            base,
                            id,
                            &mut b.agent_buffers.session.rx,
                            bufs.cert,
                        );
                        id
                    }
                    Err(refusal) => {
                        println!(
                            "bootstrap: renewing with the certificate was refused ({:?}): the \
                             bootstrap token again",
                            refusal
                        );
                        with_token(b, node, ca_len, base, bufs).await
                    }
                }
            }
            Stop::Expired | Stop::Refused => {
                println!(
                    "bootstrap: the certificate is {}: the bootstrap token again",
                    if stop == Stop::Expired {
                        "expired"
                    } else {
                        "refused (401)"
                    }
                );
                clear(&mut b.flash, base, &mut b.agent_buffers.session.rx);
                with_token(b, node, ca_len, base, bufs).await
            }
        };
    }
}

/// The server's trust: the record's CA (or insecure flag), or the discovered CA.
fn trust<'c>(record: RecordTrust<'c>, ca: &'c [u8], ca_len: usize) -> ServerTrust<'c> {
    match record {
        RecordTrust::Server(t) => t,
        RecordTrust::Discovery(_) => ServerTrust::Ca(ca.get(..ca_len).unwrap_or(&[])),
    }
}

/// cluster-info until it checks out; the CA into `bufs.ca`, its length.
async fn discover_ca<F, R, H>(
    b: &mut Bootstrap<'_, F, R, H>,
    pin: &picokubelet_core::tls::pin::CaPin,
    bufs: &mut IdentityBuffers,
) -> usize
where
    R: RngCore + CryptoRng,
{
    let metrics = ClientMetrics::new();
    let mut pause = RETRY_FIRST;
    // In this future's state, not static: see `IdentityBuffers`.
    let mut steps = BootstrapBuffers::new();
    loop {
        // No CA yet and nothing secret sent: the JWS and the hash are the check.
        let mut opener = TlsOpener::new(ServerTrust::InsecureSkipVerify);
        let link = Link {
            connector: &mut b.connector,
            opener: &mut opener,
            clock: &EmbassyClock,
            session: &mut b.agent_buffers.session,
            http: &mut b.agent_buffers.http,
            metrics: &metrics,
            host: b.host_header,
            server_name: b.server_name,
            wall_now: None,
        };
        match discover(link, &b.token, pin, &mut steps, bufs.ca, &mut b.rng).await {
            Ok(len) => {
                println!(
                    "bootstrap: cluster-info is signed with the token and its CA ({} bytes) \
                     has the provisioned hash",
                    len
                );
                return len;
            }
            Err(picokubelet_core::bootstrap::board::StepError::Discovery(e)) => {
                report(Stage::Identity, false, &format_args!("discovery: {}", e));
                wait_refused().await;
            }
            Err(e) => {
                println!(
                    "bootstrap: cluster-info not read ({:?}); again in {} s",
                    e,
                    pause.as_secs()
                );
                Timer::after(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

async fn wait_refused() {
    println!(
        "bootstrap: waiting {} s before asking again (a person must fix this)",
        REFUSED_PAUSE.as_secs()
    );
    Timer::after(REFUSED_PAUSE).await;
}

/// A certificate with the bootstrap token, stored; asks until one comes.
async fn with_token<F, R, H>(
    b: &mut Bootstrap<'_, F, R, H>,
    node: NodeName<'_>,
    ca_len: usize,
    base: u32,
    bufs: &mut IdentityBuffers,
) -> Identity
where
    F: NorFlash + ReadStorage,
    R: RngCore + CryptoRng,
{
    board_state::update_led(|led| {
        led.phase = AgentPhase::Connecting;
        led.last_api_error = None;
    });
    loop {
        match request(b, node, ca_len, None, bufs).await {
            Ok(id) => {
                store(
                    &mut b.flash,
                    base,
                    id,
                    &mut b.agent_buffers.session.rx,
                    bufs.cert,
                );
                board_state::update_led(|led| led.last_api_error = None);
                return id;
            }
            Err(refusal) => {
                let why = match refusal {
                    CsrRefusal::Unauthorized => {
                        "the bootstrap token is refused (401: expired or deleted); provision a \
                         new one (kubeadm token create)"
                    }
                    CsrRefusal::Forbidden => {
                        "the bootstrap token may not create CSRs (403: no \
                         system:node-bootstrapper binding)"
                    }
                    CsrRefusal::Denied => "the CSR was denied",
                    CsrRefusal::Failed => "the signer failed the CSR",
                    _ => "the answer to the CSR is unusable",
                };
                if matches!(refusal, CsrRefusal::Unauthorized | CsrRefusal::Forbidden) {
                    board_state::update_led(|led| {
                        led.last_api_error = Some(if refusal == CsrRefusal::Unauthorized {
                            ApiErrorClass::Unauthorized
                        } else {
                            ApiErrorClass::Forbidden
                        })
                    });
                }
                report(Stage::Identity, false, &why);
                wait_refused().await;
            }
        }
    }
}

/// One certificate through a new key and CSR: with the bootstrap token, or with `renewing`'s
/// certificate (no token).
async fn request<F, R, H>(
    b: &mut Bootstrap<'_, F, R, H>,
    node: NodeName<'_>,
    ca_len: usize,
    renewing: Option<Identity>,
    bufs: &mut IdentityBuffers,
) -> Result<Identity, CsrRefusal>
where
    R: RngCore + CryptoRng,
{
    let IdentityBuffers { ca, cert } = bufs;
    // In this future's state, not static: see `IdentityBuffers`.
    let mut steps = BootstrapBuffers::new();
    let steps = &mut steps;
    let mut req = match CsrRequest::new(node, None, steps, &mut b.rng) {
        Ok(req) => req,
        // `CsrRequest::new` fails only with `StepError::Csr`; `halt` takes `Display` (the
        // firmware's derived `Debug` is shallow).
        Err(_) => {
            halt(
                Stage::Identity,
                "the CSR cannot be written",
                "the node name does not fit a certificate request",
            )
            .await
        }
    };
    let current_key = renewing.and_then(|id| {
        ClientCertificate {
            certificate_der: cert.get(..id.len).unwrap_or(&[]),
            key: &id.key,
        }
        .signing_key()
    });
    let token = match renewing {
        None => Some(BearerToken::new(b.token.expose())),
        Some(_) => None,
    };
    let metrics = ClientMetrics::new();
    let mut pause = RETRY_FIRST;
    let node_name = b.node;
    loop {
        let mut opener = TlsOpener::new(trust(b.trust, &ca[..], ca_len));
        if let (Some(id), Some(key)) = (renewing, current_key.as_ref()) {
            opener = opener.with_client_identity(ClientIdentity {
                certificate_der: cert.get(..id.len).unwrap_or(&[]),
                key: ClientKey::P256(key),
            });
        }
        let link = Link {
            connector: &mut b.connector,
            opener: &mut opener,
            clock: &EmbassyClock,
            session: &mut b.agent_buffers.session,
            http: &mut b.agent_buffers.http,
            metrics: &metrics,
            host: b.host_header,
            server_name: b.server_name,
            wall_now: None,
        };
        let got = request_certificate(link, token, &mut req, steps, &mut b.rng, |event| {
            log_event(node_name, event)
        })
        .await;
        match got {
            Requested::Issued { len } => {
                let der = steps.certificate.get(..len).unwrap_or(&[]);
                let Ok(parsed) = x509::parse(der) else {
                    println!("bootstrap: the issued certificate does not parse; a new request");
                    return Err(CsrRefusal::CertificateTooLarge);
                };
                let (Some(dst), true) = (cert.get_mut(..len), len > 0) else {
                    return Err(CsrRefusal::CertificateTooLarge);
                };
                dst.copy_from_slice(der);
                let id = Identity {
                    key: req.key_bytes(),
                    len,
                    not_before: parsed.not_before,
                    not_after: parsed.not_after,
                };
                report(
                    Stage::Identity,
                    true,
                    &format_args!(
                        "issued: a certificate for system:node:{} ({} bytes, valid until {})",
                        node_name, len, id.not_after
                    ),
                );
                return Ok(id);
            }
            Requested::Again(e) => {
                println!(
                    "bootstrap: the CSR session ended ({:?}{}); again in {} s",
                    e,
                    match opener.last_error() {
                        Some(_) => ", TLS refused",
                        None => "",
                    },
                    pause.as_secs()
                );
                Timer::after(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
            Requested::Refused(refusal) => return Err(refusal),
            Requested::Unusable => {
                println!("bootstrap: the issued certificate is not one the board can keep");
                return Err(CsrRefusal::CertificateTooLarge);
            }
        }
    }
}

fn log_event(node: &str, event: CsrEvent<'_>) {
    match event {
        CsrEvent::Sent { name } => println!(
            "bootstrap: CSR {} sent for system:node:{} (signer kube-apiserver-client-kubelet)",
            name, node
        ),
        CsrEvent::AwaitingApproval { name } => println!(
            "bootstrap: WAITING for approval: run `kubectl certificate approve {}` (the board \
             keeps asking)",
            name
        ),
        CsrEvent::Resending { name } => {
            println!("bootstrap: CSR {} is gone: a new one", name)
        }
        CsrEvent::Verdict { reason, message } => {
            println!("bootstrap: the CSR was refused: {}: {}", reason, message)
        }
    }
}

/// The agent with `id` until it must stop; the wall clock it anchored decides renewal and
/// expiry.
async fn run_until_stop<F, R, H>(
    b: &mut Bootstrap<'_, F, R, H>,
    ca_len: usize,
    id: &Identity,
    bufs: &mut IdentityBuffers,
) -> Stop
where
    R: RngCore + CryptoRng,
    H: HeapGauge + Copy,
{
    let cert = bufs.cert.get(..id.len).unwrap_or(&[]);
    let Some(key) = (ClientCertificate {
        certificate_der: cert,
        key: &id.key,
    })
    .signing_key() else {
        return Stop::Refused;
    };
    let opener =
        TlsOpener::new(trust(b.trust, &bufs.ca[..], ca_len)).with_client_identity(ClientIdentity {
            certificate_der: cert,
            key: ClientKey::P256(&key),
        });
    let renew_at = renewal_at(id.not_before, id.not_after, b.rng.next_u32());
    println!(
        "bootstrap: the agent with the certificate (valid {}..{}, renewal at {})",
        id.not_before, id.not_after, renew_at
    );
    let mut runtime = Runtime {
        clock: EmbassyClock,
        connector: Lent(&mut b.connector),
        opener,
        rng: &mut b.rng,
        board: b.board,
        log: StageLog,
    };
    let state = AgentState::new();
    let agent = run_agent(&mut runtime, b.config, &state, b.agent_buffers);
    match select3(
        agent,
        mirror(&state, b.board),
        watch(&state, renew_at, id.not_after),
    )
    .await
    {
        Either3::First(Ok(never)) => match never {},
        Either3::First(Err(e)) => {
            halt(Stage::Config, "the agent refused its configuration", e).await
        }
        Either3::Second(never) => match never {},
        Either3::Third(stop) => stop,
    }
}

/// The board's connector, lent to one run of the agent.
struct Lent<'c>(&'c mut NetConnector);

impl Connector for Lent<'_> {
    type Socket = <NetConnector as Connector>::Socket;
    type Error = <NetConnector as Connector>::Error;

    async fn connect(&mut self) -> Result<Self::Socket, Self::Error> {
        self.0.connect().await
    }
}

/// Waits for the renewal point, expiry (by the agent's wall clock) or a 401.
async fn watch(state: &AgentState, renew_at: i64, not_after: i64) -> Stop {
    loop {
        Timer::after(WATCH_PERIOD).await;
        // guess: not recorded: kube-apiserver only requests a client certificate in the
        // handshake and its x509 authenticator refuses an expired or foreign one per request,
        // so a dead certificate shows as 401, not as a failed handshake.
        if state.last_api_error() == Some(ApiErrorClass::Unauthorized) {
            return Stop::Refused;
        }
        let Some(UnixMicros(wall)) = state.wall_now(EmbassyClock.now()) else {
            continue;
        };
        let secs = i64::try_from(wall / 1_000_000).unwrap_or(i64::MAX);
        if secs >= not_after {
            return Stop::Expired;
        }
        if secs >= renew_at {
            return Stop::Renew;
        }
    }
}

/// `pkident` through the partition table: its offset and length.
fn identity_partition<F: ReadStorage>(flash: &mut F) -> Result<(u32, u32), PartitionTrouble> {
    let mut flash = ReadOnly(flash);
    let mut table_bytes = [0u8; PARTITION_TABLE_MAX_LEN];
    let table =
        read_partition_table(&mut flash, &mut table_bytes).map_err(|_| PartitionTrouble::Table)?;
    // Never `find_partition`: it panics on a custom subtype.
    let entry = table
        .iter()
        .find(|e| {
            e.raw_type() == 1
                && e.label().split(|&c| c == 0 || c == 0xFF).next() == Some(IDENTITY_LABEL)
        })
        .ok_or(PartitionTrouble::Missing)?;
    entry
        .offset()
        .checked_add(entry.len())
        .ok_or(PartitionTrouble::Table)?;
    Ok((entry.offset(), entry.len()))
}

#[derive(Debug)]
enum PartitionTrouble {
    Table,
    Missing,
}

impl fmt::Display for PartitionTrouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartitionTrouble::Table => "the partition table is unreadable or corrupt",
            PartitionTrouble::Missing => {
                "the partition table has no `pkident` data partition: flash \
                 firmware/partitions.csv (espflash --partition-table)"
            }
        })
    }
}

/// The identity store's scratch out of the (idle) TLS receive buffer: the erase sector for the
/// read-modify-write, then the two slots.
const SCRATCH_LEN: usize = ERASE_MAX + 2 * SLOT_BYTES_MAX;
const _: () = assert!(TLS_RX_LEN >= SCRATCH_LEN);

/// Always `Some` (the lengths are checked against `TLS_RX_LEN` at compile time).
fn scratch(rx: &mut [u8; TLS_RX_LEN]) -> Option<(&mut [u8], &mut SlotBuf, &mut SlotBuf)> {
    let (merge, rest) = rx.split_at_mut(ERASE_MAX);
    let (slot, rest) = rest.split_at_mut(SLOT_BYTES_MAX);
    let spare = rest.get_mut(..SLOT_BYTES_MAX)?;
    Some((merge, slot.try_into().ok()?, spare.try_into().ok()?))
}

/// The newest usable stored identity, copied into `cert`; a slot that is there but unusable is
/// said (the token is asked instead).
fn load<F: NorFlash>(
    flash: &mut F,
    base: u32,
    rx: &mut [u8; TLS_RX_LEN],
    cert: &mut [u8; MAX_CLIENT_CERT_LEN],
) -> Option<Identity> {
    let (merge, slot, spare) = scratch(rx)?;
    let storage = RmwNorFlashStorage::new(flash, merge);
    let Ok(mut store) = IdentityStore::new(storage, base, REGION_SIZE) else {
        return None;
    };
    for index in 0..2u8 {
        match store.read_slot(index, slot) {
            Ok(Err(SlotProblem::Empty)) | Ok(Ok(_)) => {}
            Ok(Err(problem)) => println!(
                "bootstrap: identity slot {} is unusable ({:?}: torn or corrupt); skipped",
                index, problem
            ),
            Err(e) => println!("bootstrap: identity slot {} unreadable: {}", index, e),
        }
    }
    let (index, stored) = match store.load(slot, spare) {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(e) => {
            println!("bootstrap: the identity store cannot be read: {}", e);
            return None;
        }
    };
    let len = stored.certificate_der.len();
    cert.get_mut(..len)?.copy_from_slice(stored.certificate_der);
    println!(
        "bootstrap: stored certificate in slot {} (sequence {}, {} bytes)",
        index, stored.sequence, len
    );
    Some(Identity {
        key: stored.key,
        len,
        not_before: stored.not_before,
        not_after: stored.not_after,
    })
}

/// Keeps `id` in the store; a failure is said and the board runs with it from RAM (it asks
/// again at the next boot).
fn store<F: NorFlash>(
    flash: &mut F,
    base: u32,
    id: Identity,
    rx: &mut [u8; TLS_RX_LEN],
    cert: &[u8; MAX_CLIENT_CERT_LEN],
) {
    let Some((merge, slot, spare)) = scratch(rx) else {
        return;
    };
    let storage = RmwNorFlashStorage::new(flash, merge);
    let saved = IdentityStore::new(storage, base, REGION_SIZE)
        .and_then(|mut store| store.save(&id.key, cert.get(..id.len).unwrap_or(&[]), slot, spare));
    match saved {
        Ok(index) => println!("bootstrap: certificate stored in identity slot {}", index),
        Err(e) => println!(
            "bootstrap: the certificate could not be stored ({}): it is used until reboot",
            e
        ),
    }
}

/// Erases both slots: the stored certificate is no good.
fn clear<F: NorFlash>(flash: &mut F, base: u32, rx: &mut [u8; TLS_RX_LEN]) {
    let Some((merge, _, _)) = scratch(rx) else {
        return;
    };
    let storage = RmwNorFlashStorage::new(flash, merge);
    if let Err(e) = IdentityStore::new(storage, base, REGION_SIZE).and_then(|mut s| s.clear()) {
        println!("bootstrap: the identity store could not be cleared: {}", e);
    }
}

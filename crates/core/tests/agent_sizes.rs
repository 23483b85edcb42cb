//! RAM of the agent: its buffers, its state and its futures. Printed with
//! `cargo test --test agent_sizes -- --nocapture`; the bounds make a regression fail.
//!
//! Future sizes depend on the socket type (here a tokio duplex adapter, 8 bytes; a TLS
//! connection adds its own size) and on the build profile (debug futures are larger).
mod agent_support;

use std::mem::{size_of, size_of_val};

use agent_support::*;
use embedded_io_adapters::tokio_1::FromTokio;
use picokubelet_core::agent::{run_agent, AgentBuffers, AgentState, Runtime};
use picokubelet_core::client::{
    ApiClient, HttpBuffers, PlainOpener, SessionBuffers, HTTP_RX_LEN, HTTP_TX_LEN, TLS_RX_LEN,
    TLS_TX_LEN,
};
use picokubelet_core::conditions::ConditionSet;
use picokubelet_core::json::extract::Extractor;
use picokubelet_core::k8s::response::{LeaseResponse, NodeResponse, StatusResponse};
use tokio::io::DuplexStream;

/// The RAM the agent's buffers may take on a board: one TLS record in (16 640 B, RFC 8446's
/// largest), 4 KiB out, 2 KiB + 5 KiB for HTTP. Growing them means changing this line.
const AGENT_BUFFERS_BUDGET: usize = 28 * 1024;

#[tokio::test(start_paused = true)]
async fn sizes_of_buffers_state_and_futures() {
    let w = World::new();
    let cfg = config();
    let state = AgentState::new();
    let mut rt = Runtime {
        clock: w.clock,
        connector: TestConnector {
            server: w.server.clone(),
        },
        opener: PlainOpener,
        rng: TestRng(1),
        board: TestBoard::new(w.board.clone()),
        log: LogRef(w.log.clone()),
    };
    let mut bufs = Box::new(AgentBuffers::new());
    let agent = run_agent(&mut rt, &cfg, &state, &mut bufs);
    let agent_future = size_of_val(&agent);
    drop(agent);
    type Client<'s> = ApiClient<'s, FromTokio<DuplexStream>, SimClock>;
    let rows = [
        ("SessionBuffers (TLS records)", size_of::<SessionBuffers>()),
        ("HttpBuffers (rx + tx)", size_of::<HttpBuffers>()),
        ("AgentBuffers", size_of::<AgentBuffers>()),
        ("AgentState", size_of::<AgentState>()),
        ("  ConditionSet", size_of::<ConditionSet>()),
        ("ApiClient (duplex socket)", size_of::<Client<'_>>()),
        ("  Extractor", size_of::<Extractor>()),
        ("  StatusResponse", size_of::<StatusResponse>()),
        ("NodeResponse (in a task future)", size_of::<NodeResponse>()),
        ("LeaseResponse", size_of::<LeaseResponse>()),
        ("run_agent future (duplex socket)", agent_future),
    ];
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("agent RAM ({profile} build):");
    for (name, bytes) in rows {
        println!("  {name:<36} {bytes:>6} B");
    }
    // The buffers hold their records and nothing else; their sizes are the session layer's and
    // the client's to state, this test only holds them to a budget.
    assert_eq!(size_of::<SessionBuffers>(), TLS_RX_LEN + TLS_TX_LEN);
    assert_eq!(size_of::<HttpBuffers>(), HTTP_RX_LEN + HTTP_TX_LEN);
    assert!(
        size_of::<AgentBuffers>() <= AGENT_BUFFERS_BUDGET,
        "AgentBuffers: {} B",
        size_of::<AgentBuffers>()
    );
    assert!(
        size_of::<AgentState>() < 2_048,
        "{}",
        size_of::<AgentState>()
    );
    assert!(
        size_of::<Client<'_>>() < 2_048,
        "{}",
        size_of::<Client<'_>>()
    );
    assert!(
        agent_future < 32 * 1024,
        "run_agent future: {agent_future} B"
    );
}

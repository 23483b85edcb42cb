//! The agent's configuration: defaults from DESIGN.md, typed refusals, and the size check of the
//! largest request against the client's transmit buffer.
mod agent_support;

use std::time::Duration;

use agent_support::*;
use picokubelet_core::agent::{AgentState, ConfigError, Timing};
use picokubelet_core::client::HTTP_TX_LEN;
use picokubelet_core::http::request::BearerToken;

#[test]
fn defaults_follow_the_design() {
    let t = Timing::default();
    assert_eq!(t.lease_renew_interval, Duration::from_secs(10));
    assert_eq!(t.lease_duration_secs, 40);
    assert_eq!(t.status_interval, Duration::from_secs(300));
    assert_eq!(t.reanchor_interval, Duration::from_secs(1800));
    assert_eq!(t.event_min_interval, Duration::from_secs(600));
    let cfg = config();
    assert_eq!(cfg.validate(), Ok(()));
    assert_eq!(cfg.check_fits(&mut [0u8; HTTP_TX_LEN]), Ok(()));
    assert_eq!(cfg.server_name, HOST);
    assert!(
        !format!("{cfg:?}").contains(TOKEN),
        "Debug must not show the token"
    );
}

#[test]
fn bad_values_are_refused_with_what_is_wrong() {
    let mut c = config();
    c.host = "bad host";
    assert_eq!(c.validate(), Err(ConfigError::Host));
    let mut c = config();
    c.server_name = "";
    assert_eq!(c.validate(), Err(ConfigError::ServerName));
    let mut c = config();
    c.token = Some(BearerToken::new("line\r\nX-Evil: 1"));
    assert_eq!(c.validate(), Err(ConfigError::Token));
    let mut c = config();
    c.profile.architecture = "Not A Label!";
    assert!(matches!(c.validate(), Err(ConfigError::Profile(_))));
    let mut c = config();
    c.timing.status_interval = Duration::ZERO;
    assert_eq!(
        c.validate(),
        Err(ConfigError::Interval {
            field: "status_interval"
        })
    );
    let mut c = config();
    c.timing.reanchor_interval = Duration::from_secs(2 * 86_400);
    assert_eq!(
        c.validate(),
        Err(ConfigError::Interval {
            field: "reanchor_interval"
        })
    );
    let mut c = config();
    c.timing.lease_duration_secs = 0;
    assert_eq!(
        c.validate(),
        Err(ConfigError::Interval {
            field: "lease_duration_secs"
        })
    );
    let mut c = config();
    c.timing.lease_renew_interval = Duration::from_secs(40);
    assert_eq!(c.validate(), Err(ConfigError::RenewNotBelowLeaseDuration));
    let mut c = config();
    c.timing.request_timeout = Duration::from_secs(10);
    assert_eq!(c.validate(), Err(ConfigError::TimeoutNotBelowRenewInterval));
}

#[test]
fn the_registration_must_fit_the_transmit_buffer() {
    // A service-account JWT is ~1 KB; find the longest token the default buffer takes.
    let mut longest = 0;
    for len in (0..4_000).step_by(8) {
        let token = "t".repeat(len.max(1));
        let mut c = config();
        c.token = Some(BearerToken::new(&token));
        match c.check_fits(&mut [0u8; HTTP_TX_LEN]) {
            Ok(()) => longest = len,
            Err(ConfigError::RegistrationTooLarge { needed, available }) => {
                assert_eq!(available, HTTP_TX_LEN);
                assert!(needed > available);
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    println!("longest bearer token with a {HTTP_TX_LEN}-byte transmit buffer: {longest} bytes");
    assert!(longest >= 1_024, "a 1 KiB token must fit, got {longest}");
    let c = config();
    assert!(matches!(
        c.check_fits(&mut [0u8; 1_024]),
        Err(ConfigError::RegistrationTooLarge {
            available: 1_024,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn run_agent_returns_the_config_error_before_connecting() {
    local(async {
        let w = World::new();
        let mut c = config();
        c.timing.lease_renew_interval = Duration::from_secs(60);
        let state = AgentState::new();
        let mut rt = picokubelet_core::agent::Runtime {
            clock: w.clock,
            connector: TestConnector {
                server: w.server.clone(),
            },
            opener: picokubelet_core::client::PlainOpener,
            rng: TestRng(1),
            board: TestBoard::new(w.board.clone()),
            log: LogRef(w.log.clone()),
        };
        let mut bufs = Box::new(picokubelet_core::agent::AgentBuffers::new());
        let r = picokubelet_core::agent::run_agent(&mut rt, &c, &state, &mut bufs).await;
        assert_eq!(r.err(), Some(ConfigError::RenewNotBelowLeaseDuration));
        assert_eq!(w.server.st.borrow().connections, 0);
    })
    .await;
}

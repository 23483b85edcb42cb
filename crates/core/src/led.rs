//! The status LED: what to show and how it looks, not the driver.
//!
//! Two pure functions: [`led_state`] picks one [`LedState`] from the agent's state and the
//! board's facts (link, configuration health, a panic), and
//! [`led_frame`] gives that state's colour at a moment in time. A WS2812 task on the board only
//! samples `led_frame(state, t_ms)` every few tens of milliseconds and writes the pixel; blinking
//! and breathing are functions of time, so the task keeps no pattern state of its own.
//!
//! Colours are dim: no channel exceeds [`MAX_CHANNEL`] (32 of 255), enough to read on a desk
//! without lighting the room.

use crate::agent::phase::{AgentPhase, ApiErrorClass};
use crate::agent::state::AgentState;
use crate::conditions::{Condition, ConditionStatus, ConditionType};

/// The network link as the body reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Link {
    /// The body does not report one (the host), or the network has not been started yet: the
    /// agent's phase stands.
    NotReported,
    /// No Wi-Fi association and no Ethernet carrier.
    Down,
    /// Wi-Fi associated or Ethernet carrier.
    Up,
}

/// How the body's configuration went (on the board: the flash record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigHealth {
    /// A valid record, or the defaults of an unprovisioned board.
    Fine,
    /// The record is unusable; complete compile-time defaults stand in. Shown as a warning.
    Degraded,
    /// No usable configuration at all: the agent does not run. Shown as AuthFailed (red double
    /// blink: a human must act), whatever else happens short of a panic.
    Refused,
}

/// Everything the LED depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LedInputs {
    /// The agent's phase ([`LedInputs::of_agent`]); the body's [`Link`] may override it.
    pub phase: AgentPhase,
    /// The body's link.
    pub link: Link,
    /// The body's configuration.
    pub config: ConfigHealth,
    /// The class of the last failed API request, `None` once a request succeeded again.
    pub last_api_error: Option<ApiErrorClass>,
    /// A request to the API server is under way.
    pub request_in_flight: bool,
    /// Some condition warns (see [`has_warning`]).
    pub warning: bool,
    /// The firmware panicked (the panic handler shows this before it resets).
    pub panicked: bool,
}

impl LedInputs {
    /// The agent's part of the inputs, read from `state`; the body sets what only it knows
    /// (`link`, `config`, `panicked`).
    pub fn of_agent(state: &AgentState) -> Self {
        LedInputs {
            phase: state.phase(),
            link: Link::NotReported,
            config: ConfigHealth::Fine,
            last_api_error: state.last_api_error(),
            request_in_flight: state.metrics().in_flight(),
            warning: state.conditions().is_some_and(|c| has_warning(&c)),
            panicked: false,
        }
    }
}

/// What the LED shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LedState {
    /// Dim white, steady.
    Booting,
    /// Blue, breathing (2 s).
    Connecting,
    /// Green, steady.
    Healthy,
    /// Cyan, steady: flickers on during each request.
    Busy,
    /// Amber, breathing (3 s).
    Warning,
    /// Magenta, blinking (1 Hz).
    Disconnected,
    /// Red, double blink every 2 s.
    AuthFailed,
    /// Bright red, fast blink (5 Hz).
    Panic,
}

impl LedState {
    /// Every state, for tests and for a driver's self-test cycle.
    pub const ALL: [LedState; 8] = [
        LedState::Booting,
        LedState::Connecting,
        LedState::Healthy,
        LedState::Busy,
        LedState::Warning,
        LedState::Disconnected,
        LedState::AuthFailed,
        LedState::Panic,
    ];

    /// The state's colour moves with time ([`led_frame`]): a driver must keep sampling it. A
    /// steady state needs a new frame only when the state changes.
    pub const fn is_animated(self) -> bool {
        !matches!(self, LedState::Booting | LedState::Healthy | LedState::Busy)
    }
}

/// The phase the LED shows: the body's link wins over the agent's view of it. Once the network
/// is started Booting is over; without a link the board is disconnected whatever the agent
/// thinks; a link that came back means connecting again until the agent says more.
pub fn shown_phase(phase: AgentPhase, link: Link) -> AgentPhase {
    match (link, phase) {
        (Link::NotReported, phase) => phase,
        (Link::Down, _) => AgentPhase::LinkDown,
        (Link::Up, AgentPhase::Booting | AgentPhase::LinkDown) => AgentPhase::Connecting,
        (Link::Up, phase) => phase,
    }
}

/// Picks the state to show. The phase is [`shown_phase`]; a [`ConfigHealth::Degraded`]
/// configuration counts as a warning. Priority, highest first — each line applies only when none
/// above does:
///
/// 1. `Panic` — the firmware panicked: nothing else matters.
/// 2. `AuthFailed` — the configuration was refused: the agent does not run, a human must act.
/// 3. `Booting` — phase Booting.
/// 4. `Disconnected` — phase LinkDown: whatever the server said last, it cannot be reached now.
/// 5. `AuthFailed` — the last request got 401 or 403, in phase Connecting or Registered: the one
///    failure that needs a human, so it outranks the progress states.
/// 6. `Connecting` — phase Connecting.
/// 7. `Warning` — registered, and a condition (or a degraded configuration) warns; steady, so
///    it is not hidden by `Busy`.
/// 8. `Busy` — registered, a request in flight.
/// 9. `Healthy` — registered.
pub fn led_state(inputs: &LedInputs) -> LedState {
    let auth_failed = inputs.last_api_error.is_some_and(ApiErrorClass::is_auth);
    if inputs.panicked {
        return LedState::Panic;
    }
    if inputs.config == ConfigHealth::Refused {
        return LedState::AuthFailed;
    }
    let warning = inputs.warning || inputs.config == ConfigHealth::Degraded;
    match shown_phase(inputs.phase, inputs.link) {
        AgentPhase::Booting => LedState::Booting,
        AgentPhase::LinkDown => LedState::Disconnected,
        _ if auth_failed => LedState::AuthFailed,
        AgentPhase::Connecting => LedState::Connecting,
        AgentPhase::Registered if warning => LedState::Warning,
        AgentPhase::Registered if inputs.request_in_flight => LedState::Busy,
        AgentPhase::Registered => LedState::Healthy,
    }
}

/// Whether any condition warns: MemoryPressure True, Haunted True, or Vibes `Cursed`.
pub fn has_warning(conditions: &[Condition]) -> bool {
    conditions.iter().any(|c| match c.kind {
        ConditionType::MemoryPressure | ConditionType::Haunted => c.status == ConditionStatus::True,
        ConditionType::Vibes => c.reason == "Cursed",
        _ => false,
    })
}

/// One pixel's colour, each channel 0..=[`MAX_CHANNEL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

/// The brightest any channel gets.
pub const MAX_CHANNEL: u8 = 32;

const OFF: Rgb = Rgb { r: 0, g: 0, b: 0 };
const WHITE: Rgb = Rgb { r: 8, g: 8, b: 8 };
const BLUE: Rgb = Rgb { r: 0, g: 0, b: 24 };
const GREEN: Rgb = Rgb { r: 0, g: 12, b: 0 };
const CYAN: Rgb = Rgb { r: 0, g: 16, b: 16 };
const AMBER: Rgb = Rgb { r: 24, g: 10, b: 0 };
const MAGENTA: Rgb = Rgb { r: 20, g: 0, b: 20 };
const RED: Rgb = Rgb { r: 24, g: 0, b: 0 };
const BRIGHT_RED: Rgb = Rgb {
    r: MAX_CHANNEL,
    g: 0,
    b: 0,
};

/// Breathing never goes fully dark, so it cannot be mistaken for a blink: the lowest level is
/// this many 256ths of the colour.
const BREATH_FLOOR: u64 = 32;

/// `colour` at `level`/256 brightness, `level` ≤ 256.
const fn scaled(colour: Rgb, level: u64) -> Rgb {
    const fn ch(c: u8, level: u64) -> u8 {
        let v = c as u64 * level / 256;
        if v > MAX_CHANNEL as u64 {
            MAX_CHANNEL
        } else {
            v as u8
        }
    }
    Rgb {
        r: ch(colour.r, level),
        g: ch(colour.g, level),
        b: ch(colour.b, level),
    }
}

/// A triangle wave from [`BREATH_FLOOR`] up to 256 and back over `period_ms`.
const fn breathe(colour: Rgb, t_ms: u64, period_ms: u64) -> Rgb {
    let half = period_ms / 2;
    let phase = t_ms % period_ms;
    let rise = if phase < half {
        phase
    } else {
        period_ms - phase
    };
    scaled(colour, BREATH_FLOOR + (256 - BREATH_FLOOR) * rise / half)
}

/// `colour` while `t_ms` modulo `period_ms` falls in one of the `on` intervals `[start, end)`.
fn blink(colour: Rgb, t_ms: u64, period_ms: u64, on: &[(u64, u64)]) -> Rgb {
    let phase = t_ms % period_ms;
    if on.iter().any(|&(start, end)| start <= phase && phase < end) {
        colour
    } else {
        OFF
    }
}

/// The colour of `state` at `t_ms` (any monotonic millisecond count; only its phase matters).
pub fn led_frame(state: LedState, t_ms: u64) -> Rgb {
    match state {
        LedState::Booting => WHITE,
        LedState::Connecting => breathe(BLUE, t_ms, 2_000),
        LedState::Healthy => GREEN,
        LedState::Busy => CYAN,
        LedState::Warning => breathe(AMBER, t_ms, 3_000),
        LedState::Disconnected => blink(MAGENTA, t_ms, 1_000, &[(0, 500)]),
        LedState::AuthFailed => blink(RED, t_ms, 2_000, &[(0, 150), (300, 450)]),
        LedState::Panic => blink(BRIGHT_RED, t_ms, 200, &[(0, 100)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::UnixMicros;
    use std::collections::BTreeSet;
    use std::vec::Vec;

    const PHASES: [AgentPhase; 4] = [
        AgentPhase::Booting,
        AgentPhase::LinkDown,
        AgentPhase::Connecting,
        AgentPhase::Registered,
    ];
    const ERRORS: [Option<ApiErrorClass>; 6] = [
        None,
        Some(ApiErrorClass::Unauthorized),
        Some(ApiErrorClass::Forbidden),
        Some(ApiErrorClass::Throttled),
        Some(ApiErrorClass::ServerError),
        Some(ApiErrorClass::Transport),
    ];

    fn registered() -> LedInputs {
        LedInputs {
            phase: AgentPhase::Registered,
            link: Link::NotReported,
            config: ConfigHealth::Fine,
            last_api_error: None,
            request_in_flight: false,
            warning: false,
            panicked: false,
        }
    }

    fn every_input() -> Vec<LedInputs> {
        let mut all = Vec::new();
        for phase in PHASES {
            for last_api_error in ERRORS {
                for bits in 0..8u8 {
                    all.push(LedInputs {
                        phase,
                        link: Link::NotReported,
                        config: ConfigHealth::Fine,
                        last_api_error,
                        request_in_flight: bits & 1 != 0,
                        warning: bits & 2 != 0,
                        panicked: bits & 4 != 0,
                    });
                }
            }
        }
        all
    }

    #[test]
    fn every_state_is_reachable() {
        let with = |f: fn(&mut LedInputs)| {
            let mut i = registered();
            f(&mut i);
            led_state(&i)
        };
        assert_eq!(with(|i| i.phase = AgentPhase::Booting), LedState::Booting);
        assert_eq!(
            with(|i| i.phase = AgentPhase::Connecting),
            LedState::Connecting
        );
        assert_eq!(with(|_| {}), LedState::Healthy);
        assert_eq!(with(|i| i.request_in_flight = true), LedState::Busy);
        assert_eq!(with(|i| i.warning = true), LedState::Warning);
        assert_eq!(
            with(|i| i.phase = AgentPhase::LinkDown),
            LedState::Disconnected
        );
        assert_eq!(
            with(|i| i.last_api_error = Some(ApiErrorClass::Unauthorized)),
            LedState::AuthFailed
        );
        assert_eq!(with(|i| i.panicked = true), LedState::Panic);
        let reached: BTreeSet<_> = every_input()
            .iter()
            .map(|i| state_index(led_state(i)))
            .collect();
        assert_eq!(reached.len(), LedState::ALL.len());
    }

    fn state_index(s: LedState) -> usize {
        LedState::ALL.iter().position(|&x| x == s).unwrap()
    }

    #[test]
    fn priority_order_holds_for_every_input() {
        for i in every_input() {
            let s = led_state(&i);
            let auth = matches!(
                i.last_api_error,
                Some(ApiErrorClass::Unauthorized | ApiErrorClass::Forbidden)
            );
            let expected = if i.panicked {
                LedState::Panic
            } else if i.phase == AgentPhase::Booting {
                LedState::Booting
            } else if i.phase == AgentPhase::LinkDown {
                LedState::Disconnected
            } else if auth {
                LedState::AuthFailed
            } else if i.phase == AgentPhase::Connecting {
                LedState::Connecting
            } else if i.warning {
                LedState::Warning
            } else if i.request_in_flight {
                LedState::Busy
            } else {
                LedState::Healthy
            };
            assert_eq!(s, expected, "{i:?}");
        }
    }

    const LINKS: [Link; 3] = [Link::NotReported, Link::Down, Link::Up];
    const HEALTH: [ConfigHealth; 3] = [
        ConfigHealth::Fine,
        ConfigHealth::Degraded,
        ConfigHealth::Refused,
    ];

    /// The rules the firmware applied on top of the core before they moved here
    /// (firmware/src/signals.rs at 5d766ef, `Shared::shown` and `settle_phase`).
    fn firmware_rules(i: &LedInputs) -> LedState {
        let mut phase = i.phase;
        match i.link {
            Link::NotReported => {}
            // Starting the network ended Booting; no link is LinkDown.
            Link::Down => phase = AgentPhase::LinkDown,
            Link::Up if matches!(phase, AgentPhase::Booting | AgentPhase::LinkDown) => {
                phase = AgentPhase::Connecting
            }
            Link::Up => {}
        }
        let base = LedInputs {
            phase,
            link: Link::NotReported,
            config: ConfigHealth::Fine,
            ..*i
        };
        match i.config {
            ConfigHealth::Refused if !i.panicked => LedState::AuthFailed,
            ConfigHealth::Degraded => led_state(&LedInputs {
                warning: true,
                ..base
            }),
            _ => led_state(&base),
        }
    }

    #[test]
    fn link_and_configuration_follow_the_boards_rules() {
        for base in every_input() {
            for link in LINKS {
                for config in HEALTH {
                    let i = LedInputs {
                        link,
                        config,
                        ..base
                    };
                    assert_eq!(led_state(&i), firmware_rules(&i), "{i:?}");
                }
            }
        }
    }

    #[test]
    fn link_and_configuration_cases() {
        let mut i = registered();
        i.link = Link::Down;
        assert_eq!(led_state(&i), LedState::Disconnected);
        i.link = Link::Up;
        assert_eq!(led_state(&i), LedState::Healthy);
        i.phase = AgentPhase::Booting;
        assert_eq!(led_state(&i), LedState::Connecting, "a link ends Booting");
        i.link = Link::NotReported;
        assert_eq!(led_state(&i), LedState::Booting);
        let mut i = registered();
        i.config = ConfigHealth::Degraded;
        assert_eq!(led_state(&i), LedState::Warning);
        i.config = ConfigHealth::Refused;
        i.link = Link::Down;
        assert_eq!(
            led_state(&i),
            LedState::AuthFailed,
            "refused outranks the link"
        );
        i.panicked = true;
        assert_eq!(led_state(&i), LedState::Panic);
    }

    #[test]
    fn steady_states_are_not_animated() {
        for s in LedState::ALL {
            let distinct: BTreeSet<_> = frames(s).iter().map(|f| (f.r, f.g, f.b)).collect();
            assert_eq!(s.is_animated(), distinct.len() > 1, "{s:?}");
        }
    }

    #[test]
    fn non_auth_errors_do_not_change_the_led() {
        for e in [
            ApiErrorClass::Throttled,
            ApiErrorClass::ServerError,
            ApiErrorClass::Transport,
        ] {
            let mut i = registered();
            i.last_api_error = Some(e);
            assert_eq!(led_state(&i), LedState::Healthy);
            i.phase = AgentPhase::Connecting;
            assert_eq!(led_state(&i), LedState::Connecting);
        }
        let mut i = registered();
        i.last_api_error = Some(ApiErrorClass::Forbidden);
        i.phase = AgentPhase::Connecting;
        assert_eq!(led_state(&i), LedState::AuthFailed);
    }

    fn condition(kind: ConditionType, status: ConditionStatus, reason: &'static str) -> Condition {
        Condition {
            kind,
            status,
            reason,
            message: "",
            last_transition: UnixMicros(0),
        }
    }

    #[test]
    fn warnings_come_from_the_right_conditions() {
        use ConditionStatus::*;
        use ConditionType::*;
        let calm = [
            condition(Ready, True, "KubeletReady"),
            condition(MemoryPressure, False, "KubeletHasSufficientMemory"),
            condition(Vibes, False, "Strained"),
            condition(Haunted, False, "Calm"),
            condition(Peckish, True, "Hungry"),
            condition(Existential, True, "Transcendent"),
        ];
        assert!(!has_warning(&calm));
        assert!(!has_warning(&[]));
        for warn in [
            condition(MemoryPressure, True, "KubeletHasInsufficientMemory"),
            condition(Haunted, True, "TimeSlipped"),
            condition(Haunted, True, "NewGhost"),
            condition(Vibes, False, "Cursed"),
        ] {
            let mut cs = calm.to_vec();
            cs.push(warn);
            assert!(has_warning(&cs), "{warn:?}");
        }
    }

    /// Frames over a few cycles, plus times near the end of u64.
    fn frames(state: LedState) -> Vec<Rgb> {
        (0..6_000u64)
            .step_by(5)
            .chain([u64::MAX - 1, u64::MAX])
            .map(|t| led_frame(state, t))
            .collect()
    }

    #[test]
    fn frames_are_dim() {
        for s in LedState::ALL {
            for f in frames(s) {
                assert!(f.r <= MAX_CHANNEL && f.g <= MAX_CHANNEL && f.b <= MAX_CHANNEL);
            }
        }
    }

    #[test]
    fn steady_states_are_steady_and_animated_ones_move() {
        for s in LedState::ALL {
            let distinct: BTreeSet<_> = frames(s).iter().map(|f| (f.r, f.g, f.b)).collect();
            let animated = !matches!(s, LedState::Booting | LedState::Healthy | LedState::Busy);
            assert_eq!(distinct.len() > 1, animated, "{s:?}");
            assert!(
                !distinct.contains(&(0, 0, 0)) || animated,
                "{s:?} is never dark"
            );
        }
    }

    #[test]
    fn blinks_go_dark_and_breaths_do_not() {
        let dark = |s| frames(s).contains(&OFF);
        for s in [
            LedState::Disconnected,
            LedState::AuthFailed,
            LedState::Panic,
        ] {
            assert!(dark(s), "{s:?}");
        }
        for s in [LedState::Connecting, LedState::Warning] {
            assert!(!dark(s), "{s:?}");
        }
    }

    #[test]
    fn blink_timing() {
        assert_eq!(led_frame(LedState::Panic, 0), BRIGHT_RED);
        assert_eq!(led_frame(LedState::Panic, 99), BRIGHT_RED);
        assert_eq!(led_frame(LedState::Panic, 100), OFF);
        assert_eq!(led_frame(LedState::Panic, 200), BRIGHT_RED);
        // AuthFailed: two short flashes, then a long pause.
        let on: Vec<bool> = (0..2_000)
            .step_by(50)
            .map(|t| led_frame(LedState::AuthFailed, t) != OFF)
            .collect();
        let flashes = on.windows(2).filter(|w| !w[0] && w[1]).count() + usize::from(on[0]);
        assert_eq!(flashes, 2);
        assert_eq!(led_frame(LedState::Disconnected, 499), MAGENTA);
        assert_eq!(led_frame(LedState::Disconnected, 500), OFF);
    }

    #[test]
    fn breathing_peaks_mid_cycle() {
        assert_eq!(led_frame(LedState::Connecting, 1_000), BLUE);
        assert_eq!(led_frame(LedState::Warning, 1_500), AMBER);
        let low = led_frame(LedState::Connecting, 0);
        assert!(low.b > 0 && low.b < BLUE.b);
        // Symmetric around the peak.
        assert_eq!(
            led_frame(LedState::Connecting, 700),
            led_frame(LedState::Connecting, 1_300)
        );
    }

    #[test]
    fn states_never_share_a_lit_colour() {
        let lit = |s| -> BTreeSet<(u8, u8, u8)> {
            frames(s)
                .into_iter()
                .filter(|&f| f != OFF)
                .map(|f| (f.r, f.g, f.b))
                .collect()
        };
        for (i, a) in LedState::ALL.iter().enumerate() {
            for b in LedState::ALL.iter().skip(i + 1) {
                assert!(lit(*a).is_disjoint(&lit(*b)), "{a:?} vs {b:?}");
            }
        }
    }
}

//! How long a reconciler waits before trying again, by what went wrong: the policy's
//! [`Action`] for a response, or the client's error when there was none; and how long the
//! connection loop waits before connecting again ([`Reconnect`]).
use crate::agent::backoff::{Backoff, CONGESTED, CREDENTIALS, FAST, SLOW};
use crate::agent::outcome::SessionEnd;
use crate::agent::policy::Action;
use crate::client::counters::ClientError;

/// The longest `Retry-After` honoured, in ms: a server asking for more is asked again after
/// this (the slow backoff's cap).
pub const MAX_RETRY_AFTER_MS: u64 = 300_000;

/// A fast, a congested, a credentials and a slow backoff for one reconciler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    fast: Backoff,
    congested: Backoff,
    credentials: Backoff,
    slow: Backoff,
}

impl Retry {
    pub const NEW: Retry = Retry {
        fast: FAST,
        congested: CONGESTED,
        credentials: CREDENTIALS,
        slow: SLOW,
    };

    /// The delay in ms after a response the policy answered with `action`:
    /// for 429/503 `Retry-After` as given, but never less than the congested backoff (API
    /// Priority and Fairness says `Retry-After: 1` however long its queues are, so a board
    /// that took it literally would ask again every second for as long as the overload lasts),
    /// the credentials backoff for 401 (a token may be restored at any time), the slow one for
    /// 403 and rejected requests (nothing changes until a human acts), the fast one for
    /// everything else.
    pub fn after_action(&mut self, action: Action, random: u32) -> u64 {
        match action {
            Action::Throttled { retry_after_secs } => {
                asked_ms(retry_after_secs).max(u64::from(self.congested.next_delay_ms(random)))
            }
            Action::CredentialsRejected => u64::from(self.credentials.next_delay_ms(random)),
            Action::Forbidden { .. } | Action::Rejected => {
                u64::from(self.slow.next_delay_ms(random))
            }
            Action::Done
            | Action::RecreateLease
            | Action::Reregister
            | Action::AdoptExisting
            | Action::RereadAndRetry
            | Action::Reconnect => u64::from(self.fast.next_delay_ms(random)),
        }
    }

    /// [`Retry::after_action`] for a renewal whose Lease is still live: a throttled renewal
    /// waits what the server asked for but presses on with the fast backoff, not the congested
    /// one, so a short burst of 429/503 does not outlast the Lease.
    pub fn after_action_urgent(&mut self, action: Action, random: u32) -> u64 {
        match action {
            Action::Throttled { retry_after_secs } => {
                asked_ms(retry_after_secs).max(u64::from(self.fast.next_delay_ms(random)))
            }
            other => self.after_action(other, random),
        }
    }

    /// The delay in ms after an exchange that failed without ending the session: a body or
    /// head we could not write waits long (a bug or a config value), a broken JSON body short.
    pub fn after_error(&mut self, error: ClientError, random: u32) -> u64 {
        match error {
            ClientError::Body(_) | ClientError::Request(_) => {
                u64::from(self.slow.next_delay_ms(random))
            }
            _ => u64::from(self.fast.next_delay_ms(random)),
        }
    }

    /// After a success: the next failure starts from the shortest delays again.
    pub fn reset(&mut self) {
        self.fast.reset();
        self.congested.reset();
        self.credentials.reset();
        self.slow.reset();
    }
}

/// A session that worked for this long before it timed out counts as healthy: its time-out
/// is one dead connection, not a struggling server.
pub const HEALTHY_SESSION_MS: u64 = 60_000;

/// The connection loop's backoff: the fast one after a refused or broken connection (a server
/// restarting comes back quickly), the congested one once a connect, a TLS handshake or
/// requests on two sessions in a row timed out (a server too busy to answer: another
/// handshake every few seconds from every board would only lengthen its queue, and a
/// handshake costs it several requests' worth of work).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconnect {
    fast: Backoff,
    congested: Backoff,
    /// Sessions in a row that ended by a request timing out, short-lived ones.
    timed_out_sessions: u32,
}

impl Reconnect {
    pub const NEW: Reconnect = Reconnect {
        fast: FAST,
        congested: CONGESTED,
        timed_out_sessions: 0,
    };

    /// The delay in ms before connecting again after a session that ended with `end`, having
    /// lasted `lasted_ms`; `progressed`: an exchange on it succeeded. A session the server
    /// closed, or one that had worked, is replaced at once; but once sessions keep ending by
    /// time-outs (two in a row, each shorter than [`HEALTHY_SESSION_MS`]) the server is
    /// struggling and the congested backoff applies.
    pub fn after_session(
        &mut self,
        end: SessionEnd,
        progressed: bool,
        lasted_ms: u64,
        random: u32,
    ) -> u64 {
        let timed_out = end == SessionEnd::Failed(ClientError::Timeout);
        if timed_out && lasted_ms < HEALTHY_SESSION_MS {
            self.timed_out_sessions = self.timed_out_sessions.saturating_add(1);
        } else {
            self.timed_out_sessions = 0;
        }
        let struggling = self.timed_out_sessions >= 2;
        if progressed && !struggling {
            self.reset();
        }
        match end {
            SessionEnd::Closed => 0,
            SessionEnd::Failed(_) if progressed && !struggling => 0,
            SessionEnd::Failed(error) => self.after(Some(error), random),
            SessionEnd::ServerError(_) => self.after(None, random),
        }
    }

    /// The delay in ms before connecting again after a session could not be opened or ended
    /// with `error` (`None`: the server ended it, or answered 5xx). Both sequences advance, so
    /// a time-out after refusals does not start the wide one from its shortest delay.
    pub fn after(&mut self, error: Option<ClientError>, random: u32) -> u64 {
        let fast = u64::from(self.fast.next_delay_ms(random));
        let congestion = matches!(
            error,
            Some(ClientError::ConnectTimeout | ClientError::Timeout)
        );
        if congestion || self.congested.attempts() > 0 {
            u64::from(self.congested.next_delay_ms(random)).max(fast)
        } else {
            fast
        }
    }

    /// After a session that made progress: the next failure starts from the fast delays.
    fn reset(&mut self) {
        self.fast.reset();
        self.congested.reset();
    }
}

impl Default for Reconnect {
    fn default() -> Self {
        Self::NEW
    }
}

/// `Retry-After` in ms, capped at [`MAX_RETRY_AFTER_MS`] (0 when the server gave none).
fn asked_ms(retry_after_secs: Option<u32>) -> u64 {
    u64::from(retry_after_secs.unwrap_or(0))
        .saturating_mul(1_000)
        .min(MAX_RETRY_AFTER_MS)
}

impl Default for Retry {
    fn default() -> Self {
        Self::NEW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_urgent_renewal_presses_on_with_the_fast_backoff_after_what_the_server_asked() {
        let bare = Action::Throttled {
            retry_after_secs: None,
        };
        let mut patient = Retry::NEW;
        let mut urgent = Retry::NEW;
        let patient_delays: std::vec::Vec<u64> = (0..6)
            .map(|_| patient.after_action(bare, u32::MAX))
            .collect();
        let urgent_delays: std::vec::Vec<u64> = (0..6)
            .map(|_| urgent.after_action_urgent(bare, u32::MAX))
            .collect();
        assert!(
            urgent_delays.iter().all(|d| *d <= 4_000),
            "{urgent_delays:?}"
        );
        assert!(patient_delays.iter().sum::<u64>() > urgent_delays.iter().sum::<u64>());
        assert!(
            patient_delays.last().is_some_and(|d| *d > 4_000),
            "{patient_delays:?}"
        );
        // What the server asked for still counts.
        let asked = Action::Throttled {
            retry_after_secs: Some(7),
        };
        let mut fresh = Retry::NEW;
        assert_eq!(fresh.after_action_urgent(asked, 0), 7_000);
        // Anything else is answered as usual.
        let (mut a, mut b) = (Retry::NEW, Retry::NEW);
        assert_eq!(
            a.after_action_urgent(Action::Rejected, u32::MAX),
            b.after_action(Action::Rejected, u32::MAX)
        );
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let mut r = Retry::NEW;
        let throttled = |s| Action::Throttled {
            retry_after_secs: Some(s),
        };
        assert_eq!(r.after_action(throttled(1), 0), 1_000);
        assert_eq!(r.after_action(throttled(3), u32::MAX), 3_000);
        assert_eq!(r.after_action(throttled(u32::MAX), 0), MAX_RETRY_AFTER_MS);
        // Retry-After: 1 again and again (what APF says under any load): the congested
        // backoff spaces the attempts ever wider, up to 15-30 s.
        let mut r = Retry::NEW;
        let delays: std::vec::Vec<u64> = (0..8).map(|_| r.after_action(throttled(1), 0)).collect();
        assert_eq!(
            delays,
            [1_000, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000]
        );
        // Without Retry-After the same.
        let mut r = Retry::NEW;
        let none = Action::Throttled {
            retry_after_secs: None,
        };
        assert_eq!(r.after_action(none, 0), 500);
        r.reset();
        assert_eq!(r.after_action(none, 0), 500);
    }

    #[test]
    fn reconnects_widen_once_a_connect_times_out() {
        let mut r = Reconnect::NEW;
        let refused = Some(ClientError::Connect);
        let timeout = Some(ClientError::ConnectTimeout);
        // Refused connects: the fast backoff (a restarting server is back in seconds).
        let fast: std::vec::Vec<u64> = (0..5).map(|_| r.after(refused, 0)).collect();
        assert_eq!(fast, [250, 500, 1_000, 2_000, 2_000]);
        // A time-out: the congested backoff from then on, whatever follows, until progress.
        r.reset();
        let wide: std::vec::Vec<u64> = [timeout, timeout, refused, None, timeout, timeout, timeout]
            .into_iter()
            .map(|e| r.after(e, 0))
            .collect();
        assert_eq!(wide, [500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000]);
        r.reset();
        assert_eq!(r.after(refused, 0), 250);
    }

    #[test]
    fn one_timed_out_session_reconnects_at_once_two_in_a_row_back_off() {
        let mut r = Reconnect::NEW;
        let timeout = SessionEnd::Failed(ClientError::Timeout);
        // A session that worked and stalled once: a dead connection, replaced at once.
        assert_eq!(r.after_session(timeout, true, 5_000, 0), 0);
        // The next one times out too, soon: the server is struggling.
        assert_eq!(r.after_session(timeout, true, 5_000, 0), 500);
        assert_eq!(r.after_session(timeout, true, 5_000, 0), 1_000);
        assert_eq!(r.after_session(timeout, false, 5_000, 0), 2_000);
        // A long healthy session ends the episode, however it ends.
        assert_eq!(r.after_session(timeout, true, 3_600_000, 0), 0);
        assert_eq!(r.after_session(timeout, true, 5_000, 0), 0);
        // The server closing a session, or a reset after progress: at once.
        assert_eq!(r.after_session(SessionEnd::Closed, true, 1, 0), 0);
        let reset = SessionEnd::Failed(ClientError::Unusable);
        assert_eq!(r.after_session(reset, true, 1, 0), 0);
        // No progress at all: the fast backoff.
        assert_eq!(r.after_session(reset, false, 1, 0), 250);
        assert_eq!(
            r.after_session(SessionEnd::ServerError(500), false, 1, 0),
            500
        );
    }

    #[test]
    fn auth_failures_back_off_slowly_and_reset() {
        let mut r = Retry::NEW;
        let first = r.after_action(Action::CredentialsRejected, u32::MAX);
        assert!((2_500..=5_000).contains(&first), "{first}");
        let second = r.after_action(
            Action::Forbidden {
                verb: "patch",
                resource: "nodes",
            },
            u32::MAX,
        );
        // 403 has its own sequence: its first delay.
        assert!((5_000..=10_000).contains(&second), "{second}");
        // A refused token is asked about again at most 10 s later, however long it lasts.
        let later: std::vec::Vec<u64> = (0..8)
            .map(|_| r.after_action(Action::CredentialsRejected, u32::MAX))
            .collect();
        assert!(later.iter().all(|d| *d <= 10_000), "{later:?}");
        assert!(later[7] >= 5_000, "{later:?}");
        // The fast sequence is independent of the slow one.
        assert!(r.after_action(Action::Reconnect, u32::MAX) <= 500);
        r.reset();
        assert!(r.after_action(Action::Rejected, u32::MAX) <= 10_000);
    }

    #[test]
    fn local_errors_pick_their_backoff() {
        let mut r = Retry::NEW;
        let body = ClientError::Body(crate::k8s::body_error::BodyError::Json(
            crate::json::writer::JsonError::BufferFull { needed: 1 },
        ));
        assert!(r.after_error(body, 0) >= 5_000);
        assert!(r.after_error(ClientError::Timeout, u32::MAX) <= 500);
    }
}

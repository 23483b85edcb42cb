//! How long a reconciler waits before trying again, by what went wrong: the policy's
//! [`Action`] for a response, or the client's error when there was none.
use crate::agent::backoff::{Backoff, CREDENTIALS, FAST, SLOW};
use crate::agent::policy::Action;
use crate::client::counters::ClientError;

/// The longest `Retry-After` honoured, in ms: a server asking for more is asked again after
/// this (the slow backoff's cap).
pub const MAX_RETRY_AFTER_MS: u64 = 300_000;

/// A fast, a credentials and a slow backoff for one reconciler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    fast: Backoff,
    credentials: Backoff,
    slow: Backoff,
}

impl Retry {
    pub const NEW: Retry = Retry {
        fast: FAST,
        credentials: CREDENTIALS,
        slow: SLOW,
    };

    /// The delay in ms after a response the policy answered with `action`:
    /// `Retry-After` as given (429/503; never less than the fast backoff, so a server that keeps
    /// saying `Retry-After: 0` is not hammered), the credentials backoff for 401 (a token may
    /// be restored at any time), the slow one for 403 and rejected requests (nothing changes
    /// until a human acts), the fast one for everything else.
    pub fn after_action(&mut self, action: Action, random: u32) -> u64 {
        match action {
            Action::Throttled {
                retry_after_secs: Some(secs),
            } => {
                let asked = u64::from(secs)
                    .saturating_mul(1_000)
                    .min(MAX_RETRY_AFTER_MS);
                asked.max(u64::from(self.fast.next_delay_ms(random)))
            }
            Action::CredentialsRejected => u64::from(self.credentials.next_delay_ms(random)),
            Action::Forbidden { .. } | Action::Rejected => {
                u64::from(self.slow.next_delay_ms(random))
            }
            Action::Throttled {
                retry_after_secs: None,
            }
            | Action::Done
            | Action::RecreateLease
            | Action::Reregister
            | Action::AdoptExisting
            | Action::RereadAndRetry
            | Action::Reconnect => u64::from(self.fast.next_delay_ms(random)),
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
        self.credentials.reset();
        self.slow.reset();
    }
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
    fn retry_after_is_honoured_and_capped() {
        let mut r = Retry::NEW;
        let throttled = |s| Action::Throttled {
            retry_after_secs: Some(s),
        };
        assert_eq!(r.after_action(throttled(1), 0), 1_000);
        assert_eq!(r.after_action(throttled(3), u32::MAX), 3_000);
        assert_eq!(r.after_action(throttled(u32::MAX), 0), MAX_RETRY_AFTER_MS);
        // Retry-After: 0 again and again: the fast backoff still spaces the attempts.
        let mut r = Retry::NEW;
        let delays: std::vec::Vec<u64> = (0..6).map(|_| r.after_action(throttled(0), 0)).collect();
        assert_eq!(delays, [250, 500, 1_000, 2_000, 2_000, 2_000]);
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

//! The exec plugin's credential, kept until it expires and refreshed in the background: a
//! little before `expirationTimestamp`, and after the server answered 401. The agent's requests
//! read it through the core's [`TokenSource`] seam (one cache for every board of a fleet), so a
//! new token reaches the running agent without restarting a board; the plugin runs on its own
//! thread, never on a board's.
//!
//! Time comes from an injected wall clock, so tests move it instead of sleeping.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use picokubelet_core::client::TokenSource;
use picokubelet_core::http::request::BearerToken;
use tracing::{info, warn};

use super::client_cert::{CertificateSource, ClientCertError, ClientCertificate, PemSource};
use super::exec::{ExecConfig, ExecCredential, ExecError, PLUGIN_TIMEOUT};

/// Wall time, injected (tests move it).
pub type WallClock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> WallClock {
    Arc::new(SystemTime::now)
}

/// How long before expiry a refresh starts (at most; a fifth of a shorter lifetime).
pub const REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// The least time between two runs of the plugin: a fleet's boards all see the same 401, and a
/// failing plugin is not hammered.
pub const MIN_RUN_INTERVAL: Duration = Duration::from_secs(10);

struct State {
    current: ExecCredential,
    /// `current`'s client certificate, parsed (the last usable one if a later one was not).
    certificate: Option<Arc<ClientCertificate>>,
    /// When `current` was fetched.
    fetched: SystemTime,
    /// When the plugin last ran (success or not).
    last_run: SystemTime,
    /// The server refused `current` (401).
    rejected: bool,
    refreshing: bool,
    /// The last failure, logged once until it changes or a run succeeds.
    last_error: Option<ExecError>,
    runs: u64,
}

/// See the module notes. Cheap to clone (one shared cache).
#[derive(Clone)]
pub struct ExecTokens {
    inner: Arc<Inner>,
}

struct Inner {
    plugin: ExecConfig,
    clock: WallClock,
    timeout: Duration,
    state: Mutex<State>,
    idle: Condvar,
}

impl std::fmt::Debug for ExecTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecTokens")
            .field("command", &self.inner.plugin.command)
            .finish_non_exhaustive()
    }
}

impl ExecTokens {
    /// A cache holding `first` (the credential the foreground run fetched at `clock()`).
    pub fn new(plugin: ExecConfig, first: ExecCredential, clock: WallClock) -> Self {
        let now = clock();
        let certificate = match parse_certificate(&first) {
            Some(Ok(c)) => Some(Arc::new(c)),
            // Resolving the kubeconfig parsed it already and refused an unusable one.
            Some(Err(_)) | None => None,
        };
        ExecTokens {
            inner: Arc::new(Inner {
                plugin,
                clock,
                timeout: PLUGIN_TIMEOUT,
                state: Mutex::new(State {
                    current: first,
                    certificate,
                    fetched: now,
                    last_run: now,
                    rejected: false,
                    refreshing: false,
                    last_error: None,
                    runs: 0,
                }),
                idle: Condvar::new(),
            }),
        }
    }

    /// Runs of the plugin since [`Self::new`] (the foreground one not counted).
    pub fn runs(&self) -> u64 {
        self.inner.lock().runs
    }

    /// The credential held now.
    pub fn current(&self) -> ExecCredential {
        self.inner.lock().current.clone()
    }

    /// Waits until no refresh is running (tests; shutdown).
    pub fn wait_idle(&self) {
        let mut state = self.inner.lock();
        while state.refreshing {
            state = self
                .inner
                .idle
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Starts a background refresh if one is due and none runs.
    fn kick(&self, state: &mut State) {
        if state.refreshing || !self.inner.due(state) {
            return;
        }
        state.refreshing = true;
        let me = self.clone();
        std::thread::Builder::new()
            .name("exec-credential".into())
            .spawn(move || me.refresh())
            .map(drop)
            .unwrap_or_else(|e| {
                state.refreshing = false;
                warn!("cannot start the exec plugin's refresh thread: {e}");
            });
    }

    /// One run of the plugin (never interactive: nobody watches a background refresh).
    fn refresh(&self) {
        let result = self.inner.plugin.run(false, self.inner.timeout);
        let now = (self.inner.clock)();
        let mut state = self.inner.lock();
        state.runs += 1;
        state.last_run = now;
        match result {
            Ok(credential) => {
                if credential.client_certificate != state.current.client_certificate {
                    match parse_certificate(&credential) {
                        Some(Ok(c)) => {
                            info!(
                                command = %self.inner.plugin.command,
                                "the exec plugin returned a new client certificate: the agent presents it from its next connection"
                            );
                            state.certificate = Some(Arc::new(c));
                        }
                        Some(Err(e)) => warn!(
                            command = %self.inner.plugin.command,
                            "the exec plugin returned a client certificate that cannot be used ({e}); the agent keeps presenting the one it has"
                        ),
                        None => state.certificate = None,
                    }
                }
                info!(
                    command = %self.inner.plugin.command,
                    expires = ?credential.expires.map(humantime::format_rfc3339_seconds),
                    "exec plugin: new credential"
                );
                state.current = credential;
                state.fetched = now;
                state.rejected = false;
                state.last_error = None;
            }
            Err(error) => {
                if state.last_error.as_ref() != Some(&error) {
                    warn!("{error}; the agent keeps the credential it has and retries");
                    state.last_error = Some(error);
                }
            }
        }
        state.refreshing = false;
        drop(state);
        self.inner.idle.notify_all();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A refresh is due: the credential expires soon (or has), or the server refused it; and
    /// the plugin did not run within [`MIN_RUN_INTERVAL`].
    fn due(&self, state: &State) -> bool {
        let now = (self.clock)();
        let since_run = now.duration_since(state.last_run).unwrap_or_default();
        if since_run < MIN_RUN_INTERVAL {
            return false;
        }
        if state.rejected {
            return true;
        }
        let Some(expires) = state.current.expires else {
            return false;
        };
        let lifetime = expires.duration_since(state.fetched).unwrap_or_default();
        let ahead = REFRESH_AHEAD.min(lifetime / 5);
        now + ahead >= expires
    }
}

/// The credential's certificate and key, parsed; `None` when it has none.
fn parse_certificate(
    credential: &ExecCredential,
) -> Option<Result<ClientCertificate, ClientCertError>> {
    let (cert, key) = credential.client_certificate.as_ref()?;
    Some(ClientCertificate::from_pem(
        cert,
        PemSource::Exec,
        key.expose().as_bytes(),
        PemSource::Exec,
    ))
}

impl CertificateSource for ExecTokens {
    fn certificate(&self) -> Option<Arc<ClientCertificate>> {
        let mut state = self.inner.lock();
        self.kick(&mut state);
        state.certificate.clone()
    }
}

impl TokenSource for ExecTokens {
    fn with_token(&self, use_token: &mut dyn FnMut(Option<BearerToken<'_>>)) {
        let mut state = self.inner.lock();
        self.kick(&mut state);
        use_token(
            state
                .current
                .token
                .as_ref()
                .map(|t| BearerToken::new(t.expose())),
        );
    }

    fn rejected(&self) {
        let mut state = self.inner.lock();
        // A 401 for a request sent just before the last refresh landed says nothing about the
        // new credential (a fleet's boards all had the old one in flight).
        let now = (self.inner.clock)();
        if now.duration_since(state.fetched).unwrap_or_default() >= MIN_RUN_INTERVAL {
            state.rejected = true;
        }
        self.kick(&mut state);
    }
}

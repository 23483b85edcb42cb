//! Exec credential plugins (`users[].user.exec`, `client.authentication.k8s.io/v1` and
//! `v1beta1`): the kubeconfigs of EKS (`aws eks get-token`), GKE (`gke-gcloud-auth-plugin`)
//! and AKS (`kubelogin`). The plugin is run as kubectl runs it — its args and env on top of
//! ours, `KUBERNETES_EXEC_INFO` describing the request — and its `ExecCredential` answer gives
//! a bearer token or a client certificate, valid until `expirationTimestamp`.
//!
//! Only on the host: a microcontroller cannot run a program. [`super::exec_cache`] keeps the
//! answer and refreshes it.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use yaml_rust2::Yaml;

use crate::secret::Secret;

/// The API versions of `ExecCredential` we speak (kubectl dropped `v1alpha1` in v1.24).
const API_V1: &str = "client.authentication.k8s.io/v1";
const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// How long one run of the plugin may take before it is killed (kubectl has no limit; a
/// plugin waiting for a browser login would stall the agent's refresh for ever).
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// `interactiveMode`: whether the plugin may talk to the user through the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InteractiveMode {
    /// Never given the terminal.
    Never,
    /// Given the terminal when there is one (kubectl: stdin is a terminal); `v1beta1`'s default.
    IfAvailable,
}

/// One `env` entry of the exec config. `Debug` shows the name only: values can be secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: Secret,
}

impl std::fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnvVar({})", self.name)
    }
}

/// What `KUBERNETES_EXEC_INFO.spec.cluster` tells a plugin with `provideClusterInfo: true`
/// (client-go's `clientauthentication.Cluster`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    pub server: String,
    pub tls_server_name: Option<String>,
    pub insecure_skip_tls_verify: bool,
    /// The CA PEM, sent base64-encoded as `certificate-authority-data`.
    pub ca_pem: Option<Vec<u8>>,
}

/// A parsed `exec` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecConfig {
    pub api_version: String,
    /// As written, for messages.
    pub command: String,
    /// What is run: `command` resolved against the kubeconfig's directory when it holds a `/`
    /// (kubectl's rule), else looked up in `PATH`.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<EnvVar>,
    pub install_hint: Option<String>,
    pub interactive: InteractiveMode,
    /// `provideClusterInfo`: the cluster's server and CA go into `KUBERNETES_EXEC_INFO`.
    pub cluster: Option<ClusterInfo>,
}

/// What a plugin answered. `Debug` shows neither token nor key.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecCredential {
    pub token: Option<Secret>,
    /// Certificate and key, PEM (`clientCertificateData` / `clientKeyData`).
    pub client_certificate: Option<(Vec<u8>, Secret)>,
    /// `expirationTimestamp`; `None`: valid until the server refuses it.
    pub expires: Option<SystemTime>,
}

impl std::fmt::Debug for ExecCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecCredential")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "client_certificate",
                &self.client_certificate.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "expires",
                &self.expires.map(humantime::format_rfc3339_seconds),
            )
            .finish()
    }
}

/// Why a plugin gave no credential. Sentences; never the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("exec plugin {command:?} is not installed (not found{where_}){hint}")]
    NotFound {
        command: String,
        where_: String,
        /// The kubeconfig's `installHint`, else ours.
        hint: String,
    },
    #[error("exec plugin {command:?} could not be started: {error}")]
    Spawn { command: String, error: String },
    #[error("exec plugin {command:?} failed ({status}){stderr}")]
    Failed {
        command: String,
        status: String,
        /// Its standard error, trimmed, as ": …" (empty when it printed nothing).
        stderr: String,
    },
    #[error("exec plugin {command:?} did not answer within {} s and was stopped", .seconds)]
    TimedOut { command: String, seconds: u64 },
    #[error("exec plugin {command:?} printed no valid ExecCredential: {what}")]
    BadOutput { command: String, what: String },
}

/// Why an `exec` section cannot be used. Sentences.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecConfigError {
    #[error("exec: {0}")]
    Shape(String),
    #[error(
        "exec: apiVersion {0:?} is not supported; use {API_V1} (or {API_V1BETA1}): \
         client.authentication.k8s.io/v1alpha1 was removed in Kubernetes v1.24"
    )]
    ApiVersion(String),
    #[error(
        "exec: interactiveMode Always needs a terminal for every run, and the agent refreshes \
         its credentials in the background where nobody can answer; use IfAvailable or Never \
         (log in once beforehand, e.g. `gcloud auth login`, so the plugin needs no prompt)"
    )]
    AlwaysInteractive,
    #[error("exec: interactiveMode {0:?} is none of Never, IfAvailable, Always")]
    BadInteractiveMode(String),
}

impl ExecConfig {
    /// Parses the `exec` mapping. `resolve` turns a relative command path into one relative to
    /// the defining kubeconfig.
    pub fn parse(
        exec: &Yaml,
        resolve: impl Fn(&str) -> PathBuf,
        cluster: Option<ClusterInfo>,
    ) -> Result<Self, ExecConfigError> {
        let shape = |what: &str| ExecConfigError::Shape(what.to_owned());
        let text = |key: &str| -> Result<Option<String>, ExecConfigError> {
            match &exec[key] {
                Yaml::BadValue | Yaml::Null => Ok(None),
                Yaml::String(s) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
                _ => Err(ExecConfigError::Shape(format!("{key} is not a string"))),
            }
        };
        let api_version = text("apiVersion")?.ok_or_else(|| shape("apiVersion is missing"))?;
        if api_version != API_V1 && api_version != API_V1BETA1 {
            return Err(ExecConfigError::ApiVersion(api_version));
        }
        let command = text("command")?.ok_or_else(|| shape("command is missing"))?;
        let args = match &exec["args"] {
            Yaml::BadValue | Yaml::Null => Vec::new(),
            Yaml::Array(items) => items
                .iter()
                .map(|a| match a {
                    Yaml::String(s) => Ok(s.clone()),
                    Yaml::Integer(i) => Ok(i.to_string()),
                    Yaml::Real(r) => Ok(r.clone()),
                    Yaml::Boolean(b) => Ok(b.to_string()),
                    _ => Err(shape("args holds something other than strings")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(shape("args is not a list")),
        };
        let env = match &exec["env"] {
            Yaml::BadValue | Yaml::Null => Vec::new(),
            Yaml::Array(items) => items
                .iter()
                .map(|e| match (&e["name"], &e["value"]) {
                    (Yaml::String(name), Yaml::String(value)) if !name.is_empty() => Ok(EnvVar {
                        name: name.clone(),
                        value: Secret::new(value.clone()),
                    }),
                    _ => Err(shape("env entries need a name and a string value")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(shape("env is not a list")),
        };
        let interactive = match text("interactiveMode")?.as_deref() {
            Some("Never") => InteractiveMode::Never,
            Some("IfAvailable") => InteractiveMode::IfAvailable,
            Some("Always") => return Err(ExecConfigError::AlwaysInteractive),
            Some(other) => return Err(ExecConfigError::BadInteractiveMode(other.to_owned())),
            // client-go requires it in v1 and defaults it to IfAvailable in v1beta1.
            None if api_version == API_V1 => {
                return Err(shape(
                    "interactiveMode is missing (client.authentication.k8s.io/v1 requires it; \
                     IfAvailable is what kubectl used before)",
                ))
            }
            None => InteractiveMode::IfAvailable,
        };
        let provide = matches!(exec["provideClusterInfo"], Yaml::Boolean(true));
        let program = if command.contains('/') {
            resolve(&command)
        } else {
            PathBuf::from(&command)
        };
        Ok(ExecConfig {
            api_version,
            program,
            command,
            args,
            env,
            install_hint: text("installHint")?,
            interactive,
            cluster: cluster.filter(|_| provide),
        })
    }

    /// `KUBERNETES_EXEC_INFO`, as kubectl sets it (client.authentication.k8s.io `Cluster`:
    /// server, tls-server-name, insecure-skip-tls-verify, certificate-authority-data). Not
    /// sent: `proxy-url` (refused for the cluster anyway), `disable-compression` (not read)
    /// and `config` (the cluster's `client.authentication.k8s.io/exec` extension, not read).
    pub fn exec_info(&self, interactive: bool) -> String {
        let mut spec = serde_json::json!({ "interactive": interactive });
        if let Some(c) = &self.cluster {
            let mut cluster = serde_json::json!({ "server": c.server });
            if let Some(name) = &c.tls_server_name {
                cluster["tls-server-name"] = name.as_str().into();
            }
            if c.insecure_skip_tls_verify {
                cluster["insecure-skip-tls-verify"] = true.into();
            }
            if let Some(pem) = &c.ca_pem {
                cluster["certificate-authority-data"] =
                    base64::engine::general_purpose::STANDARD.encode(pem).into();
            }
            spec["cluster"] = cluster;
        }
        serde_json::json!({
            "kind": "ExecCredential",
            "apiVersion": self.api_version,
            "spec": spec,
        })
        .to_string()
    }

    /// Runs the plugin once and reads its answer. `may_prompt`: this run may use the terminal
    /// (the first one, in the foreground); background refreshes never do.
    pub fn run(&self, may_prompt: bool, timeout: Duration) -> Result<ExecCredential, ExecError> {
        let interactive = may_prompt
            && self.interactive == InteractiveMode::IfAvailable
            && std::io::stdin().is_terminal();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env("KUBERNETES_EXEC_INFO", self.exec_info(interactive))
            .stdout(Stdio::piped());
        for e in &self.env {
            cmd.env(&e.name, e.value.expose());
        }
        if interactive {
            cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            cmd.stdin(Stdio::null()).stderr(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        // Both pipes are drained on their own threads so a chatty plugin never blocks on a
        // full pipe; the time-out runs on stdout's end (EOF when the plugin exits).
        let (tx, rx) = mpsc::channel();
        if let Some(mut out) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = out.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        let stderr = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = err.read_to_end(&mut buf);
                buf
            })
        });
        let stdout = match rx.recv_timeout(timeout) {
            Ok(out) => out,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecError::TimedOut {
                    command: self.command.clone(),
                    seconds: timeout.as_secs(),
                });
            }
        };
        let status = child.wait().map_err(|e| self.spawn_error(e))?;
        let stderr = stderr
            .and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        if !status.success() {
            return Err(ExecError::Failed {
                command: self.command.clone(),
                status: status.to_string(),
                stderr: if stderr.is_empty() {
                    String::new()
                } else {
                    format!(": {stderr}")
                },
            });
        }
        self.parse_output(&stdout)
    }

    fn spawn_error(&self, e: std::io::Error) -> ExecError {
        if e.kind() != std::io::ErrorKind::NotFound {
            return ExecError::Spawn {
                command: self.command.clone(),
                error: e.to_string(),
            };
        }
        let where_ = if self.command.contains('/') {
            format!(" at {}", self.program.display())
        } else {
            " in PATH".to_owned()
        };
        let hint = match &self.install_hint {
            Some(h) => format!("; {}", h.trim()),
            None => format!(
                "; install it (EKS: the AWS CLI, `aws eks get-token`; GKE: \
                 `gcloud components install gke-gcloud-auth-plugin`; AKS: `az aks install-cli` \
                 for kubelogin) or put it in PATH for {}",
                self.command
            ),
        };
        ExecError::NotFound {
            command: self.command.clone(),
            where_,
            hint,
        }
    }

    /// Reads an `ExecCredential` of our `apiVersion` (client-go's checks).
    pub fn parse_output(&self, stdout: &[u8]) -> Result<ExecCredential, ExecError> {
        let bad = |what: String| ExecError::BadOutput {
            command: self.command.clone(),
            what,
        };
        let doc: serde_json::Value = serde_json::from_slice(stdout).map_err(|e| {
            bad(format!(
                "its output is not JSON ({e}); it printed {} bytes",
                stdout.len()
            ))
        })?;
        if doc["kind"] != "ExecCredential" {
            return Err(bad(format!(
                "kind is {}, expected ExecCredential",
                doc["kind"]
            )));
        }
        if doc["apiVersion"] != self.api_version.as_str() {
            return Err(bad(format!(
                "apiVersion is {}, but the kubeconfig asks for {}",
                doc["apiVersion"], self.api_version
            )));
        }
        let status = &doc["status"];
        if !status.is_object() {
            return Err(bad("it has no status".into()));
        }
        let field = |key: &str| -> Result<Option<&str>, ExecError> {
            match &status[key] {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(s) if s.is_empty() => Ok(None),
                serde_json::Value::String(s) => Ok(Some(s)),
                _ => Err(bad(format!("status.{key} is not a string"))),
            }
        };
        let token = field("token")?;
        if let Some(t) = token {
            // It goes into an HTTP header: visible ASCII only. Never quoted back.
            if !t.bytes().all(|b| matches!(b, 0x21..=0x7e)) {
                return Err(bad(
                    "status.token holds spaces, control characters or non-ASCII".into(),
                ));
            }
        }
        let client_certificate = match (field("clientCertificateData")?, field("clientKeyData")?) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert.as_bytes().to_vec(), Secret::new(key))),
            _ => {
                return Err(bad(
                    "status has only one of clientCertificateData and clientKeyData".into(),
                ))
            }
        };
        if token.is_none() && client_certificate.is_none() {
            return Err(bad(
                "status has neither a token nor clientCertificateData and clientKeyData".into(),
            ));
        }
        let expires = match field("expirationTimestamp")? {
            None => None,
            Some(t) => {
                let at = picokubelet_core::time::parse_rfc3339(t.as_bytes()).map_err(|_| {
                    bad(format!(
                        "status.expirationTimestamp {t:?} is not an RFC 3339 UTC time"
                    ))
                })?;
                Some(SystemTime::UNIX_EPOCH + Duration::from_micros(at.0))
            }
        };
        Ok(ExecCredential {
            token: token.map(Secret::new),
            client_certificate,
            expires,
        })
    }
}

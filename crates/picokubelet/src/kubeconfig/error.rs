//! Everything that can be wrong with a kubeconfig, each with the file, entry or field it is about.
//! No variant carries a token: the messages are safe to print.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::client_cert::ClientCertError;
use super::server::ServerUrlError;

/// A kubeconfig feature the agent does not implement (yet), with the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsupportedFeature {
    /// `exec` credential plugins.
    Exec,
    /// `auth-provider` plugins (gcp, azure, oidc).
    AuthProvider,
    /// `username` / `password`.
    BasicAuth,
    /// `as`, `as-uid`, `as-groups`, `as-user-extra`.
    Impersonation,
    /// A cluster's `proxy-url`.
    ProxyUrl,
    /// An `http://` server.
    PlainHttp,
}

impl UnsupportedFeature {
    /// Why, and what to do instead.
    pub const fn reason(self) -> &'static str {
        match self {
            UnsupportedFeature::Exec => {
                "exec credential plugins run on the host only (`run`, `fleet`, `check`): a \
                 microcontroller cannot run them, and the short-lived token they print would \
                 expire in the record; `provision --mint-bootstrap-token` makes the boards a \
                 bootstrap token with it instead, or give the board a ServiceAccount token \
                 (README.md, \"Boards on EKS, GKE and AKS\")"
            }
            UnsupportedFeature::AuthProvider => {
                "auth-provider plugins are not supported; use a bearer token"
            }
            UnsupportedFeature::BasicAuth => {
                "basic authentication is not supported (Kubernetes removed it in v1.19); \
                 use a bearer token"
            }
            UnsupportedFeature::Impersonation => "impersonation is not supported",
            UnsupportedFeature::ProxyUrl => {
                "proxies are not supported; the agent connects to the API server directly"
            }
            UnsupportedFeature::PlainHttp => {
                "plain http:// servers are not supported: the token would travel in clear text; \
                 use https://"
            }
        }
    }
}

/// Why no usable configuration came out of the kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("no kubeconfig found (looked for {}); pass --kubeconfig or set KUBECONFIG", Paths(.tried))]
    NotFound { tried: Vec<PathBuf> },
    #[error("no home directory to find ~/.kube/config in; pass --kubeconfig or set KUBECONFIG")]
    NoHome,
    #[error("cannot read kubeconfig {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("kubeconfig {} is not valid YAML: {message}", .path.display())]
    Yaml { path: PathBuf, message: String },
    #[error("kubeconfig {}: {what}", .path.display())]
    Shape { path: PathBuf, what: String },
    #[error("the kubeconfig has no current-context; pass --context (contexts: {})", Names(.available))]
    NoCurrentContext { available: Vec<String> },
    #[error("context {name:?} is not in the kubeconfig (contexts: {})", Names(.available))]
    ContextNotFound {
        name: String,
        available: Vec<String>,
    },
    #[error("context {context:?} names no {field}")]
    ContextIncomplete {
        context: String,
        field: &'static str,
    },
    #[error("context {context:?} names cluster {name:?}, which the kubeconfig does not define")]
    ClusterNotFound { context: String, name: String },
    #[error("context {context:?} names user {name:?}, which the kubeconfig does not define")]
    UserNotFound { context: String, name: String },
    #[error("{entry} uses {field}: {}", .feature.reason())]
    Unsupported {
        feature: UnsupportedFeature,
        /// The kubeconfig key found, e.g. `client-certificate-data`.
        field: &'static str,
        /// `cluster "x"` or `user "y"`.
        entry: String,
    },
    #[error("cluster {cluster:?} has no server")]
    MissingServer { cluster: String },
    #[error("cluster {cluster:?}: server {server:?}: {error}")]
    Server {
        cluster: String,
        server: String,
        error: ServerUrlError,
    },
    #[error(
        "cluster {cluster:?}: tls-server-name {name:?} is neither a DNS name nor an IP address"
    )]
    BadTlsServerName { cluster: String, name: String },
    #[error(
        "cluster {cluster:?} sets both a certificate authority and insecure-skip-tls-verify; \
         keep one (kubectl refuses this too)"
    )]
    CaWithInsecure { cluster: String },
    #[error(
        "cluster {cluster:?} has no certificate-authority or certificate-authority-data: \
         picokubelet verifies the server against a configured CA only (no system roots); \
         add one, or pass --insecure-skip-tls-verify"
    )]
    NoCa { cluster: String },
    #[error("cluster {cluster:?}: certificate-authority-data is not base64: {error}")]
    CaDataBase64 {
        cluster: String,
        error: base64::DecodeError,
    },
    #[error(
        "cluster {cluster:?}: {origin} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    )]
    CaNotPem { cluster: String, origin: String },
    #[error("cluster {cluster:?}: cannot read certificate-authority {}: {source}", .path.display())]
    CaFile {
        cluster: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "user {user:?} has neither token, tokenFile nor client-certificate; picokubelet \
         authenticates with a bearer token or an ECDSA P-256 client certificate (see deploy/README.md)"
    )]
    NoToken { user: String },
    #[error("user {user:?} has {has} but no {missing} (or {missing}-data); give both")]
    ClientCertificateHalf {
        user: String,
        has: &'static str,
        missing: &'static str,
    },
    #[error("user {user:?} ({fields}): {error}")]
    ClientCertificate {
        user: String,
        /// Where certificate and key came from, e.g. `client-certificate-data, client-key /k.pem`.
        fields: String,
        error: ClientCertError,
    },
    #[error("user {user:?}: {field} is not base64")]
    PemDataBase64 { user: String, field: &'static str },
    #[error("user {user:?}: cannot read {field} {}: {source}", .path.display())]
    PemFile {
        user: String,
        field: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("user {user:?}: {error}")]
    ExecConfig {
        user: String,
        error: super::exec::ExecConfigError,
    },
    #[error("user {user:?}: {error}")]
    Exec {
        user: String,
        error: super::exec::ExecError,
    },
    #[error("user {user:?}: token is empty")]
    EmptyToken { user: String },
    #[error("user {user:?}: cannot read tokenFile {}: {source}", .path.display())]
    TokenFile {
        user: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("user {user:?}: tokenFile {} is empty", .path.display())]
    EmptyTokenFile { user: String, path: PathBuf },
}

/// Formats a path list for messages.
struct Paths<'a>(&'a [PathBuf]);

impl fmt::Display for Paths<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("nothing");
        }
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", p.display())?;
        }
        Ok(())
    }
}

/// Formats a name list for messages.
struct Names<'a>(&'a [String]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.0.join(", "))
    }
}

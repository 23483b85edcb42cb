//! kubeconfig: find the file(s), parse and merge them, and resolve one context into what the
//! agent needs — the server, how to trust it, and a bearer token and/or a client certificate.
//!
//! Only the selected context's cluster and user are checked, so a kubeconfig that also holds,
//! say, an exec-plugin user for another cluster still works. Unsupported features of the
//! selected entries are refused with [`KubeconfigError::Unsupported`], never silently ignored.
//! Relative paths (`certificate-authority`, `tokenFile`) are taken relative to the directory of
//! the file that defines the entry, as kubectl does.

pub mod client_cert;
mod error;
pub mod exec;
pub mod exec_cache;
pub mod lookup;
pub mod server;

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use yaml_rust2::{Yaml, YamlLoader};

pub use client_cert::{CertificateSource, ClientCertError, ClientCertificate, PemSource};
pub use error::{KubeconfigError, UnsupportedFeature};
pub use exec::{ClusterInfo, ExecConfig, ExecCredential, ExecError};
pub use exec_cache::ExecTokens;
pub use lookup::{locate, Located, LookupEnv, Origin};
pub use server::{parse_server_url, ServerHost, ServerUrl, ServerUrlError};

use crate::secret::Secret;
use picokubelet_core::k8s::name::validate_dns_subdomain;

const PEM_CERT_MARKER: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// One named entry (`clusters[]`, `users[]`, `contexts[]`) and the file that defined it.
struct Entry {
    name: String,
    body: Yaml,
    file: PathBuf,
}

impl Entry {
    /// Resolves `path` as kubectl does: relative to the directory of the defining file.
    fn resolve_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_owned();
        }
        self.file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// One or more kubeconfig files, merged: the first file to set `current-context` wins, and the
/// first entry of each name wins (kubectl's rules for `KUBECONFIG=a:b`).
///
/// `Debug` lists only file and entry names: the entries can hold tokens.
pub struct Kubeconfig {
    files: Vec<PathBuf>,
    current_context: Option<String>,
    contexts: Vec<Entry>,
    clusters: Vec<Entry>,
    users: Vec<Entry>,
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: &[Entry]| v.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        f.debug_struct("Kubeconfig")
            .field("files", &self.files)
            .field("current_context", &self.current_context)
            .field("contexts", &names(&self.contexts))
            .field("clusters", &names(&self.clusters))
            .field("users", &names(&self.users))
            .finish()
    }
}

/// The names a context points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub context: String,
    pub cluster: String,
    pub user: String,
}

/// Who asked to skip server certificate verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsecureSource {
    /// `--insecure-skip-tls-verify`.
    Flag,
    /// The cluster's `insecure-skip-tls-verify: true`.
    Kubeconfig,
}

/// Where a CA came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaSource {
    /// `certificate-authority-data`.
    Inline,
    /// `certificate-authority`, resolved to this path.
    File(PathBuf),
}

/// How the server certificate is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// Against these PEM certificates.
    Ca { pem: Vec<u8>, source: CaSource },
    /// Not at all: anyone on the path can impersonate the server and read the token.
    InsecureSkipVerify(InsecureSource),
}

impl fmt::Debug for ServerTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerTrust::Ca { pem, source } => f
                .debug_struct("Ca")
                .field("pem_bytes", &pem.len())
                .field("source", source)
                .finish(),
            ServerTrust::InsecureSkipVerify(s) => {
                f.debug_tuple("InsecureSkipVerify").field(s).finish()
            }
        }
    }
}

/// The cluster half of a context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub server: ServerUrl,
    /// `tls-server-name`, lowercased: the DNS name to verify instead of the server's host (dial
    /// an IP, verify the `kubernetes` SAN k3s puts in its certificate).
    pub tls_server_name: Option<String>,
    pub trust: ServerTrust,
}

impl ClusterConfig {
    /// The DNS name the certificate must carry (see [`ServerUrl::verify_name`]).
    pub fn verify_name(&self) -> Option<&str> {
        self.server.verify_name(self.tls_server_name.as_deref())
    }
}

/// Where the token came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `token`.
    Inline,
    /// `tokenFile`, resolved to this path; re-read it when the server answers 401 (projected
    /// ServiceAccount tokens rotate).
    File(PathBuf),
    /// No token: the user authenticates with its client certificate only (`token` is empty).
    None,
    /// An exec credential plugin, run once at resolve time: `token` and `client_certificate`
    /// are its first answer (`token` empty when it gave a certificate only). The agent keeps
    /// refreshing it ([`ExecTokens`]).
    Exec(Box<ExecSource>),
}

/// The plugin and its first answer. `Debug` names the command only.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecSource {
    pub plugin: ExecConfig,
    pub first: ExecCredential,
}

impl fmt::Debug for ExecSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exec")
            .field("command", &self.plugin.command)
            .field(
                "expires",
                &self.first.expires.map(humantime::format_rfc3339_seconds),
            )
            .finish()
    }
}

/// The user half of a context: a bearer token, a client certificate, or both (then both are
/// sent, as kubectl does; kube-apiserver's x509 authenticator answers first). `Debug` redacts
/// the token and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub token: Secret,
    pub source: TokenSource,
    pub client_certificate: Option<ClientCertificate>,
}

impl Credentials {
    /// The bearer token, unless the user has none (client certificate only).
    pub fn bearer_token(&self) -> Option<&Secret> {
        (self.source != TokenSource::None && !self.token.is_empty()).then_some(&self.token)
    }

    /// The exec plugin behind these credentials, if any.
    pub fn exec(&self) -> Option<&ExecSource> {
        match &self.source {
            TokenSource::Exec(e) => Some(e),
            _ => None,
        }
    }
}

/// What [`Kubeconfig::resolve`] needs from the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolveOptions {
    /// `--context`; `None` takes `current-context`.
    pub context: Option<String>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// Resolving for a board's record (`provision`): an exec plugin is refused before it runs
    /// (a board cannot run it, and its short-lived token would expire in the record).
    pub for_board: bool,
}

/// A fully resolved context. `Debug` redacts the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedConfig {
    pub selection: Selection,
    pub cluster: ClusterConfig,
    pub credentials: Credentials,
}

impl Kubeconfig {
    /// Reads and merges the located files.
    pub fn load(located: &Located) -> Result<Self, KubeconfigError> {
        let mut merged = Kubeconfig::empty();
        for path in &located.files {
            let text = std::fs::read_to_string(path).map_err(|source| KubeconfigError::Read {
                path: path.clone(),
                source,
            })?;
            merged.merge(Kubeconfig::parse(&text, path)?);
        }
        Ok(merged)
    }

    /// Parses one file's text; `file` names it in errors and anchors its relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Self, KubeconfigError> {
        let shape = |what: String| KubeconfigError::Shape {
            path: file.to_owned(),
            what,
        };
        let docs = YamlLoader::load_from_str(text).map_err(|e| KubeconfigError::Yaml {
            path: file.to_owned(),
            message: e.to_string(),
        })?;
        let mut config = Kubeconfig::empty();
        config.files.push(file.to_owned());
        let root = match docs.as_slice() {
            [] => return Ok(config),
            [root] => root,
            more => {
                return Err(shape(format!(
                    "holds {} YAML documents, expected one",
                    more.len()
                )))
            }
        };
        match root {
            Yaml::Null => return Ok(config),
            Yaml::Hash(_) => {}
            _ => return Err(shape("the top level is not a mapping".into())),
        }
        config.current_context = scalar(root, "current-context")
            .map_err(|t| shape(format!("current-context is {t}, expected a string")))?
            .filter(|c| !c.is_empty());
        config.contexts = entries(root, "contexts", "context", file)?;
        config.clusters = entries(root, "clusters", "cluster", file)?;
        config.users = entries(root, "users", "user", file)?;
        Ok(config)
    }

    fn empty() -> Self {
        Kubeconfig {
            files: Vec::new(),
            current_context: None,
            contexts: Vec::new(),
            clusters: Vec::new(),
            users: Vec::new(),
        }
    }

    fn merge(&mut self, other: Kubeconfig) {
        self.files.extend(other.files);
        if self.current_context.is_none() {
            self.current_context = other.current_context;
        }
        for (mine, theirs) in [
            (&mut self.contexts, other.contexts),
            (&mut self.clusters, other.clusters),
            (&mut self.users, other.users),
        ] {
            for e in theirs {
                if !mine.iter().any(|m| m.name == e.name) {
                    mine.push(e);
                }
            }
        }
    }

    /// The files this configuration was read from, in precedence order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// `current-context`, if any file set one.
    pub fn current_context(&self) -> Option<&str> {
        self.current_context.as_deref()
    }

    /// Context names, in order.
    pub fn context_names(&self) -> Vec<String> {
        self.contexts.iter().map(|e| e.name.clone()).collect()
    }

    /// Finds the context (`context`, else `current-context`) and the names it points to.
    pub fn select(&self, context: Option<&str>) -> Result<Selection, KubeconfigError> {
        let name = context.or(self.current_context.as_deref()).ok_or_else(|| {
            KubeconfigError::NoCurrentContext {
                available: self.context_names(),
            }
        })?;
        let entry = find(&self.contexts, name).ok_or_else(|| KubeconfigError::ContextNotFound {
            name: name.to_owned(),
            available: self.context_names(),
        })?;
        let field = |key: &'static str| -> Result<String, KubeconfigError> {
            let shape = |t| self.shape(entry, format!("context {name:?}: {key} is {t}"));
            scalar(&entry.body, key)
                .map_err(shape)?
                .filter(|v| !v.is_empty())
                .ok_or_else(|| KubeconfigError::ContextIncomplete {
                    context: name.to_owned(),
                    field: key,
                })
        };
        Ok(Selection {
            context: name.to_owned(),
            cluster: field("cluster")?,
            user: field("user")?,
        })
    }

    /// Resolves the selected cluster. `insecure_flag` (`--insecure-skip-tls-verify`) overrides
    /// the cluster's CA, as kubectl's flag does.
    pub fn cluster(
        &self,
        selection: &Selection,
        insecure_flag: bool,
    ) -> Result<ClusterConfig, KubeconfigError> {
        let entry = find(&self.clusters, &selection.cluster).ok_or_else(|| {
            KubeconfigError::ClusterNotFound {
                context: selection.context.clone(),
                name: selection.cluster.clone(),
            }
        })?;
        let cluster = entry.name.clone();
        let body = &entry.body;
        let text = |key: &str| {
            scalar(body, key)
                .map_err(|t| self.shape(entry, format!("cluster {cluster:?}: {key} is {t}")))
        };
        if text("proxy-url")?.is_some_and(|p| !p.is_empty()) {
            return Err(KubeconfigError::Unsupported {
                feature: UnsupportedFeature::ProxyUrl,
                field: "proxy-url",
                entry: format!("cluster {cluster:?}"),
            });
        }
        let server_text = text("server")?.filter(|s| !s.is_empty()).ok_or_else(|| {
            KubeconfigError::MissingServer {
                cluster: cluster.clone(),
            }
        })?;
        let server = parse_server_url(&server_text).map_err(|error| match error {
            ServerUrlError::PlainHttp => KubeconfigError::Unsupported {
                feature: UnsupportedFeature::PlainHttp,
                field: "server",
                entry: format!("cluster {cluster:?}"),
            },
            error => KubeconfigError::Server {
                cluster: cluster.clone(),
                server: server_text.clone(),
                error,
            },
        })?;
        let tls_server_name = match text("tls-server-name")?.filter(|n| !n.is_empty()) {
            None => None,
            Some(name) => {
                let lower = name.to_ascii_lowercase();
                // An IP address is matched against the certificate's IP SANs, as kubectl does.
                let bare = lower.trim_start_matches('[').trim_end_matches(']');
                match bare.parse::<std::net::IpAddr>() {
                    Ok(ip) => Some(ip.to_string()),
                    Err(_) if validate_dns_subdomain(&lower).is_ok() => Some(lower),
                    Err(_) => return Err(KubeconfigError::BadTlsServerName { cluster, name }),
                }
            }
        };
        let insecure_in_file = flag(body, "insecure-skip-tls-verify").map_err(|t| {
            self.shape(
                entry,
                format!("cluster {cluster:?}: insecure-skip-tls-verify is {t}"),
            )
        })?;
        let ca = self.cluster_ca(entry)?;
        let trust = match (insecure_flag, insecure_in_file, ca) {
            (true, _, _) => ServerTrust::InsecureSkipVerify(InsecureSource::Flag),
            (false, true, Some(_)) => return Err(KubeconfigError::CaWithInsecure { cluster }),
            (false, true, None) => ServerTrust::InsecureSkipVerify(InsecureSource::Kubeconfig),
            (false, false, Some((pem, source))) => ServerTrust::Ca { pem, source },
            (false, false, None) => return Err(KubeconfigError::NoCa { cluster }),
        };
        Ok(ClusterConfig {
            server,
            tls_server_name,
            trust,
        })
    }

    /// The cluster's CA PEM: `certificate-authority-data` wins over `certificate-authority`
    /// (client-go's rule).
    fn cluster_ca(&self, entry: &Entry) -> Result<Option<(Vec<u8>, CaSource)>, KubeconfigError> {
        let cluster = &entry.name;
        let text = |key: &str| {
            scalar(&entry.body, key)
                .map_err(|t| self.shape(entry, format!("cluster {cluster:?}: {key} is {t}")))
                .map(|v| v.filter(|s| !s.is_empty()))
        };
        let (pem, source) = if let Some(data) = text("certificate-authority-data")? {
            let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let pem = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|error| KubeconfigError::CaDataBase64 {
                    cluster: cluster.clone(),
                    error,
                })?;
            (pem, CaSource::Inline)
        } else if let Some(file) = text("certificate-authority")? {
            let path = entry.resolve_path(&file);
            let pem = std::fs::read(&path).map_err(|source| KubeconfigError::CaFile {
                cluster: cluster.clone(),
                path: path.clone(),
                source,
            })?;
            (pem, CaSource::File(path))
        } else {
            return Ok(None);
        };
        if !contains(&pem, PEM_CERT_MARKER) {
            let origin = match &source {
                CaSource::Inline => "certificate-authority-data".to_owned(),
                CaSource::File(p) => format!("certificate-authority {}", p.display()),
            };
            return Err(KubeconfigError::CaNotPem {
                cluster: cluster.clone(),
                origin,
            });
        }
        Ok(Some((pem, source)))
    }

    /// Resolves the selected user into a bearer token and/or a client certificate, refusing
    /// every other way to authenticate.
    pub fn credentials(&self, selection: &Selection) -> Result<Credentials, KubeconfigError> {
        self.credentials_with(selection, None, false)
    }

    /// [`Self::credentials`], with the resolved cluster for an exec plugin's
    /// `provideClusterInfo`; `for_board` refuses an exec plugin (see [`ResolveOptions`]).
    fn credentials_with(
        &self,
        selection: &Selection,
        cluster: Option<&ClusterConfig>,
        for_board: bool,
    ) -> Result<Credentials, KubeconfigError> {
        let entry =
            find(&self.users, &selection.user).ok_or_else(|| KubeconfigError::UserNotFound {
                context: selection.context.clone(),
                name: selection.user.clone(),
            })?;
        let user = entry.name.clone();
        let body = &entry.body;
        // kubectl's rule (client-go's exec authenticator): a token or client certificate
        // given in the user wins, and the plugin is not run.
        let explicit = [
            "token",
            "tokenFile",
            "client-certificate",
            "client-certificate-data",
        ]
        .iter()
        .any(|k| is_set(body, k));
        if is_set(body, "exec") && !explicit {
            if for_board {
                return Err(KubeconfigError::Unsupported {
                    feature: UnsupportedFeature::Exec,
                    field: "exec",
                    entry: format!("user {user:?}"),
                });
            }
            return self.exec_credentials(entry, cluster);
        }
        for (field, feature) in [
            ("auth-provider", UnsupportedFeature::AuthProvider),
            ("username", UnsupportedFeature::BasicAuth),
            ("password", UnsupportedFeature::BasicAuth),
            ("as", UnsupportedFeature::Impersonation),
            ("as-uid", UnsupportedFeature::Impersonation),
            ("as-groups", UnsupportedFeature::Impersonation),
            ("as-user-extra", UnsupportedFeature::Impersonation),
        ] {
            if is_set(body, field) {
                return Err(KubeconfigError::Unsupported {
                    feature,
                    field,
                    entry: format!("user {user:?}"),
                });
            }
        }
        let text = |key: &str| {
            // The value is never put into the message: it may be the token.
            scalar(body, key).map_err(|t| self.shape(entry, format!("user {user:?}: {key} is {t}")))
        };
        let client_certificate = self.client_certificate(entry)?;
        if let Some(token) = text("token")? {
            if token.is_empty() {
                return Err(KubeconfigError::EmptyToken { user });
            }
            return Ok(Credentials {
                token: Secret::new(token),
                source: TokenSource::Inline,
                client_certificate,
            });
        }
        let Some(file) = text("tokenFile")?.filter(|f| !f.is_empty()) else {
            if client_certificate.is_some() {
                return Ok(Credentials {
                    token: Secret::new(""),
                    source: TokenSource::None,
                    client_certificate,
                });
            }
            return Err(KubeconfigError::NoToken { user });
        };
        let path = entry.resolve_path(&file);
        let token = read_token_file(&path).map_err(|source| KubeconfigError::TokenFile {
            user: user.clone(),
            path: path.clone(),
            source,
        })?;
        if token.is_empty() {
            return Err(KubeconfigError::EmptyTokenFile { user, path });
        }
        Ok(Credentials {
            token,
            source: TokenSource::File(path),
            client_certificate,
        })
    }

    /// Runs the user's exec plugin once (in the foreground: it may prompt when the kubeconfig
    /// allows) and takes its answer.
    fn exec_credentials(
        &self,
        entry: &Entry,
        cluster: Option<&ClusterConfig>,
    ) -> Result<Credentials, KubeconfigError> {
        let user = entry.name.clone();
        let info = cluster.map(|c| ClusterInfo {
            server: c.server.to_string(),
            tls_server_name: c.tls_server_name.clone(),
            insecure_skip_tls_verify: matches!(c.trust, ServerTrust::InsecureSkipVerify(_)),
            ca_pem: match &c.trust {
                ServerTrust::Ca { pem, .. } => Some(pem.clone()),
                ServerTrust::InsecureSkipVerify(_) => None,
            },
        });
        let plugin = ExecConfig::parse(&entry.body["exec"], |p| entry.resolve_path(p), info)
            .map_err(|error| KubeconfigError::ExecConfig {
                user: user.clone(),
                error,
            })?;
        let first =
            plugin
                .run(true, exec::PLUGIN_TIMEOUT)
                .map_err(|error| KubeconfigError::Exec {
                    user: user.clone(),
                    error,
                })?;
        let client_certificate = match &first.client_certificate {
            None => None,
            Some((cert, key)) => Some(
                ClientCertificate::from_pem(
                    cert,
                    PemSource::Exec,
                    key.expose().as_bytes(),
                    PemSource::Exec,
                )
                .map_err(|error| KubeconfigError::ClientCertificate {
                    user: user.clone(),
                    fields: "the exec plugin's clientCertificateData, clientKeyData".into(),
                    error,
                })?,
            ),
        };
        Ok(Credentials {
            token: first.token.clone().unwrap_or_else(|| Secret::new("")),
            source: TokenSource::Exec(Box::new(ExecSource { plugin, first })),
            client_certificate,
        })
    }

    /// The user's client certificate and key: `-data` wins over the file (client-go's rule);
    /// one without the other is refused.
    fn client_certificate(
        &self,
        entry: &Entry,
    ) -> Result<Option<ClientCertificate>, KubeconfigError> {
        let user = &entry.name;
        let pem = |data_key: &'static str, file_key: &'static str| {
            self.pem_field(entry, data_key, file_key)
        };
        let cert = pem("client-certificate-data", "client-certificate")?;
        let key = pem("client-key-data", "client-key")?;
        let ((cert_pem, cert_source), (key_pem, key_source)) = match (cert, key) {
            (None, None) => return Ok(None),
            (Some(c), Some(k)) => (c, k),
            (Some(_), None) => {
                return Err(KubeconfigError::ClientCertificateHalf {
                    user: user.clone(),
                    has: "client-certificate",
                    missing: "client-key",
                })
            }
            (None, Some(_)) => {
                return Err(KubeconfigError::ClientCertificateHalf {
                    user: user.clone(),
                    has: "client-key",
                    missing: "client-certificate",
                })
            }
        };
        let fields = format!(
            "{}, {}",
            cert_source.describe("client-certificate"),
            key_source.describe("client-key")
        );
        ClientCertificate::from_pem(&cert_pem, cert_source, &key_pem, key_source)
            .map(Some)
            .map_err(|error| KubeconfigError::ClientCertificate {
                user: user.clone(),
                fields,
                error,
            })
    }

    /// A PEM given inline (`data_key`, base64) or as a file (`file_key`, relative to the
    /// defining kubeconfig).
    fn pem_field(
        &self,
        entry: &Entry,
        data_key: &'static str,
        file_key: &'static str,
    ) -> Result<Option<(Vec<u8>, PemSource)>, KubeconfigError> {
        let user = &entry.name;
        let text = |key: &str| {
            scalar(&entry.body, key)
                .map_err(|t| self.shape(entry, format!("user {user:?}: {key} is {t}")))
                .map(|v| v.filter(|s| !s.is_empty()))
        };
        if let Some(data) = text(data_key)? {
            let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let pem = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| KubeconfigError::PemDataBase64 {
                    user: user.clone(),
                    field: data_key,
                })?;
            return Ok(Some((pem, PemSource::Inline)));
        }
        let Some(file) = text(file_key)? else {
            return Ok(None);
        };
        let path = entry.resolve_path(&file);
        let pem = std::fs::read(&path).map_err(|source| KubeconfigError::PemFile {
            user: user.clone(),
            field: file_key,
            path: path.clone(),
            source,
        })?;
        Ok(Some((pem, PemSource::File(path))))
    }

    /// Selects the context and resolves its cluster and user.
    pub fn resolve(&self, options: &ResolveOptions) -> Result<ResolvedConfig, KubeconfigError> {
        let selection = self.select(options.context.as_deref())?;
        let cluster = self.cluster(&selection, options.insecure_skip_tls_verify)?;
        let credentials = self.credentials_with(&selection, Some(&cluster), options.for_board)?;
        Ok(ResolvedConfig {
            selection,
            cluster,
            credentials,
        })
    }

    fn shape(&self, entry: &Entry, what: String) -> KubeconfigError {
        KubeconfigError::Shape {
            path: entry.file.clone(),
            what,
        }
    }
}

/// Reads a token file, trimming surrounding whitespace as client-go does.
pub fn read_token_file(path: &Path) -> std::io::Result<Secret> {
    let text = std::fs::read_to_string(path)?;
    Ok(Secret::new(text.trim()))
}

fn find<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.name == name)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The YAML type of a value, for messages (never the value itself).
fn type_name(v: &Yaml) -> &'static str {
    match v {
        Yaml::Real(_) => "a number",
        Yaml::Integer(_) => "an integer",
        Yaml::String(_) => "a string",
        Yaml::Boolean(_) => "a boolean",
        Yaml::Array(_) => "a list",
        Yaml::Hash(_) => "a mapping",
        Yaml::Alias(_) => "an alias",
        Yaml::Null => "null",
        Yaml::BadValue => "missing",
    }
}

/// `map[key]` when present and not null.
fn get<'a>(map: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    match &map[key] {
        Yaml::BadValue | Yaml::Null => None,
        v => Some(v),
    }
}

fn is_set(map: &Yaml, key: &str) -> bool {
    match get(map, key) {
        None => false,
        Some(Yaml::String(s)) => !s.is_empty(),
        Some(Yaml::Array(a)) => !a.is_empty(),
        Some(Yaml::Hash(h)) => !h.is_empty(),
        Some(_) => true,
    }
}

/// A scalar as text (YAML may read `token: 12345` as an integer); `Err(type)` for lists and
/// mappings.
fn scalar(map: &Yaml, key: &str) -> Result<Option<String>, &'static str> {
    match get(map, key) {
        None => Ok(None),
        Some(Yaml::String(s) | Yaml::Real(s)) => Ok(Some(s.clone())),
        Some(Yaml::Integer(i)) => Ok(Some(i.to_string())),
        Some(Yaml::Boolean(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(type_name(other)),
    }
}

/// A boolean field; absent is false.
fn flag(map: &Yaml, key: &str) -> Result<bool, &'static str> {
    match get(map, key) {
        None => Ok(false),
        Some(Yaml::Boolean(b)) => Ok(*b),
        Some(Yaml::String(s)) if s == "true" => Ok(true),
        Some(Yaml::String(s)) if s == "false" => Ok(false),
        Some(other) => Err(type_name(other)),
    }
}

/// `list_key: [{name: …, body_key: {…}}, …]`.
fn entries(
    root: &Yaml,
    list_key: &str,
    body_key: &str,
    file: &Path,
) -> Result<Vec<Entry>, KubeconfigError> {
    let shape = |what: String| KubeconfigError::Shape {
        path: file.to_owned(),
        what,
    };
    let items = match get(root, list_key) {
        None => return Ok(Vec::new()),
        Some(Yaml::Array(items)) => items,
        Some(other) => {
            return Err(shape(format!(
                "{list_key} is {}, expected a list",
                type_name(other)
            )))
        }
    };
    let mut out: Vec<Entry> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = match get(item, "name") {
            Some(Yaml::String(n)) if !n.is_empty() => n.clone(),
            _ => return Err(shape(format!("{list_key}[{i}] has no name"))),
        };
        let body = match get(item, body_key) {
            None => Yaml::Hash(Default::default()),
            Some(b @ Yaml::Hash(_)) => b.clone(),
            Some(other) => {
                return Err(shape(format!(
                    "{list_key}[{i}] ({name:?}): {body_key} is {}, expected a mapping",
                    type_name(other)
                )))
            }
        };
        // Within one file as across files: the first entry of a name wins.
        if !out.iter().any(|e| e.name == name) {
            out.push(Entry {
                name,
                body,
                file: file.to_owned(),
            });
        }
    }
    Ok(out)
}

//! The `server` URL of a kubeconfig cluster: `https://host[:port]`, nothing else.
//!
//! Hand-written rather than the `url` crate: the accepted shape is small (no user info, no path
//! prefix, no query), and every rejection needs its own message.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use picokubelet_core::k8s::name::validate_dns_subdomain;

/// Port of an `https://` URL without one.
pub const DEFAULT_HTTPS_PORT: u16 = 443;

/// Where the API server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerHost {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A DNS name, lowercased, without a trailing dot.
    Dns(String),
}

impl ServerHost {
    /// The address when the host is a literal IP.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            ServerHost::Ipv4(a) => Some(IpAddr::V4(*a)),
            ServerHost::Ipv6(a) => Some(IpAddr::V6(*a)),
            ServerHost::Dns(_) => None,
        }
    }
}

impl fmt::Display for ServerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerHost::Ipv4(a) => write!(f, "{a}"),
            ServerHost::Ipv6(a) => write!(f, "[{a}]"),
            ServerHost::Dns(n) => f.write_str(n),
        }
    }
}

/// A parsed `https://host[:port][/]` server URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerUrl {
    pub host: ServerHost,
    pub port: u16,
}

impl ServerUrl {
    /// The DNS name the server certificate must carry: `tls_server_name` when the kubeconfig
    /// sets one, else the host when it is a name. `None` for an IP host without
    /// `tls-server-name` (the certificate would have to match an IP SAN).
    pub fn verify_name<'a>(&'a self, tls_server_name: Option<&'a str>) -> Option<&'a str> {
        match (tls_server_name, &self.host) {
            (Some(name), _) => Some(name),
            (None, ServerHost::Dns(name)) => Some(name),
            (None, _) => None,
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}:{}", self.host, self.port)
    }
}

/// Why a `server` URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerUrlError {
    #[error("the server URL is empty")]
    Empty,
    /// `http://`: an API server without TLS would see the token in clear text.
    #[error("plain http:// is not supported: the token would travel in clear text; use https://")]
    PlainHttp,
    #[error("scheme {scheme:?} is not supported (only https://)")]
    Scheme { scheme: String },
    #[error("no host after https://")]
    MissingHost,
    #[error("user info (user@host) in the server URL is not supported")]
    UserInfo,
    #[error("host {host:?} is not a DNS name or IP address")]
    BadHost { host: String },
    #[error("IPv6 address {host:?} is malformed (write it as [addr])")]
    BadIpv6 { host: String },
    #[error("port {port:?} is not a number in 1..=65535")]
    BadPort { port: String },
    #[error("path prefix {path:?} is not supported (the agent uses absolute API paths)")]
    PathPrefix { path: String },
    #[error("query or fragment in the server URL is not supported")]
    QueryOrFragment,
}

/// Parses a kubeconfig `server` value.
pub fn parse_server_url(text: &str) -> Result<ServerUrl, ServerUrlError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ServerUrlError::Empty);
    }
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| ServerUrlError::Scheme {
            scheme: String::new(),
        })?;
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" => return Err(ServerUrlError::PlainHttp),
        _ => {
            return Err(ServerUrlError::Scheme {
                scheme: scheme.to_owned(),
            })
        }
    }
    if rest.contains(['?', '#']) {
        return Err(ServerUrlError::QueryOrFragment);
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if !path.is_empty() && path != "/" {
        return Err(ServerUrlError::PathPrefix {
            path: path.to_owned(),
        });
    }
    if authority.contains('@') {
        return Err(ServerUrlError::UserInfo);
    }
    if authority.is_empty() {
        return Err(ServerUrlError::MissingHost);
    }
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        None => DEFAULT_HTTPS_PORT,
        Some(p) => parse_port(p)?,
    };
    Ok(ServerUrl { host, port })
}

fn split_host_port(authority: &str) -> Result<(ServerHost, Option<&str>), ServerUrlError> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (addr, after) = bracketed
            .split_once(']')
            .ok_or_else(|| ServerUrlError::BadIpv6 {
                host: authority.to_owned(),
            })?;
        let ip: Ipv6Addr = addr.parse().map_err(|_| ServerUrlError::BadIpv6 {
            host: authority.to_owned(),
        })?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| ServerUrlError::BadIpv6 {
                        host: authority.to_owned(),
                    })?,
            ),
        };
        return Ok((ServerHost::Ipv6(ip), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(ServerUrlError::MissingHost);
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok((ServerHost::Ipv4(ip), port));
    }
    if host.parse::<Ipv6Addr>().is_ok() || port.is_some_and(|p| p.contains(':')) {
        // An unbracketed IPv6 address: the port would be ambiguous.
        return Err(ServerUrlError::BadIpv6 {
            host: authority.to_owned(),
        });
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if validate_dns_subdomain(&name).is_err() || looks_numeric(&name) {
        return Err(ServerUrlError::BadHost {
            host: host.to_owned(),
        });
    }
    Ok((ServerHost::Dns(name), port))
}

/// `1.2.3` or `1.2.3.400` pass the DNS syntax but are no usable name: refuse them rather than
/// dialling something unexpected.
fn looks_numeric(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn parse_port(text: &str) -> Result<u16, ServerUrlError> {
    let bad = || ServerUrlError::BadPort {
        port: text.to_owned(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(p) => Ok(p),
    }
}

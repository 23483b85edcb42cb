//! Where the board dials: the kubeconfig's server, or `--api-host`; never a loopback address
//! (a kubeconfig written on the server itself, as k3s's is, says 127.0.0.1).

use crate::kubeconfig::{parse_server_url, ServerHost, ServerUrl};

use super::error::ProvisionError;

/// The API server as the record stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub server: ServerUrl,
    /// True when `--api-host` replaced the kubeconfig's host.
    pub from_flag: bool,
}

impl Endpoint {
    /// The record's host text: a lowercase DNS name, or an IP literal without brackets.
    pub fn record_host(&self) -> String {
        match &self.server.host {
            ServerHost::Ipv4(a) => a.to_string(),
            ServerHost::Ipv6(a) => a.to_string(),
            ServerHost::Dns(name) => name.clone(),
        }
    }
}

/// The kubeconfig's `server`, with `--api-host` (HOST or HOST:PORT) over it; refuses hosts a
/// board cannot reach.
pub fn endpoint(
    kubeconfig: &ServerUrl,
    api_host: Option<&str>,
) -> Result<Endpoint, ProvisionError> {
    let endpoint = match api_host {
        None => Endpoint {
            server: kubeconfig.clone(),
            from_flag: false,
        },
        Some(value) => Endpoint {
            server: parse_api_host(value, kubeconfig.port)?,
            from_flag: true,
        },
    };
    if is_loopback(&endpoint.server.host) {
        let host = endpoint.server.host.to_string();
        return Err(if endpoint.from_flag {
            ProvisionError::BadApiHost {
                value: api_host.unwrap_or_default().to_owned(),
                reason: "a loopback address, which a board cannot reach".into(),
            }
        } else {
            ProvisionError::LoopbackHost { host }
        });
    }
    Ok(endpoint)
}

/// `--api-host` alone (discovery: no kubeconfig), its port 6443 (kube-apiserver's) unless
/// given.
pub fn endpoint_from_flag(api_host: &str) -> Result<Endpoint, ProvisionError> {
    let server = parse_api_host(api_host, picokubelet_core::provision::DEFAULT_API_PORT)?;
    if is_loopback(&server.host) {
        return Err(ProvisionError::BadApiHost {
            value: api_host.to_owned(),
            reason: "a loopback address, which a board cannot reach".into(),
        });
    }
    Ok(Endpoint {
        server,
        from_flag: true,
    })
}

/// `--api-host`: HOST, HOST:PORT, `[v6]`, `[v6]:PORT` (an `https://` prefix is allowed). The
/// kubeconfig's port stays unless one is given.
fn parse_api_host(value: &str, default_port: u16) -> Result<ServerUrl, ProvisionError> {
    let bad = |reason: String| ProvisionError::BadApiHost {
        value: value.to_owned(),
        reason,
    };
    let authority = value.trim();
    let authority = authority.strip_prefix("https://").unwrap_or(authority);
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.contains("://") {
        return Err(bad("only a host or host:port (https is implied)".into()));
    }
    let mut server =
        parse_server_url(&format!("https://{authority}")).map_err(|e| bad(e.to_string()))?;
    let explicit_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && (host.ends_with(']') || !host.contains(':'))
    });
    if !explicit_port {
        server.port = default_port;
    }
    Ok(server)
}

/// Loopback and unspecified addresses, and `localhost` names (RFC 6761 6.3).
fn is_loopback(host: &ServerHost) -> bool {
    match host {
        ServerHost::Ipv4(a) => a.is_loopback() || a.is_unspecified(),
        ServerHost::Ipv6(a) => {
            a.is_loopback()
                || a.is_unspecified()
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
        ServerHost::Dns(name) => name == "localhost" || name.ends_with(".localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> ServerUrl {
        parse_server_url(text).unwrap()
    }

    #[test]
    fn the_kubeconfig_server_is_kept_when_reachable() {
        let e = endpoint(&url("https://API.Example.com:6443"), None).unwrap();
        assert_eq!(e.record_host(), "api.example.com");
        assert_eq!(e.server.port, 6443);
        assert!(!e.from_flag);
    }

    #[test]
    fn loopback_servers_are_refused_and_name_the_flag() {
        for server in [
            "https://127.0.0.1:6443",
            "https://127.8.9.10",
            "https://[::1]:6443",
            "https://[::ffff:127.0.0.1]:6443",
            "https://0.0.0.0:6443",
            "https://localhost:6443",
            "https://api.localhost:6443",
        ] {
            let err = endpoint(&url(server), None).unwrap_err();
            assert!(
                matches!(err, ProvisionError::LoopbackHost { .. }),
                "{server}"
            );
            assert!(err.to_string().contains("--api-host"), "{err}");
        }
    }

    #[test]
    fn api_host_replaces_the_host_and_keeps_the_port_unless_given() {
        let k3s = url("https://127.0.0.1:6443");
        let cases = [
            ("192.168.1.50", "192.168.1.50", 6443),
            ("192.168.1.50:16443", "192.168.1.50", 16443),
            ("K3S.Lab.Example.", "k3s.lab.example", 6443),
            ("https://k3s.lab:443/", "k3s.lab", 443),
            ("[fd00::5]", "fd00::5", 6443),
            ("[FD00::5]:7443", "fd00::5", 7443),
        ];
        for (flag, host, port) in cases {
            let e = endpoint(&k3s, Some(flag)).unwrap();
            assert_eq!(
                (e.record_host().as_str(), e.server.port),
                (host, port),
                "{flag}"
            );
            assert!(e.from_flag);
        }
    }

    #[test]
    fn bad_api_hosts_are_refused() {
        let k3s = url("https://127.0.0.1:6443");
        for flag in [
            "",
            "fd00::5",
            "host:0",
            "host:http",
            "host/path",
            "http://host",
            "127.0.0.1",
            "localhost:6443",
            "a b",
        ] {
            let err = endpoint(&k3s, Some(flag)).unwrap_err();
            assert!(
                matches!(err, ProvisionError::BadApiHost { .. }),
                "{flag}: {err}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_reachable_ipv4_with_or_without_a_port_is_taken(
            octets in proptest::array::uniform4(0u8..=255),
            port in proptest::option::of(1u16..=65535),
        ) {
            let ip = std::net::Ipv4Addr::from(octets);
            proptest::prop_assume!(!ip.is_loopback() && !ip.is_unspecified());
            let flag = match port {
                Some(p) => format!("{ip}:{p}"),
                None => ip.to_string(),
            };
            let e = endpoint(&url("https://127.0.0.1:6443"), Some(&flag)).unwrap();
            proptest::prop_assert_eq!(e.record_host(), ip.to_string());
            proptest::prop_assert_eq!(e.server.port, port.unwrap_or(6443));
        }

        #[test]
        fn dns_names_are_lowercased(name in "[a-zA-Z][a-zA-Z0-9-]{0,20}[a-zA-Z0-9](\\.[a-zA-Z][a-zA-Z0-9]{0,10}){1,3}") {
            proptest::prop_assume!(!name.to_ascii_lowercase().ends_with(".localhost"));
            let e = endpoint(&url("https://127.0.0.1:6443"), Some(&name)).unwrap();
            proptest::prop_assert_eq!(e.record_host(), name.to_ascii_lowercase());
        }
    }
}

//! The `server` URL parser: accepted shapes, each refusal, and no panic on any input.
use std::net::{Ipv4Addr, Ipv6Addr};

use picokubelet::kubeconfig::{parse_server_url, ServerHost, ServerUrl, ServerUrlError};
use proptest::prelude::*;

fn ok(s: &str) -> ServerUrl {
    parse_server_url(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn accepted_shapes() {
    assert_eq!(
        ok("https://127.0.0.1:6443"),
        ServerUrl {
            host: ServerHost::Ipv4(Ipv4Addr::LOCALHOST),
            port: 6443
        }
    );
    assert_eq!(ok("https://10.1.2.3").port, 443);
    assert_eq!(ok("HTTPS://10.1.2.3/").port, 443);
    assert_eq!(
        ok("https://[::1]:6443").host,
        ServerHost::Ipv6(Ipv6Addr::LOCALHOST)
    );
    assert_eq!(ok("https://[fd00::1]").port, 443);
    assert_eq!(
        ok("https://K8S.Example.COM.:8443").host,
        ServerHost::Dns("k8s.example.com".into())
    );
    assert_eq!(
        ok(" https://kubernetes ").host,
        ServerHost::Dns("kubernetes".into())
    );
}

#[test]
fn verify_name_prefers_tls_server_name() {
    let by_ip = ok("https://10.0.0.1:6443");
    assert_eq!(by_ip.verify_name(None), None);
    assert_eq!(by_ip.verify_name(Some("kubernetes")), Some("kubernetes"));
    let by_name = ok("https://k3s.lan:6443");
    assert_eq!(by_name.verify_name(None), Some("k3s.lan"));
    assert_eq!(by_name.verify_name(Some("kubernetes")), Some("kubernetes"));
}

#[test]
fn refusals() {
    use ServerUrlError::*;
    let cases: &[(&str, ServerUrlError)] = &[
        ("", Empty),
        (
            "10.0.0.1:6443",
            Scheme {
                scheme: String::new(),
            },
        ),
        ("http://10.0.0.1", PlainHttp),
        (
            "unix:///run/k8s.sock",
            Scheme {
                scheme: "unix".into(),
            },
        ),
        ("https://", MissingHost),
        ("https://:6443", MissingHost),
        ("https://admin@10.0.0.1", UserInfo),
        ("https://10.0.0.1:0", BadPort { port: "0".into() }),
        (
            "https://10.0.0.1:",
            BadPort {
                port: String::new(),
            },
        ),
        ("https://10.0.0.1:+80", BadPort { port: "+80".into() }),
        (
            "https://10.0.0.1:65536",
            BadPort {
                port: "65536".into(),
            },
        ),
        (
            "https://fd00::1",
            BadIpv6 {
                host: "fd00::1".into(),
            },
        ),
        (
            "https://[fd00::1",
            BadIpv6 {
                host: "[fd00::1".into(),
            },
        ),
        (
            "https://[nonsense]:1",
            BadIpv6 {
                host: "[nonsense]:1".into(),
            },
        ),
        (
            "https://[::1]x",
            BadIpv6 {
                host: "[::1]x".into(),
            },
        ),
        (
            "https://under_score.example",
            BadHost {
                host: "under_score.example".into(),
            },
        ),
        (
            "https://10.0.0.256",
            BadHost {
                host: "10.0.0.256".into(),
            },
        ),
        (
            "https://h/api",
            PathPrefix {
                path: "/api".into(),
            },
        ),
        ("https://h?x=1", QueryOrFragment),
        ("https://h#frag", QueryOrFragment),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_server_url(text).as_ref(), Err(expected), "{text}");
    }
}

proptest! {
    #[test]
    fn never_panics(s in "\\PC{0,40}") {
        let _ = parse_server_url(&s);
    }

    #[test]
    fn never_panics_near_valid(s in "(https?://)?[\\[\\]a-zA-Z0-9.:@/_-]{0,30}") {
        let _ = parse_server_url(&s);
    }

    /// Every valid server URL parses, and prints as a URL that parses to the same value.
    #[test]
    fn display_round_trips(
        host in prop_oneof![
            "[a-z][a-z0-9]{0,7}(\\.[a-z][a-z0-9]{0,7}){0,2}",
            any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
            any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
        ],
        port in proptest::option::of(1u16..),
        slash in any::<bool>(),
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let s = format!("https://{host}{port}{}", if slash { "/" } else { "" });
        let url = parse_server_url(&s);
        prop_assert!(url.is_ok(), "{} does not parse: {:?}", s, url);
        let url = url.unwrap();
        prop_assert_eq!(parse_server_url(&url.to_string()), Ok(url));
    }
}

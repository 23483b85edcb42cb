//! Request head writer: recorded shape, header injection, buffer bounds, httparse round trip.

use picokubelet_core::http::request::{
    write_request_head, Accept, BearerToken, Method, RequestError, RequestField, RequestHead,
    MAX_TARGET_LEN, USER_AGENT,
};
use proptest::prelude::*;

const HOST: &str = "127.0.0.1:6443";

fn written(head: &RequestHead<'_>) -> String {
    let mut buf = [0u8; 2048];
    let n = write_request_head(head, &mut buf).expect("head fits");
    String::from_utf8(buf[..n].to_vec()).expect("ASCII")
}

/// The head part of a recorded request (up to the empty line), with LF line ends as stored.
fn recorded_head(name: &str) -> String {
    let path = format!(
        "{}/../../testdata/k8s/recorded-compact/{name}.request.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("recording");
    text.split("\n\n")
        .next()
        .expect("head")
        .trim_end()
        .to_string()
}

/// The recording's lines, minus what curl added on its own (Content-Length) and with the
/// redacted token replaced by ours.
fn expected_lines(name: &str, token: &str) -> Vec<String> {
    recorded_head(name)
        .lines()
        .map(|l| l.replace("<node token>", token))
        .map(|l| {
            if l.starts_with("User-Agent:") {
                format!("User-Agent: {USER_AGENT}")
            } else {
                l
            }
        })
        .collect()
}

fn lines_without_content_length(head: &str) -> Vec<String> {
    head.trim_end()
        .split("\r\n")
        .filter(|l| !l.starts_with("Content-Length:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn user_agent_names_the_crate_version() {
    assert_eq!(
        USER_AGENT,
        format!("picokubelet/{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn get_node_matches_the_recording() {
    let mut head = RequestHead::new(Method::Get, "/api/v1/nodes/esp-node-01", HOST);
    head.bearer_token = Some(BearerToken::new("tok"));
    let out = written(&head);
    assert!(out.ends_with("\r\n\r\n"));
    assert!(!out.contains("Content-Length"), "GET without body: {out}");
    assert!(
        !out.contains("Connection"),
        "keep-alive is the default: {out}"
    );
    assert_eq!(
        lines_without_content_length(&out),
        expected_lines("03-get-node-200", "tok")
    );
}

#[test]
fn post_and_patch_match_the_recordings_plus_content_length() {
    for (name, method, target, content_type, body_len) in [
        (
            "04-post-lease-201",
            Method::Post,
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            "application/json",
            340,
        ),
        (
            "05-patch-lease-merge-200",
            Method::Patch,
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/esp-node-01",
            "application/merge-patch+json",
            52,
        ),
    ] {
        let mut head = RequestHead::new(method, target, HOST);
        head.bearer_token = Some(BearerToken::new("tok"));
        head.content_type = Some(content_type);
        head.body_len = Some(body_len);
        let out = written(&head);
        assert!(
            out.contains(&format!("\r\nContent-Length: {body_len}\r\n")),
            "{out}"
        );
        assert_eq!(
            lines_without_content_length(&out),
            expected_lines(name, "tok")
        );
    }
}

#[test]
fn content_length_rules() {
    for method in [Method::Post, Method::Put, Method::Patch] {
        let out = written(&RequestHead::new(method, "/x", HOST));
        assert!(out.contains("\r\nContent-Length: 0\r\n"), "{out}");
    }
    for method in [Method::Get, Method::Delete] {
        let out = written(&RequestHead::new(method, "/x", HOST));
        assert!(!out.contains("Content-Length"), "{out}");
        // A DELETE may still carry DeleteOptions.
        let mut head = RequestHead::new(method, "/x", HOST);
        head.body_len = Some(17);
        assert!(written(&head).contains("\r\nContent-Length: 17\r\n"));
    }
    let mut head = RequestHead::new(Method::Put, "/x", HOST);
    head.body_len = Some(usize::MAX);
    assert!(written(&head).contains(&format!("\r\nContent-Length: {}\r\n", usize::MAX)));
}

#[test]
fn connection_close_is_opt_in() {
    let mut head = RequestHead::new(Method::Get, "/version", HOST);
    head.connection_close = true;
    let out = written(&head);
    assert!(out.ends_with("\r\nConnection: close\r\n\r\n"), "{out}");
    assert_eq!(out.matches("Connection").count(), 1);
}

#[test]
fn no_authorization_without_token() {
    let out = written(&RequestHead::new(Method::Get, "/version", HOST));
    assert!(!out.contains("Authorization"), "{out}");
}

#[test]
fn header_injection_is_refused() {
    let evil = [
        "tok\r\nX-Evil: 1",
        "tok\nX-Evil: 1",
        "tok\rX",
        "tok\0",
        "tok\t",
        "tok\x7f",
        "tok en",
        "tökén",
        "",
    ];
    for bad in evil {
        let mut head = RequestHead::new(Method::Get, "/", HOST);
        head.bearer_token = Some(BearerToken::new(bad));
        let mut buf = [0u8; 512];
        assert_eq!(
            write_request_head(&head, &mut buf),
            Err(RequestError::InvalidField(RequestField::Authorization)),
            "{bad:?}"
        );
        // Nothing was written: validation comes before the first byte.
        assert!(buf.iter().all(|&b| b == 0));

        let mut head = RequestHead::new(Method::Get, "/", bad);
        assert_eq!(
            write_request_head(&head, &mut buf),
            Err(RequestError::InvalidField(RequestField::Host)),
            "{bad:?}"
        );
        let target = format!("/{bad}");
        head.host = HOST;
        head.target = &target;
        if !bad.is_empty() {
            assert_eq!(
                write_request_head(&head, &mut buf),
                Err(RequestError::InvalidField(RequestField::Target)),
                "{bad:?}"
            );
        }
        head.target = "/";
        let content_type = format!("application/json{bad}");
        head.content_type = Some(&content_type);
        if bad
            .bytes()
            .any(|b| b != b' ' && !(0x21..=0x7e).contains(&b))
        {
            assert_eq!(
                write_request_head(&head, &mut buf),
                Err(RequestError::InvalidField(RequestField::ContentType)),
                "{bad:?}"
            );
        }
    }
}

#[test]
fn target_shape_and_length_bound() {
    let mut buf = [0u8; 4096];
    for bad in ["", "api/v1", "http://h/x", "*", "/a b"] {
        let head = RequestHead::new(Method::Get, bad, HOST);
        assert_eq!(
            write_request_head(&head, &mut buf),
            Err(RequestError::InvalidField(RequestField::Target)),
            "{bad:?}"
        );
    }
    let at_bound = format!("/{}", "a".repeat(MAX_TARGET_LEN - 1));
    assert!(write_request_head(&RequestHead::new(Method::Get, &at_bound, HOST), &mut buf).is_ok());
    let over = format!("/{}", "a".repeat(MAX_TARGET_LEN));
    assert_eq!(
        write_request_head(&RequestHead::new(Method::Get, &over, HOST), &mut buf),
        Err(RequestError::InvalidField(RequestField::Target))
    );
}

#[test]
fn content_type_with_parameters_and_padding() {
    let mut head = RequestHead::new(Method::Patch, "/x", HOST);
    head.content_type = Some("application/json; charset=utf-8");
    assert!(written(&head).contains("\r\nContent-Type: application/json; charset=utf-8\r\n"));
    let mut buf = [0u8; 512];
    for bad in [" application/json", "application/json ", ""] {
        head.content_type = Some(bad);
        assert_eq!(
            write_request_head(&head, &mut buf),
            Err(RequestError::InvalidField(RequestField::ContentType))
        );
    }
}

#[test]
fn buffer_full_at_every_short_length() {
    let mut head = RequestHead::new(Method::Patch, "/api/v1/nodes/esp-node-01/status", HOST);
    head.bearer_token = Some(BearerToken::new("a.b.c"));
    head.content_type = Some("application/strategic-merge-patch+json");
    head.body_len = Some(1234);
    head.connection_close = true;
    let full = written(&head);
    for len in 0..full.len() {
        let mut buf = vec![0u8; len];
        assert_eq!(
            write_request_head(&head, &mut buf),
            Err(RequestError::BufferFull),
            "len {len}"
        );
    }
    let mut exact = vec![0u8; full.len()];
    assert_eq!(write_request_head(&head, &mut exact), Ok(full.len()));
    assert_eq!(exact, full.as_bytes());
}

#[test]
fn token_never_shows_in_debug() {
    let token = BearerToken::new("eyJhbGciOiJSUzI1NiJ9.secret");
    let mut head = RequestHead::new(Method::Get, "/", HOST);
    head.bearer_token = Some(token);
    let shown = format!("{head:?} {head:#?} {token:?}");
    assert!(!shown.contains("eyJ"), "{shown}");
    assert!(!shown.contains("secret"), "{shown}");
    // The error type carries no value at all.
    let err = RequestError::InvalidField(RequestField::Authorization);
    assert!(!format!("{err:?}").contains("secret"));
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Post),
        Just(Method::Put),
        Just(Method::Patch),
        Just(Method::Delete),
    ]
}

/// Mostly valid values, some with one control byte or space, some anything at all.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[!-~]{1,20}",
        1 => "[!-~]{0,5}[\\x00-\\x20\\x7f][!-~]{0,5}",
        1 => any::<String>(),
    ]
}

proptest! {
    /// Whatever the writer accepts is a well-formed request that httparse reads back unchanged.
    #[test]
    fn written_heads_parse_as_requests(
        method in method(),
        target in "/[!-~]{0,60}",
        host in "[!-~]{1,30}",
        token in proptest::option::of("[!-~]{1,60}"),
        content_type in proptest::option::of("[!-~]([ -~]{0,30}[!-~])?"),
        body_len in proptest::option::of(any::<usize>()),
        connection_close in any::<bool>(),
        accept in prop_oneof![
            Just(Accept::Json),
            Just(Accept::Protobuf),
            Just(Accept::ProtobufMetadata)
        ],
    ) {
        let head = RequestHead {
            method,
            target: &target,
            host: &host,
            bearer_token: token.as_deref().map(BearerToken::new),
            content_type: content_type.as_deref(),
            accept,
            body_len,
            connection_close,
        };
        let mut buf = [0u8; 1024];
        let n = write_request_head(&head, &mut buf).unwrap();
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        prop_assert_eq!(req.parse(&buf[..n]), Ok(httparse::Status::Complete(n)));
        prop_assert_eq!(req.method, Some(method.as_str()));
        prop_assert_eq!(req.path, Some(target.as_str()));
        prop_assert_eq!(req.version, Some(1));
        let get = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| std::str::from_utf8(h.value).unwrap().to_string())
        };
        prop_assert_eq!(get("host"), Some(host.clone()));
        prop_assert_eq!(get("authorization"), token.map(|t| format!("Bearer {t}")));
        prop_assert_eq!(get("content-type"), content_type);
        prop_assert_eq!(get("accept"), Some(accept.as_str().to_string()));
        let expected_len = body_len.or(method.carries_body().then_some(0));
        prop_assert_eq!(get("content-length"), expected_len.map(|l| l.to_string()));
        prop_assert_eq!(get("connection"), connection_close.then(|| "close".to_string()));
        prop_assert_eq!(get("user-agent"), Some(USER_AGENT.to_string()));
    }

    /// Arbitrary strings either make a parseable head or a typed error; never anything between.
    #[test]
    fn arbitrary_fields_never_break_the_head(
        target in field(),
        host in field(),
        token in field(),
        content_type in field(),
        size in 0usize..400,
    ) {
        let target = format!("/{target}");
        let mut head = RequestHead::new(Method::Post, &target, &host);
        head.bearer_token = Some(BearerToken::new(&token));
        head.content_type = Some(&content_type);
        let mut buf = vec![0u8; size];
        match write_request_head(&head, &mut buf) {
            Ok(n) => {
                let mut headers = [httparse::EMPTY_HEADER; 16];
                let mut req = httparse::Request::new(&mut headers);
                prop_assert_eq!(req.parse(&buf[..n]), Ok(httparse::Status::Complete(n)));
                // Exactly the headers we write: nothing injected.
                prop_assert_eq!(req.headers.len(), 6);
            }
            Err(RequestError::BufferFull) | Err(RequestError::InvalidField(_)) => {}
        }
    }
}

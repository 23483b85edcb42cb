//! The provisioning record: every refusal, the forward-compatibility rule, the agent config a
//! record yields.
use core::net::Ipv4Addr;

use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::chip::Chip;
use picokubelet_core::k8s::label::LabelError;
use picokubelet_core::k8s::name::{NameError, NodeName};
use picokubelet_core::k8s::node_ids::NodeIds;
use picokubelet_core::provision::*;
use picokubelet_core::tls::ServerTrust;

const CA: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x01];
const MAC: [u8; 6] = [0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56];

/// A record from raw entries, with a correct header and CRC.
fn raw(entries: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = b"PKCF\x01\x00\x00\x00".to_vec();
    for (tag, value) in entries {
        out.push(*tag);
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(value);
    }
    let total = (out.len() + 4) as u16;
    out[6..8].copy_from_slice(&total.to_le_bytes());
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn required<'a>() -> Vec<(u8, &'a [u8])> {
    vec![(0x03, b"api.example.com"), (0x06, CA), (0x07, b"abc.def")]
}

fn with(extra: &[(u8, &[u8])]) -> Vec<u8> {
    let mut e = required();
    e.extend_from_slice(extra);
    raw(&e)
}

fn full() -> ProvisionRecord<'static> {
    let mut labels = Labels::EMPTY;
    assert!(labels.push("picokubelet.dev/room", "lab-2"));
    assert!(labels.push("topology.kubernetes.io/zone", "attic"));
    ProvisionRecord {
        wifi: Some(WifiCredentials {
            ssid: "Café Wi-Fi",
            password: "correct horse",
        }),
        host: "10.0.0.5",
        port: 6443,
        tls_server_name: Some("kubernetes"),
        trust: ServerTrust::Ca(CA).into(),
        token: Some(BearerToken::new("abc.def")),
        client_certificate: None,
        bootstrap_token: None,
        node_name: Some(NodeName::new("esp-node-01").unwrap()),
        profile: Some(Chip::Esp32c6),
        labels,
        lease_renew_interval_secs: Some(8),
        status_interval_secs: Some(120),
        memory_pressure_below_bytes: Some(30_000),
    }
}

fn err(bytes: &[u8]) -> RecordError {
    parse(bytes).unwrap_err()
}

#[test]
fn minimal_record_parses_with_defaults() {
    let bytes = with(&[]);
    let r = parse(&bytes).unwrap();
    assert_eq!(r.host, "api.example.com");
    assert_eq!(r.port, DEFAULT_API_PORT);
    assert_eq!(r.trust, ServerTrust::Ca(CA));
    assert_eq!(r.token.unwrap().expose(), "abc.def");
    assert_eq!(r.wifi, None);
    assert_eq!(
        r,
        ProvisionRecord::new(
            "api.example.com",
            ServerTrust::Ca(CA),
            BearerToken::new("abc.def")
        )
    );
    // Zero-copy: the host points into the buffer.
    let start = bytes.as_ptr() as usize;
    let host = r.host.as_ptr() as usize;
    assert!(host > start && host < start + bytes.len());
}

#[test]
fn full_record_round_trips_and_trailing_flash_is_ignored() {
    let record = full();
    let mut buf = [0xffu8; MAX_RECORD_LEN];
    let n = write(&record, &mut buf).unwrap();
    // The rest of the partition (erased flash) follows the record.
    assert_eq!(parse(&buf).unwrap(), record);
    assert_eq!(parse(&buf[..n]).unwrap(), record);
    assert_eq!(u16::from_le_bytes([buf[6], buf[7]]) as usize, n);
}

#[test]
fn write_reports_the_size_it_needs() {
    let record = full();
    let mut big = [0u8; 1024];
    let n = write(&record, &mut big).unwrap();
    for len in [0, 1, 8, n - 1] {
        let mut small = vec![0u8; len];
        assert_eq!(
            write(&record, &mut small),
            Err(RecordError::BufferTooSmall { needed: n })
        );
    }
}

#[test]
fn write_refuses_what_parse_would_refuse() {
    let mut r = full();
    r.host = "Bad Host";
    assert!(matches!(
        write(&r, &mut [0; 512]),
        Err(RecordError::Invalid {
            field: Field::ApiHost,
            ..
        })
    ));
    let mut r = full();
    r.port = 0;
    assert_eq!(
        write(&r, &mut [0; 512]),
        Err(RecordError::Invalid {
            field: Field::ApiPort,
            problem: Problem::OutOfRange
        })
    );
}

#[test]
fn truncation_at_every_length_is_an_error() {
    let mut buf = [0u8; 1024];
    let n = write(&full(), &mut buf).unwrap();
    for len in 0..n {
        let e = err(&buf[..len]);
        assert!(matches!(e, RecordError::Truncated { .. }), "{len}: {e:?}");
    }
}

#[test]
fn header_errors() {
    let good = with(&[]);
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(err(&b), RecordError::BadMagic);
    assert_eq!(err(&[0xff; 64]), RecordError::BadMagic);
    let mut b = good.clone();
    b[4] = 2;
    assert_eq!(err(&b), RecordError::UnsupportedVersion(2));
    let mut b = good.clone();
    b[5] = 1;
    assert_eq!(err(&b), RecordError::ReservedByte(1));
    let mut b = good.clone();
    b[6..8].copy_from_slice(&11u16.to_le_bytes());
    assert_eq!(err(&b), RecordError::BadLength(11));
    b[6..8].copy_from_slice(&8193u16.to_le_bytes());
    assert_eq!(err(&b), RecordError::BadLength(8193));
}

#[test]
fn every_flipped_bit_is_caught() {
    let mut buf = [0u8; 1024];
    let n = write(&full(), &mut buf).unwrap();
    for byte in 0..n {
        for bit in 0..8 {
            let mut b = buf[..n].to_vec();
            b[byte] ^= 1 << bit;
            assert!(parse(&b).is_err(), "byte {byte} bit {bit}");
        }
    }
    let mut b = buf[..n].to_vec();
    b[20] ^= 1;
    assert!(matches!(err(&b), RecordError::Crc { .. }));
}

#[test]
fn entry_overrun() {
    // A well-formed CRC around an entry claiming more bytes than remain.
    let mut b = with(&[]);
    let end = b.len() - 4;
    b.truncate(end);
    b.extend_from_slice(&[0x01, 0x10, 0x00, b'x']);
    let total = (b.len() + 4) as u16;
    b[6..8].copy_from_slice(&total.to_le_bytes());
    let crc = crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(err(&b), RecordError::EntryOverrun { offset: end });
    // A lone tag byte with no length.
    let mut b = with(&[]);
    let end = b.len() - 4;
    b.truncate(end);
    b.push(0x01);
    let total = (b.len() + 4) as u16;
    b[6..8].copy_from_slice(&total.to_le_bytes());
    let crc = crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(err(&b), RecordError::EntryOverrun { offset: end });
}

#[test]
fn unknown_optional_tags_are_skipped_mandatory_ones_refused() {
    let bytes = with(&[(0x80, b"anything"), (0xff, b"")]);
    let r = parse(&bytes).unwrap();
    assert_eq!(r.host, "api.example.com");
    let b = with(&[(0x7f, b"x")]);
    assert!(matches!(
        err(&b),
        RecordError::UnknownMandatoryTag { tag: 0x7f, .. }
    ));
    assert!(matches!(
        err(&with(&[(0x00, b"")])),
        RecordError::UnknownMandatoryTag { tag: 0, .. }
    ));
    assert!(matches!(
        err(&with(&[(0x13, b"")])),
        RecordError::UnknownMandatoryTag { tag: 0x13, .. }
    ));
}

#[test]
fn duplicates_are_refused() {
    assert_eq!(
        err(&with(&[(0x03, b"other")])),
        RecordError::Duplicate(Field::ApiHost)
    );
    assert_eq!(
        err(&with(&[(0x07, b"t")])),
        RecordError::Duplicate(Field::BearerToken)
    );
    assert_eq!(
        err(&with(&[(0x09, &[0]), (0x09, &[0])])),
        RecordError::Duplicate(Field::Profile)
    );
    assert_eq!(
        err(&with(&[(0x05, b"a"), (0x05, b"a")])),
        RecordError::Duplicate(Field::TlsServerName)
    );
    // Duplicate label KEYS are refused too (labels themselves may repeat as entries).
    assert_eq!(
        err(&with(&[(0x0a, b"a=1"), (0x0a, b"a=2")])),
        RecordError::Invalid {
            field: Field::Label,
            problem: Problem::DuplicateLabelKey { index: 1 }
        }
    );
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        err(&raw(&[(0x06, CA), (0x07, b"t")])),
        RecordError::Missing(Field::ApiHost)
    );
    assert_eq!(
        err(&raw(&[(0x03, b"h"), (0x06, CA)])),
        RecordError::Missing(Field::BearerToken)
    );
    assert_eq!(
        err(&raw(&[(0x03, b"h"), (0x07, b"t")])),
        RecordError::Missing(Field::CaCertificate)
    );
    assert_eq!(err(&raw(&[])), RecordError::Missing(Field::ApiHost));
}

#[test]
fn ca_and_insecure_exclude_each_other() {
    assert_eq!(err(&with(&[(0x0e, &[1])])), RecordError::CaWithInsecure);
    let bytes = raw(&[(0x03, b"h"), (0x07, b"t"), (0x0e, &[1])]);
    let r = parse(&bytes).unwrap();
    assert_eq!(r.trust, ServerTrust::InsecureSkipVerify);
    let mut buf = [0u8; 64];
    let n = write(&r, &mut buf).unwrap();
    assert_eq!(parse(&buf[..n]).unwrap(), r);
    assert_eq!(
        err(&raw(&[(0x03, b"h"), (0x07, b"t"), (0x0e, &[0])])),
        RecordError::Invalid {
            field: Field::InsecureSkipTlsVerify,
            problem: Problem::OutOfRange
        }
    );
}

#[test]
fn oversized_and_undersized_fields() {
    let cases: Vec<(u8, Vec<u8>, Field)> = vec![
        (0x01, vec![b'a'; 33], Field::WifiSsid),
        (0x01, vec![], Field::WifiSsid),
        (0x02, vec![b'a'; 64], Field::WifiPassword),
        (0x04, vec![1], Field::ApiPort),
        (0x05, vec![b'a'; 254], Field::TlsServerName),
        (0x09, vec![0, 0], Field::Profile),
        (0x0a, vec![b'a'; MAX_LABEL_ENTRY_LEN + 1], Field::Label),
        (0x0b, vec![1, 0, 0], Field::LeaseRenewIntervalSecs),
        (0x0e, vec![], Field::InsecureSkipTlsVerify),
    ];
    for (tag, value, field) in cases {
        let b = with(&[(tag, &value)]);
        assert!(
            matches!(err(&b), RecordError::Invalid { field: f, problem: Problem::Length { .. } } if f == field),
            "{field:?}: {:?}",
            err(&b)
        );
    }
    let big_ca = [0x30u8; MAX_CA_LEN + 1];
    let b = raw(&[(0x03, b"h"), (0x06, &big_ca), (0x07, b"t")]);
    assert!(matches!(
        err(&b),
        RecordError::Invalid {
            field: Field::CaCertificate,
            problem: Problem::Length { len: 2049, .. }
        }
    ));
    let big_token = [b't'; MAX_TOKEN_LEN + 1];
    let b = raw(&[(0x03, b"h"), (0x06, CA), (0x07, &big_token)]);
    assert!(matches!(
        err(&b),
        RecordError::Invalid {
            field: Field::BearerToken,
            ..
        }
    ));
    // The largest CA and token together still fit.
    let ca = [0x30u8; MAX_CA_LEN];
    let token = [b't'; MAX_TOKEN_LEN];
    assert!(parse(&raw(&[(0x03, b"h"), (0x06, &ca), (0x07, &token)])).is_ok());
    // Short WPA2 passphrases.
    assert_eq!(
        err(&with(&[(0x01, b"net"), (0x02, b"1234567")])),
        RecordError::Invalid {
            field: Field::WifiPassword,
            problem: Problem::Length {
                len: 7,
                min: 8,
                max: 63
            }
        }
    );
}

#[test]
fn bad_utf8_is_refused_per_field() {
    for (tag, field) in [
        (0x01, Field::WifiSsid),
        (0x02, Field::WifiPassword),
        (0x03, Field::ApiHost),
        (0x05, Field::TlsServerName),
        (0x08, Field::NodeName),
        (0x0a, Field::Label),
    ] {
        let mut e: Vec<(u8, &[u8])> = vec![(0x06, CA), (0x07, b"t")];
        if tag != 0x03 {
            e.push((0x03, b"h"));
        }
        if tag == 0x02 {
            e.push((0x01, b"net"));
        }
        e.push((tag, b"\xff\xfe\xfdxxxxxx"));
        assert_eq!(
            err(&raw(&e)),
            RecordError::Invalid {
                field,
                problem: Problem::Utf8
            },
            "{field:?}"
        );
    }
    assert_eq!(
        err(&raw(&[(0x03, b"h"), (0x06, CA), (0x07, b"\xc3\x28")])),
        RecordError::Invalid {
            field: Field::BearerToken,
            problem: Problem::Utf8
        }
    );
}

#[test]
fn field_values_are_checked() {
    assert_eq!(
        err(&with(&[(0x08, b"ESP-1")])),
        RecordError::Invalid {
            field: Field::NodeName,
            problem: Problem::Name(NameError::InvalidChar { at: 0, byte: b'E' })
        }
    );
    assert_eq!(
        err(&with(&[(0x0a, b"node-role.kubernetes.io/edge=")])),
        RecordError::Invalid {
            field: Field::Label,
            problem: Problem::Label {
                index: 0,
                error: LabelError::ForbiddenForNode
            }
        }
    );
    assert_eq!(
        err(&with(&[(0x0a, b"novalue")])),
        RecordError::Invalid {
            field: Field::Label,
            problem: Problem::LabelWithoutEquals { index: 0 }
        }
    );
    assert_eq!(
        err(&with(&[
            (0x0a, b"a=1"),
            (0x0a, b"b=1"),
            (0x0a, b"c=1"),
            (0x0a, b"d=1"),
            (0x0a, b"e=1")
        ])),
        RecordError::TooManyLabels
    );
    assert_eq!(
        err(&with(&[(0x09, &[3])])),
        RecordError::Invalid {
            field: Field::Profile,
            problem: Problem::OutOfRange
        }
    );
    assert_eq!(
        err(&with(&[(0x04, &[0, 0])])),
        RecordError::Invalid {
            field: Field::ApiPort,
            problem: Problem::OutOfRange
        }
    );
    for tag in [0x0b, 0x0c, 0x0d] {
        assert!(matches!(
            err(&with(&[(tag, &[0, 0, 0, 0])])),
            RecordError::Invalid {
                problem: Problem::OutOfRange,
                ..
            }
        ));
    }
    assert!(matches!(
        err(&with(&[(0x0c, &86_401u32.to_le_bytes())])),
        RecordError::Invalid {
            field: Field::StatusIntervalSecs,
            problem: Problem::OutOfRange
        }
    ));
    assert_eq!(
        err(&raw(&[(0x03, b"h"), (0x06, &[0x31]), (0x07, b"t")])),
        RecordError::Invalid {
            field: Field::CaCertificate,
            problem: Problem::NotDer
        }
    );
    assert_eq!(
        err(&raw(&[(0x03, b"h"), (0x06, CA), (0x07, b"a b")])),
        RecordError::Invalid {
            field: Field::BearerToken,
            problem: Problem::Char
        }
    );
    assert!(matches!(
        err(&raw(&[(0x03, b"Host_Name"), (0x06, CA), (0x07, b"t")])),
        RecordError::Invalid {
            field: Field::ApiHost,
            problem: Problem::Host(_)
        }
    ));
    assert_eq!(
        err(&with(&[(0x02, b"password1")])),
        RecordError::PasswordWithoutSsid
    );
    assert_eq!(
        err(&with(&[(0x01, b"net"), (0x02, b"pass\nword")])),
        RecordError::Invalid {
            field: Field::WifiPassword,
            problem: Problem::Char
        }
    );
    // IP literals are hosts.
    for host in [&b"192.168.1.10"[..], b"fd00::1"] {
        assert!(parse(&raw(&[(0x03, host), (0x06, CA), (0x07, b"t")])).is_ok());
    }
    // An open network: SSID without password.
    let bytes = with(&[(0x01, b"open")]);
    let r = parse(&bytes).unwrap();
    assert_eq!(r.wifi.unwrap().password, "");
}

#[test]
fn secrets_stay_out_of_debug() {
    let text = format!("{:?}", full());
    assert!(!text.contains("correct horse"), "{text}");
    assert!(!text.contains("abc.def"), "{text}");
}

#[test]
fn errors_name_the_field() {
    let e = err(&with(&[(0x08, b"ESP-1")]));
    assert!(e.to_string().starts_with("node-name:"), "{e}");
    assert_eq!(
        err(&raw(&[(0x03, b"h"), (0x07, b"t")])).to_string(),
        "none of ca-certificate, discovery-token-ca-cert-hash and insecure-skip-tls-verify is set"
    );
}

#[test]
fn derived_node_names() {
    let n = derive_node_name("esp32c6", MAC).unwrap();
    assert_eq!(n.as_str(), "esp32c6-240ac4123456");
    assert!(matches!(
        derive_node_name("Bad", MAC),
        Err(NameError::InvalidChar { .. })
    ));
    assert!(matches!(
        derive_node_name(&"a".repeat(250), MAC),
        Err(NameError::TooLong { .. })
    ));
    // The longest valid name still fits (240 + "-" + 12 = 253), with labels ≤ 63.
    let prefix = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(48),
    ]
    .join(".");
    assert_eq!(derive_node_name(&prefix, MAC).unwrap().len(), 253);
}

#[test]
fn agent_config_from_a_record() {
    let record = full();
    let strings = record.agent_strings(MAC, Chip::Esp32s3).unwrap();
    assert_eq!(strings.node_name(), "esp-node-01");
    assert_eq!(strings.host_header(), "10.0.0.5:6443");
    let ids = NodeIds::new(MAC, [7; 16]);
    let ip = Ipv4Addr::new(192, 168, 1, 50);
    let config = record
        .agent_config(&strings, Chip::Esp32s3, ids, ip)
        .unwrap();
    assert_eq!(config.host, "10.0.0.5:6443");
    assert_eq!(config.server_name, "kubernetes");
    assert_eq!(config.token.unwrap().expose(), "abc.def");
    assert_eq!(config.profile.name.as_str(), "esp-node-01");
    // The record's profile wins over the firmware's.
    assert_eq!(config.profile.architecture, "riscv32");
    assert_eq!(config.profile.instance_type, Some("esp32c6"));
    assert_eq!(config.profile.extra_labels, record.labels.as_slice());
    assert_eq!(config.profile.internal_ip, Some(ip));
    assert_eq!(config.timing.lease_renew_interval.as_secs(), 8);
    assert_eq!(config.timing.status_interval.as_secs(), 120);
    assert_eq!(config.thresholds.memory_pressure_below_bytes, 30_000);

    let minimal = ProvisionRecord {
        port: 443,
        ..ProvisionRecord::new(
            "fd00::1",
            ServerTrust::InsecureSkipVerify,
            BearerToken::new("t"),
        )
    };
    let strings = minimal.agent_strings(MAC, Chip::Esp32s3).unwrap();
    assert_eq!(strings.node_name(), "esp32s3-240ac4123456");
    assert_eq!(strings.host_header(), "[fd00::1]");
    let config = minimal
        .agent_config(&strings, Chip::Esp32s3, ids, ip)
        .unwrap();
    assert_eq!(config.server_name, "fd00::1");
    assert_eq!(config.profile.architecture, "xtensa");
    assert_eq!(
        config.timing,
        picokubelet_core::agent::config::Timing::DEFAULT
    );
}

#[test]
fn agent_config_refuses_intervals_the_agent_cannot_run() {
    // A renewal period at or above the 40 s lease duration passes the record's own bounds but
    // not the agent's.
    let record = ProvisionRecord {
        lease_renew_interval_secs: Some(40),
        ..ProvisionRecord::new("h", ServerTrust::Ca(CA), BearerToken::new("t"))
    };
    let strings = record.agent_strings(MAC, Chip::Esp32c3).unwrap();
    let ids = NodeIds::new(MAC, [0; 16]);
    assert_eq!(
        record.agent_config(&strings, Chip::Esp32c3, ids, Ipv4Addr::UNSPECIFIED),
        Err(picokubelet_core::agent::config::ConfigError::RenewNotBelowLeaseDuration)
    );
}

#[test]
fn the_largest_record_of_known_fields_fits_the_stated_maximum() {
    let ssid = "s".repeat(MAX_SSID_LEN);
    let password = "p".repeat(MAX_WIFI_PASSWORD_LEN);
    let long_name = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61),
    ]
    .join(".");
    let mut ca = vec![0x30u8; MAX_CA_LEN];
    ca[1] = 0x82;
    let token = "t".repeat(MAX_TOKEN_LEN);
    let keys: Vec<String> = (0..4)
        .map(|i| format!("{long_name}/{}{i}", "k".repeat(62)))
        .collect();
    let value = "v".repeat(63);
    let mut labels = Labels::EMPTY;
    for k in &keys {
        assert_eq!(k.len() + 1 + value.len(), MAX_LABEL_ENTRY_LEN);
        assert!(labels.push(k, &value));
    }
    assert!(!labels.push("one", "too-many"));
    let record = ProvisionRecord {
        wifi: Some(WifiCredentials {
            ssid: &ssid,
            password: &password,
        }),
        host: &long_name,
        port: 1,
        tls_server_name: Some(&long_name),
        trust: ServerTrust::Ca(&ca).into(),
        token: Some(BearerToken::new(&token)),
        client_certificate: None,
        bootstrap_token: None,
        node_name: Some(NodeName::new(&long_name).unwrap()),
        profile: Some(Chip::Esp32c3),
        labels,
        lease_renew_interval_secs: Some(MAX_INTERVAL_SECS),
        status_interval_secs: Some(MAX_INTERVAL_SECS),
        memory_pressure_below_bytes: Some(MAX_MEMORY_PRESSURE_BYTES),
    };
    let mut buf = vec![0u8; MAX_RECORD_LEN];
    let n = write(&record, &mut buf).unwrap();
    assert_eq!(n, 6_549, "update the module docs if this changes");
    assert!(n <= MAX_RECORD_LEN);
    assert_eq!(parse(&buf[..n]).unwrap(), record);
}

#[test]
fn one_timing_rule_for_records_and_host_flags() {
    use core::time::Duration;
    // A record's 3 s renewal: the request timeout drops to half of it instead of refusing.
    let record = ProvisionRecord {
        lease_renew_interval_secs: Some(3),
        ..ProvisionRecord::new("h", ServerTrust::Ca(CA), BearerToken::new("t"))
    };
    let strings = record.agent_strings(MAC, Chip::Esp32c3).unwrap();
    let ids = NodeIds::new(MAC, [0; 16]);
    let config = record
        .agent_config(&strings, Chip::Esp32c3, ids, Ipv4Addr::UNSPECIFIED)
        .unwrap();
    assert_eq!(config.timing.request_timeout, Duration::from_millis(1_500));
    // The host's sub-second flags go through the same rule.
    let host = Cadence {
        lease_renew_interval: Some(Duration::from_millis(500)),
        status_interval: None,
        condition_check_interval: Some(Duration::from_millis(200)),
    }
    .timing();
    assert_eq!(host.request_timeout, Duration::from_millis(250));
    assert_eq!(host.condition_check_interval, Duration::from_millis(200));
    // Long renewal periods keep the default timeout.
    assert_eq!(
        Cadence::default().timing(),
        picokubelet_core::agent::config::Timing::DEFAULT
    );
}

/// A P-256 client certificate (rcgen) and its private scalar.
fn client_identity() -> (Vec<u8>, [u8; CLIENT_KEY_LEN]) {
    use p256::pkcs8::DecodePrivateKey as _;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "system:node:esp-c6-01");
    let cert = params.self_signed(&key).unwrap();
    let scalar = p256::SecretKey::from_pkcs8_der(&key.serialize_der()).unwrap();
    (cert.der().to_vec(), scalar.to_bytes().into())
}

#[test]
fn a_client_certificate_replaces_the_token_and_round_trips() {
    let (der, key) = client_identity();
    let record = ProvisionRecord {
        token: None,
        client_certificate: Some(ClientCertificate {
            certificate_der: &der,
            key: &key,
        }),
        ..full()
    };
    let mut buf = vec![0u8; MAX_RECORD_LEN];
    let n = write(&record, &mut buf).unwrap();
    let back = parse(&buf[..n]).unwrap();
    assert_eq!(back, record);
    assert_eq!(back.token, None);
    let client = back.client_certificate.unwrap();
    assert_eq!(client.certificate_der, der.as_slice());
    assert!(client.signing_key().is_some());
    // The board's agent sends no token: the certificate is its identity.
    let strings = back.agent_strings(MAC, Chip::Esp32c6).unwrap();
    let config = back
        .agent_config(
            &strings,
            Chip::Esp32c6,
            NodeIds::new(MAC, [0; 16]),
            Ipv4Addr::UNSPECIFIED,
        )
        .unwrap();
    assert_eq!(config.token, None);
    // The key never shows.
    let shown = format!("{back:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(!shown.contains(&format!("{:?}", &key[..8])), "{shown}");
}

#[test]
fn client_certificate_rules() {
    let (der, key) = client_identity();
    let (other_der, other_key) = client_identity();
    let base = [(0x03, &b"h"[..]), (0x06, CA)];
    let with_entries = |extra: &[(u8, &[u8])]| {
        let mut e = base.to_vec();
        e.extend_from_slice(extra);
        raw(&e)
    };
    assert!(parse(&with_entries(&[(0x0f, &der), (0x10, &key)])).is_ok());
    assert_eq!(
        err(&with_entries(&[(0x07, b"t"), (0x0f, &der), (0x10, &key)])),
        RecordError::TwoIdentities
    );
    assert_eq!(
        err(&with_entries(&[(0x0f, &der)])),
        RecordError::Missing(Field::ClientKey)
    );
    assert_eq!(
        err(&with_entries(&[(0x10, &key)])),
        RecordError::Missing(Field::ClientCertificate)
    );
    assert_eq!(
        err(&with_entries(&[(0x0f, &der), (0x10, &other_key)])),
        RecordError::Invalid {
            field: Field::ClientCertificate,
            problem: Problem::KeyMismatch
        }
    );
    assert_eq!(
        err(&with_entries(&[
            (0x0f, &other_der[..10]),
            (0x10, &other_key)
        ])),
        RecordError::Invalid {
            field: Field::ClientCertificate,
            problem: Problem::NotDer
        }
    );
    assert_eq!(
        err(&with_entries(&[(0x0f, &der), (0x10, &[0u8; 32])])),
        RecordError::Invalid {
            field: Field::ClientKey,
            problem: Problem::NotAKey
        }
    );
    assert!(matches!(
        err(&with_entries(&[(0x0f, &der), (0x10, &key[..31])])),
        RecordError::Invalid {
            field: Field::ClientKey,
            problem: Problem::Length { len: 31, .. }
        }
    ));
    assert_eq!(
        RecordError::TwoIdentities.to_string(),
        "token, client-certificate and bootstrap-token exclude each other: a board has one identity"
    );
    assert_eq!(
        RecordError::Missing(Field::BearerToken).to_string(),
        "none of token, client-certificate and bootstrap-token is set"
    );
}

#[test]
fn the_largest_record_with_a_client_certificate_fits_the_stated_maximum() {
    // Token and client certificate exclude each other: the certificate form at its largest
    // is the token form's size with the 2 048-byte token replaced by a 2 048-byte certificate
    // (same entry overhead) plus the 32-byte key entry.
    let (der, key) = client_identity();
    let token = "t".repeat(MAX_TOKEN_LEN);
    let with_token = ProvisionRecord {
        token: Some(BearerToken::new(&token)),
        ..full()
    };
    let with_cert = ProvisionRecord {
        token: None,
        client_certificate: Some(ClientCertificate {
            certificate_der: &der,
            key: &key,
        }),
        ..full()
    };
    let mut buf = vec![0u8; MAX_RECORD_LEN];
    let n_token = write(&with_token, &mut buf).unwrap();
    let n_cert = write(&with_cert, &mut buf).unwrap();
    assert_eq!(
        n_cert,
        n_token - MAX_TOKEN_LEN + der.len() + ENTRY_HEAD_LEN + CLIENT_KEY_LEN
    );
    assert_eq!(
        6_549 - MAX_TOKEN_LEN + MAX_CLIENT_CERT_LEN + ENTRY_HEAD_LEN + CLIENT_KEY_LEN,
        6_584,
        "update the module docs if this changes"
    );
}

const BOOT_TOKEN: &[u8] = b"abcdef.0123456789abcdef";

#[test]
fn a_bootstrap_token_with_a_ca_hash_is_a_fleet_record() {
    let pin = [7u8; 32];
    let bytes = raw(&[(0x03, b"api.example.com"), (0x11, BOOT_TOKEN), (0x12, &pin)]);
    let r = parse(&bytes).unwrap();
    assert_eq!(
        r.bootstrap_token.unwrap().expose(),
        "abcdef.0123456789abcdef"
    );
    assert_eq!(r.bootstrap_token.unwrap().id(), "abcdef");
    assert_eq!(
        r.trust,
        RecordTrust::Discovery(picokubelet_core::tls::pin::CaPin(pin))
    );
    assert_eq!(r.trust.server(), None);
    assert!(r.token.is_none() && r.client_certificate.is_none());
    // Written back canonically, byte for byte.
    let mut out = vec![0; MAX_RECORD_LEN];
    let len = write(&r, &mut out).unwrap();
    assert_eq!(&out[..len], &bytes[..]);
    // With a CA instead of the hash (kubeadm join with a CA file).
    let with_ca = raw(&[(0x03, b"h"), (0x06, CA), (0x11, BOOT_TOKEN)]);
    assert_eq!(parse(&with_ca).unwrap().trust, ServerTrust::Ca(CA));
}

#[test]
fn bootstrap_tokens_and_ca_hashes_are_checked() {
    let pin = [7u8; 32];
    let host = (0x03u8, &b"h"[..]);
    for bad in [
        &b"abcdef.0123456789abcdeF"[..],
        b"abcdef-0123456789abcdef",
        b"abcdefg.0123456789abcde",
        b"ABCDEF.0123456789abcdef",
    ] {
        assert_eq!(
            err(&raw(&[host, (0x06, CA), (0x11, bad)])),
            RecordError::Invalid {
                field: Field::BootstrapToken,
                problem: Problem::NotABootstrapToken
            },
            "{bad:?}"
        );
    }
    assert!(matches!(
        err(&raw(&[host, (0x06, CA), (0x11, b"abc.def")])),
        RecordError::Invalid {
            field: Field::BootstrapToken,
            problem: Problem::Length { len: 7, .. }
        }
    ));
    assert!(matches!(
        err(&raw(&[host, (0x11, BOOT_TOKEN), (0x12, &pin[..31])])),
        RecordError::Invalid {
            field: Field::DiscoveryCaCertHash,
            problem: Problem::Length { len: 31, .. }
        }
    ));
    // One identity only.
    assert_eq!(
        err(&raw(&[host, (0x06, CA), (0x07, b"t"), (0x11, BOOT_TOKEN)])),
        RecordError::TwoIdentities
    );
    // A hash excludes a CA and the insecure flag, and needs the bootstrap token.
    assert_eq!(
        err(&raw(&[host, (0x06, CA), (0x11, BOOT_TOKEN), (0x12, &pin)])),
        RecordError::CaHashWithCa
    );
    assert_eq!(
        err(&raw(&[
            host,
            (0x0e, &[1]),
            (0x11, BOOT_TOKEN),
            (0x12, &pin)
        ])),
        RecordError::CaHashWithCa
    );
    assert_eq!(
        err(&raw(&[host, (0x07, b"t"), (0x12, &pin)])),
        RecordError::DiscoveryWithoutBootstrapToken
    );
    assert_eq!(
        err(&raw(&[
            host,
            (0x11, BOOT_TOKEN),
            (0x11, BOOT_TOKEN),
            (0x12, &pin)
        ])),
        RecordError::Duplicate(Field::BootstrapToken)
    );
    // The writer refuses what the parser refuses.
    let record = ProvisionRecord {
        token: None,
        bootstrap_token: Some(
            picokubelet_core::tls::jws::BootstrapToken::parse("abcdef.0123456789abcdef").unwrap(),
        ),
        ..ProvisionRecord::new("h", ServerTrust::Ca(CA), BearerToken::new("t"))
    };
    assert!(write(&record, &mut [0; 256]).is_ok());
    let two = ProvisionRecord {
        token: Some(BearerToken::new("t")),
        ..record
    };
    assert_eq!(write(&two, &mut [0; 256]), Err(RecordError::TwoIdentities));
}

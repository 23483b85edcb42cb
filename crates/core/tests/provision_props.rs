//! Property tests of the provisioning record: arbitrary valid records round-trip, and no input
//! makes the parser panic.
use picokubelet_core::http::request::BearerToken;
use picokubelet_core::k8s::chip::Chip;
use picokubelet_core::k8s::name::NodeName;
use picokubelet_core::provision::*;
use picokubelet_core::tls::ServerTrust;
use proptest::prelude::*;

/// Owned parts of a record, so the strategy can produce them.
#[derive(Debug, Clone)]
struct Parts {
    wifi: Option<(String, String)>,
    host: String,
    port: u16,
    tls_server_name: Option<String>,
    ca: Option<Vec<u8>>,
    token: String,
    node_name: Option<String>,
    profile: Option<u8>,
    labels: Vec<(String, String)>,
    renew: Option<u32>,
    status: Option<u32>,
    memory: Option<u32>,
}

fn dns() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\\.[a-z0-9]{1,10}){0,3}",
        "(10|192)\\.[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        Just("fd00::1".to_string()),
    ]
}

fn parts() -> impl Strategy<Value = Parts> {
    let wifi = proptest::option::of(("\\PC{1,8}", prop_oneof![Just(String::new()), "[ -~]{8,63}"]))
        .prop_filter("ssid ≤ 32 bytes", |w| {
            w.as_ref().is_none_or(|(s, _)| s.len() <= 32)
        });
    let labels = proptest::collection::btree_map(
        "(picokubelet\\.dev/)?[a-z][a-z0-9]{0,10}",
        "([A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?)?",
        0..=4,
    )
    .prop_map(|m| m.into_iter().collect::<Vec<_>>());
    (
        (wifi, dns(), 1u16.., proptest::option::of(dns())),
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300).prop_map(
                |mut v| {
                    v.insert(0, 0x30);
                    v
                },
            )),
            "[!-~]{1,300}",
            proptest::option::of("[a-z0-9]{1,20}(-[a-z0-9]{1,5})?"),
            proptest::option::of(0u8..3),
        ),
        (
            labels,
            proptest::option::of(1u32..=86_400),
            proptest::option::of(1u32..=86_400),
            proptest::option::of(1u32..=16 * 1024 * 1024),
        ),
    )
        .prop_map(
            |(
                (wifi, host, port, tls_server_name),
                (ca, token, node_name, profile),
                (labels, renew, status, memory),
            )| Parts {
                wifi,
                host,
                port,
                tls_server_name,
                ca,
                token,
                node_name,
                profile,
                labels,
                renew,
                status,
                memory,
            },
        )
}

fn record(p: &Parts) -> ProvisionRecord<'_> {
    let mut labels = Labels::EMPTY;
    for (k, v) in &p.labels {
        assert!(labels.push(k, v));
    }
    ProvisionRecord {
        wifi: p
            .wifi
            .as_ref()
            .map(|(ssid, password)| WifiCredentials { ssid, password }),
        host: &p.host,
        port: p.port,
        tls_server_name: p.tls_server_name.as_deref(),
        trust: p
            .ca
            .as_deref()
            .map_or(ServerTrust::InsecureSkipVerify, ServerTrust::Ca)
            .into(),
        token: Some(BearerToken::new(&p.token)),
        client_certificate: None,
        bootstrap_token: None,
        node_name: p.node_name.as_deref().map(|n| NodeName::new(n).unwrap()),
        profile: p.profile.map(|i| Chip::ALL[usize::from(i)]),
        labels,
        lease_renew_interval_secs: p.renew,
        status_interval_secs: p.status,
        memory_pressure_below_bytes: p.memory,
    }
}

proptest! {
    #[test]
    fn valid_records_round_trip(p in parts()) {
        let r = record(&p);
        let mut buf = vec![0u8; MAX_RECORD_LEN];
        let n = write(&r, &mut buf).unwrap();
        prop_assert_eq!(parse(&buf[..n]).unwrap(), r);
        // Canonical: writing the parsed record gives the same bytes.
        let mut again = vec![0u8; MAX_RECORD_LEN];
        let m = write(&parse(&buf[..n]).unwrap(), &mut again).unwrap();
        prop_assert_eq!(&buf[..n], &again[..m]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&bytes);
    }

    /// Bytes behind a valid header and CRC reach the entry parser (random bytes would almost
    /// always stop at the magic or the CRC).
    #[test]
    fn arbitrary_entries_never_panic_and_reparse(entries in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut b = b"PKCF\x01\x00\x00\x00".to_vec();
        b.extend_from_slice(&entries);
        let total = (b.len() + 4) as u16;
        b[6..8].copy_from_slice(&total.to_le_bytes());
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        if let Ok(r) = parse(&b) {
            let mut out = vec![0u8; MAX_RECORD_LEN];
            let n = write(&r, &mut out).unwrap();
            prop_assert_eq!(parse(&out[..n]).unwrap(), r);
        }
    }

    /// Well-formed entries with arbitrary tags and values: the parser's field checks see
    /// every tag, known or not.
    #[test]
    fn arbitrary_tlvs_never_panic(tlvs in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..12)) {
        let mut b = b"PKCF\x01\x00\x00\x00".to_vec();
        for (tag, value) in &tlvs {
            b.push(*tag);
            b.extend_from_slice(&(value.len() as u16).to_le_bytes());
            b.extend_from_slice(value);
        }
        let total = (b.len() + 4) as u16;
        b[6..8].copy_from_slice(&total.to_le_bytes());
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        if let Ok(r) = parse(&b) {
            let mut out = vec![0u8; MAX_RECORD_LEN];
            let n = write(&r, &mut out).unwrap();
            prop_assert_eq!(parse(&out[..n]).unwrap(), r);
        }
    }
}

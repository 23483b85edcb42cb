use picokubelet_core::{
    http::request::BearerToken,
    k8s::name::{NameError, NodeName},
    provision::{parse, write, ProvisionRecord, RecordError, MAX_RECORD_LEN},
    tls::ServerTrust,
};
use proptest::prelude::*;

use crate::policy::{choose_uplink, Readiness, UplinkKind};
use crate::select::{
    apply_compiled_node_name, choose, is_config_partition, is_erased, Choice, CompiledDefaults,
    DefaultsBecause, NameSource, PartitionRead, Trouble,
};

const COMPLETE: CompiledDefaults = CompiledDefaults {
    api_host: true,
    ca: true,
    token: true,
};
const NO_TOKEN: CompiledDefaults = CompiledDefaults {
    token: false,
    ..COMPLETE
};

/// A minimal CA-shaped DER value (a SEQUENCE).
const CA: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x01];

/// A valid record at the start of an erased 8 KiB partition image.
fn partition_with_record() -> Vec<u8> {
    let record = ProvisionRecord::new(
        "api.example.com",
        ServerTrust::Ca(CA),
        BearerToken::new("token-1"),
    );
    let mut image = vec![0xFF; MAX_RECORD_LEN];
    let len = write(&record, &mut image).expect("the test record fits");
    assert!(len < MAX_RECORD_LEN);
    image
}

#[test]
fn erased_partition_uses_defaults_even_if_incomplete() {
    let erased = vec![0xFF; MAX_RECORD_LEN];
    for defaults in [COMPLETE, NO_TOKEN] {
        assert_eq!(
            choose(PartitionRead::Contents(&erased), defaults),
            Choice::Defaults(DefaultsBecause::Erased)
        );
    }
}

#[test]
fn missing_partition_uses_defaults() {
    assert_eq!(
        choose(PartitionRead::NoPartition, NO_TOKEN),
        Choice::Defaults(DefaultsBecause::NoPartition)
    );
}

#[test]
fn valid_record_wins_over_complete_defaults() {
    let image = partition_with_record();
    match choose(PartitionRead::Contents(&image), COMPLETE) {
        Choice::Record(record) => {
            assert_eq!(record.host, "api.example.com");
            assert_eq!(record.token.map(|t| t.expose()), Some("token-1"));
        }
        other => panic!("expected the record, got {other:?}"),
    }
}

#[test]
fn corrupt_record_falls_back_only_to_complete_defaults() {
    let mut image = partition_with_record();
    image[10] ^= 0x01; // inside the entries: the CRC no longer matches
    let expected = match parse(&image) {
        Err(e @ RecordError::Crc { .. }) => Trouble::Corrupt(e),
        other => panic!("the flipped byte should break the CRC, got {other:?}"),
    };
    assert_eq!(
        choose(PartitionRead::Contents(&image), COMPLETE),
        Choice::DefaultsDespite(expected)
    );
    assert_eq!(
        choose(PartitionRead::Contents(&image), NO_TOKEN),
        Choice::Refuse(expected)
    );
}

#[test]
fn partly_erased_partition_is_corrupt_not_erased() {
    let mut image = vec![0xFF; MAX_RECORD_LEN];
    image[MAX_RECORD_LEN - 1] = 0x00;
    assert_eq!(
        choose(PartitionRead::Contents(&image), NO_TOKEN),
        Choice::Refuse(Trouble::Corrupt(RecordError::BadMagic))
    );
}

#[test]
fn zeroed_and_empty_partitions_are_corrupt() {
    let zeros = vec![0u8; MAX_RECORD_LEN];
    assert_eq!(
        choose(PartitionRead::Contents(&zeros), COMPLETE),
        Choice::DefaultsDespite(Trouble::Corrupt(RecordError::BadMagic))
    );
    assert!(!is_erased(&[]));
    assert!(matches!(
        choose(PartitionRead::Contents(&[]), COMPLETE),
        Choice::DefaultsDespite(Trouble::Corrupt(RecordError::Truncated { .. }))
    ));
}

#[test]
fn unreadable_partition_is_trouble() {
    assert_eq!(
        choose(PartitionRead::ReadFailed, COMPLETE),
        Choice::DefaultsDespite(Trouble::Unreadable)
    );
    assert_eq!(
        choose(PartitionRead::ReadFailed, NO_TOKEN),
        Choice::Refuse(Trouble::Unreadable)
    );
}

#[test]
fn missing_names_the_first_gap() {
    assert_eq!(COMPLETE.missing(), None);
    assert_eq!(NO_TOKEN.missing(), Some("PK_NODE_TOKEN"));
    let nothing = CompiledDefaults {
        api_host: false,
        ca: false,
        token: false,
    };
    assert_eq!(nothing.missing(), Some("PK_API_HOST"));
    assert!(!nothing.is_complete());
    let no_ca = CompiledDefaults {
        ca: false,
        ..COMPLETE
    };
    assert!(no_ca.missing().is_some_and(|m| m.contains("CA")));
}

fn bare_record() -> ProvisionRecord<'static> {
    ProvisionRecord::new("api", ServerTrust::Ca(CA), BearerToken::new("t"))
}

#[test]
fn node_name_precedence_record_then_compiled_then_derived() {
    let mut with_name = bare_record();
    with_name.node_name = Some(NodeName::new("from-record").expect("valid"));
    assert_eq!(
        apply_compiled_node_name(&mut with_name, Some("compiled")),
        Ok(NameSource::Record)
    );
    assert_eq!(with_name.node_name.map(|n| n.as_str()), Some("from-record"));

    let mut without = bare_record();
    assert_eq!(
        apply_compiled_node_name(&mut without, Some("compiled")),
        Ok(NameSource::Compiled)
    );
    assert_eq!(without.node_name.map(|n| n.as_str()), Some("compiled"));

    let mut derived = bare_record();
    assert_eq!(
        apply_compiled_node_name(&mut derived, None),
        Ok(NameSource::Derived)
    );
    assert_eq!(derived.node_name, None);
}

#[test]
fn invalid_compiled_node_name_is_an_error() {
    let mut record = bare_record();
    assert!(matches!(
        apply_compiled_node_name(&mut record, Some("Not_Valid")),
        Err(NameError::InvalidChar { .. })
    ));
    assert_eq!(record.node_name, None);
}

/// The pkconfig entry of the table `espflash save-image --merge --partition-table
/// partitions.csv` wrote at 0x8000 (type 1, subtype 6, 0xd000, 0x2000, label, flags).
const PKCONFIG_ENTRY: [u8; 32] = [
    0xaa, 0x50, 0x01, 0x06, 0x00, 0xd0, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, b'p', b'k', b'c', b'o',
    b'n', b'f', b'i', b'g', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[test]
fn config_partition_is_found_by_type_and_label() {
    let (raw_type, label) = (PKCONFIG_ENTRY[2], &PKCONFIG_ENTRY[12..28]);
    assert!(is_config_partition(raw_type, label));
    let mut ff_padded = [0xFF; 16];
    ff_padded[..8].copy_from_slice(b"pkconfig");
    assert!(is_config_partition(1, &ff_padded));
    assert!(!is_config_partition(0, label), "an app partition is not it");
    assert!(!is_config_partition(1, b"pkconfig2\0\0\0\0\0\0\0"));
    assert!(!is_config_partition(1, b"nvs\0\0\0\0\0\0\0\0\0\0\0\0\0"));
    assert!(!is_config_partition(1, &[]));
}

const UP: Readiness = Readiness {
    link_up: true,
    has_ipv4: true,
};
const LINK_ONLY: Readiness = Readiness {
    link_up: true,
    has_ipv4: false,
};
const STALE_IP: Readiness = Readiness {
    link_up: false,
    has_ipv4: true,
};

#[test]
fn ethernet_is_preferred_when_usable() {
    assert_eq!(
        choose_uplink(Some(UP), Some(UP)),
        Some(UplinkKind::Ethernet)
    );
    assert_eq!(choose_uplink(Some(UP), None), Some(UplinkKind::Ethernet));
}

#[test]
fn wifi_stands_in_for_unusable_ethernet() {
    for ethernet in [None, Some(LINK_ONLY), Some(STALE_IP)] {
        assert_eq!(choose_uplink(ethernet, Some(UP)), Some(UplinkKind::Wifi));
    }
}

#[test]
fn no_uplink_without_link_and_address() {
    assert_eq!(choose_uplink(None, None), None);
    assert_eq!(choose_uplink(Some(LINK_ONLY), Some(STALE_IP)), None);
}

proptest! {
    /// Whatever the flash holds: no panic, a record exactly when the core parses one, the
    /// defaults without trouble exactly when the partition is erased, and refusal only with
    /// incomplete defaults.
    #[test]
    fn choose_agrees_with_the_parser(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        fill in any::<bool>(),
        complete in any::<bool>(),
    ) {
        let mut image = bytes;
        if fill {
            image.resize(MAX_RECORD_LEN, 0xFF);
        }
        let defaults = if complete { COMPLETE } else { NO_TOKEN };
        match choose(PartitionRead::Contents(&image), defaults) {
            Choice::Record(_) => prop_assert!(parse(&image).is_ok()),
            Choice::Defaults(DefaultsBecause::Erased) => prop_assert!(is_erased(&image)),
            Choice::Defaults(DefaultsBecause::NoPartition) => prop_assert!(false),
            Choice::DefaultsDespite(Trouble::Corrupt(e)) => {
                prop_assert!(complete);
                prop_assert_eq!(parse(&image).err(), Some(e));
            }
            Choice::Refuse(Trouble::Corrupt(e)) => {
                prop_assert!(!complete);
                prop_assert_eq!(parse(&image).err(), Some(e));
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

/// A node's client certificate (self-signed P-256, CN system:node:esp32c6-01) and its private
/// scalar: test fixtures, made with openssl, not a secret of any cluster.
const NODE_CERT: &[u8] = include_bytes!("fixtures/node-cert.der");
const NODE_KEY: &[u8; 32] = include_bytes!("fixtures/node-key.bin");

#[test]
fn a_record_with_a_client_certificate_gives_the_opener_the_boards_identity() {
    use picokubelet_core::provision::ClientCertificate;
    let mut record = ProvisionRecord::new(
        "api.example.com",
        ServerTrust::Ca(CA),
        BearerToken::new("unused"),
    );
    record.token = None;
    record.client_certificate = Some(ClientCertificate {
        certificate_der: NODE_CERT,
        key: NODE_KEY,
    });
    let mut image = vec![0xFF; MAX_RECORD_LEN];
    write(&record, &mut image).expect("the record fits");
    let Choice::Record(from_flash) = choose(PartitionRead::Contents(&image), COMPLETE) else {
        panic!("the record should win");
    };
    assert_eq!(from_flash.token, None);
    // What bringup does: the key from the record, the opener borrowing it.
    let key = from_flash
        .client_certificate
        .and_then(|c| c.signing_key())
        .expect("a P-256 key");
    let opener = from_flash.tls_opener(Some(&key));
    let identity = opener.client_identity().expect("the board's identity");
    assert_eq!(identity.certificate_der, NODE_CERT);
    // A token record's opener sends no certificate.
    let token_image = partition_with_record();
    let Choice::Record(token_record) = choose(PartitionRead::Contents(&token_image), COMPLETE)
    else {
        panic!("the record should win");
    };
    assert!(token_record.tls_opener(None).client_identity().is_none());
}

#[test]
fn a_record_with_a_client_certificate_for_another_key_is_corrupt() {
    use picokubelet_core::provision::{ClientCertificate, Field, Problem};
    let mut other_key = *NODE_KEY;
    other_key[31] ^= 1;
    let mut entries = ProvisionRecord::new(
        "api.example.com",
        ServerTrust::Ca(CA),
        BearerToken::new("unused"),
    );
    entries.token = None;
    entries.client_certificate = Some(ClientCertificate {
        certificate_der: NODE_CERT,
        key: &other_key,
    });
    let mut image = vec![0xFF; MAX_RECORD_LEN];
    assert_eq!(
        write(&entries, &mut image),
        Err(RecordError::Invalid {
            field: Field::ClientCertificate,
            problem: Problem::KeyMismatch
        })
    );
}

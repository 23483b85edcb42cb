//! The tap board's flash through the body's configuration loader (`firmware/body/src/config.rs`),
//! the code a chip runs on esp-storage: the partition table espflash writes from
//! `firmware/partitions.csv`, the `pkconfig` image `picokubelet provision` wrote, and every row
//! of the firmware README's precedence table. No network.

use picokubelet_core::provision::RecordError;
use picokubelet_core::provision::RecordTrust;
use picokubelet_core::tls::ServerTrust;
use picokubelet_firmware_body::config::{
    self,
    select::{NameSource, Trouble},
    BuildDefaults, ConfigBuffers, Loaded, Refusal, Settings, API_HOST_PLACEHOLDER,
};
use picokubelet_tapboard::flash::{
    binary_table, parse_csv, FlashImage, PARTITION_TABLE_LEN, PARTITION_TABLE_OFFSET,
};

/// The firmware's partition table, as `espflash --partition-table` reads it.
const PARTITIONS_CSV: &str = include_str!("../../partitions.csv");
/// `PK_WIFI_PASSWORD='tapboard wifi pass' picokubelet provision --kubeconfig
/// crates/picokubelet/tests/fixtures/provision/lan.yaml --node-name tapboard-1 --profile
/// esp32c6 --wifi-ssid lab --out pkconfig-lan.bin` (run in that fixture directory).
const PROVISIONED: &[u8] = include_bytes!("data/pkconfig-lan.bin");
/// The cluster CA of that kubeconfig (PEM), for defaults that are complete.
const CA_PEM: &[u8] = include_bytes!("../../../crates/picokubelet/tests/fixtures/ca.crt");

/// The `pkconfig` entry of the table `espflash save-image --merge --partition-table
/// partitions.csv` wrote at 0x8000 (as in firmware/host-tests).
const ESPFLASH_PKCONFIG_ENTRY: [u8; 32] = [
    0xaa, 0x50, 0x01, 0x06, 0x00, 0xd0, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, b'p', b'k', b'c', b'o',
    b'n', b'f', b'i', b'g', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A build that set nothing (the CI images): no host, no CA, no token.
const NOTHING_BUILT_IN: BuildDefaults = BuildDefaults {
    wifi: None,
    api_host: None,
    tls_server_name: None,
    node_name: None,
    node_token: None,
    cluster_ca: &[],
};

/// A build with every setting a board needs.
const COMPLETE: BuildDefaults = BuildDefaults {
    api_host: Some("defaults.example"),
    node_name: Some("built-in-name"),
    node_token: Some("built-in-token"),
    cluster_ca: CA_PEM,
    ..NOTHING_BUILT_IN
};

fn load(flash: &mut FlashImage, defaults: &BuildDefaults) -> Result<Settings, Refusal> {
    loaded(flash, defaults).map(|l| l.settings)
}

fn loaded(flash: &mut FlashImage, defaults: &BuildDefaults) -> Result<Loaded, Refusal> {
    // The chip keeps these in a static; each test needs its own.
    config::load(flash, defaults, Box::leak(Box::new(ConfigBuffers::new())))
}

fn provisioned(record: Option<&[u8]>) -> FlashImage {
    FlashImage::provisioned(PARTITIONS_CSV, record).expect("the firmware's table makes an image")
}

fn expect_settings(result: Result<Settings, Refusal>) -> Settings {
    match result {
        Ok(settings) => settings,
        Err(refusal) => panic!("expected settings, got the refusal {refusal:?}"),
    }
}

#[test]
fn a_provisioned_record_is_read_through_the_partition_table() {
    let settings = expect_settings(load(&mut provisioned(Some(PROVISIONED)), &COMPLETE));
    let record = settings.record;
    assert_eq!(record.host, "k3s.lab.example");
    assert_eq!(record.port, 6443);
    assert_eq!(record.tls_server_name, Some("kubernetes"));
    assert_eq!(record.node_name.map(|n| n.as_str()), Some("tapboard-1"));
    let wifi = record.wifi.expect("the record names a Wi-Fi network");
    assert_eq!((wifi.ssid, wifi.password), ("lab", "tapboard wifi pass"));
    assert_eq!(settings.name_source, NameSource::Record);
    assert!(settings.send_token && !settings.degraded);
}

/// The bootstrap keeps its certificate in the defaults' CA buffer, which only a record from
/// flash leaves idle: handed out then, never when the defaults (and their CA) are in use.
#[test]
fn only_a_flash_record_leaves_the_ca_buffer_idle() {
    let from_flash = loaded(&mut provisioned(Some(PROVISIONED)), &COMPLETE).expect("settings");
    assert!(from_flash.idle_ca.is_some());
    let defaults = loaded(&mut provisioned(None), &COMPLETE).expect("settings");
    assert!(defaults.idle_ca.is_none());
    // The defaults' CA is still the one decoded into that buffer.
    let RecordTrust::Server(ServerTrust::Ca(ca)) = defaults.settings.record.trust else {
        panic!("the defaults verify the server with their CA");
    };
    assert!(!ca.is_empty());
}

#[test]
fn the_table_is_the_one_espflash_writes() {
    let image = provisioned(None);
    let table = &image.as_bytes()[PARTITION_TABLE_OFFSET..][..PARTITION_TABLE_LEN];
    // Rows: nvs, pkconfig, phy_init, factory, pkident; then the MD5 entry.
    assert_eq!(table[32..64], ESPFLASH_PKCONFIG_ENTRY);
    // pkident: data (1), undefined (6), 0x3f0000, 8 KiB, its label, no flags.
    let pkident = &table[128..160];
    assert_eq!(pkident[..4], [0xAA, 0x50, 0x01, 0x06]);
    assert_eq!(pkident[4..8], 0x3f_0000u32.to_le_bytes());
    assert_eq!(pkident[8..12], 0x2000u32.to_le_bytes());
    assert_eq!(&pkident[12..20], b"pkident\0");
    assert_eq!(table[160..162], [0xEB, 0xEB], "MD5 entry after five rows");
    assert!(table[192..].iter().all(|&b| b == 0xFF));
}

#[test]
fn erased_pkconfig_means_the_defaults_whatever_they_hold() {
    let settings = expect_settings(load(&mut provisioned(None), &COMPLETE));
    assert_eq!(settings.record.host, "defaults.example");
    assert_eq!(settings.name_source, NameSource::Compiled);
    assert!(settings.send_token && !settings.degraded);

    // Incomplete defaults are still used (the board was never provisioned) — until the CA is
    // needed: without one there is nothing to verify the server with.
    let no_token = BuildDefaults {
        node_token: None,
        ..COMPLETE
    };
    let settings = expect_settings(load(&mut provisioned(None), &no_token));
    assert_eq!(settings.record.host, "defaults.example");
    assert!(!settings.send_token && !settings.degraded);
    assert!(matches!(
        load(&mut provisioned(None), &NOTHING_BUILT_IN),
        Err(Refusal::NoCa(_))
    ));
}

#[test]
fn a_table_without_pkconfig_means_the_defaults() {
    let without: String = PARTITIONS_CSV
        .lines()
        .filter(|line| !line.starts_with("pkconfig"))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut image = FlashImage::provisioned(&without, None).expect("a valid table");
    // A record at 0xd000 is not looked at: the table does not name it.
    image.put("a record", 0xd000, PROVISIONED).expect("fits");
    let settings = expect_settings(load(&mut image, &COMPLETE));
    assert_eq!(settings.record.host, "defaults.example");
    assert!(!settings.degraded);
}

#[test]
fn a_corrupt_record_falls_back_only_to_complete_defaults() {
    let mut corrupt = PROVISIONED.to_vec();
    corrupt[20] ^= 0x01;
    let settings = expect_settings(load(&mut provisioned(Some(&corrupt)), &COMPLETE));
    assert_eq!(settings.record.host, "defaults.example");
    assert!(settings.degraded, "the LED shows Warning");
    match load(&mut provisioned(Some(&corrupt)), &NOTHING_BUILT_IN) {
        Err(Refusal::Flash {
            trouble: Trouble::Corrupt(RecordError::Crc { .. }),
            missing,
        }) => assert_eq!(missing, "PK_API_HOST"),
        other => panic!("expected a refusal for the CRC, got {:?}", other.err()),
    }
}

#[test]
fn an_unreadable_table_is_trouble_not_a_panic() {
    // The MD5 entry no longer matches the rows.
    let mut image = provisioned(Some(PROVISIONED));
    image
        .put("a flipped label byte", PARTITION_TABLE_OFFSET + 12, b"q")
        .expect("fits");
    assert!(matches!(
        load(&mut image, &NOTHING_BUILT_IN),
        Err(Refusal::Flash {
            trouble: Trouble::Unreadable,
            ..
        })
    ));
    let settings = expect_settings(load(&mut image, &COMPLETE));
    assert!(settings.degraded);

    // A flash too small to hold a table at 0x8000.
    let mut tiny = FlashImage::erased(PARTITION_TABLE_OFFSET);
    assert!(matches!(
        load(&mut tiny, &NOTHING_BUILT_IN),
        Err(Refusal::Flash {
            trouble: Trouble::Unreadable,
            ..
        })
    ));
}

#[test]
fn a_pkconfig_entry_past_the_flash_end_is_unreadable() {
    let mut partitions = parse_csv(PARTITIONS_CSV).expect("the firmware's table parses");
    let entry = partitions
        .iter_mut()
        .find(|p| p.label == "pkconfig")
        .expect("pkconfig row");
    entry.offset = u32::MAX - 0x1000;
    let mut image = FlashImage::erased(1 << 20);
    image
        .put(
            "the table",
            PARTITION_TABLE_OFFSET,
            &binary_table(&partitions).expect("fits"),
        )
        .expect("fits");
    assert!(matches!(
        load(&mut image, &NOTHING_BUILT_IN),
        Err(Refusal::Flash {
            trouble: Trouble::Unreadable,
            ..
        })
    ));
}

#[test]
fn the_placeholder_host_is_not_a_host() {
    let no_host = BuildDefaults {
        api_host: None,
        ..COMPLETE
    };
    let settings = expect_settings(load(&mut provisioned(None), &no_host));
    assert_eq!(settings.record.host, API_HOST_PLACEHOLDER);
}

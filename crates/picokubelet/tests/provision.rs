//! `picokubelet provision`, the real binary: the file it writes parses with the core's reader
//! (the firmware's) and every field round-trips; secrets stay out of its output; each refusal
//! says what to do.
mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, TOKEN};
use picokubelet::provision::{PARTITION_NAME, PARTITION_OFFSET, PARTITION_SIZE};
use picokubelet_core::k8s::chip::Chip;
use picokubelet_core::provision::{self, parse, MAX_RECORD_LEN};
use picokubelet_core::tls::{decode_ca, ServerTrust};
use picokubelet_testkit::{ServerOptions, TestApiServer};

const PASSWORD: &str = "wpa2 passphrase 0xBEEF";

/// A test's private directory: it is also `$HOME`, so no real ~/.kube/config is read.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `picokubelet provision ARGS` with `env` and nothing else of the caller's
    /// environment that the command reads.
    fn provision<I, S>(&self, args: I, env: &[(&str, &str)]) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_picokubelet"));
        cmd.arg("provision")
            .args(args)
            .env_remove("KUBECONFIG")
            .env_remove("PK_WIFI_PASSWORD")
            .env("HOME", self.dir.path())
            .env("RUST_LOG", "trace");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{}", all_output(out));
}

/// Exit status and stderr of a refusal; also checks that it wrote nothing.
fn assert_refused(out: &Output, code: i32, out_file: &Path) -> String {
    assert_eq!(out.status.code(), Some(code), "{}", all_output(out));
    assert!(
        !out_file.exists(),
        "a refused run left {}",
        out_file.display()
    );
    stderr(out)
}

fn record_len(bytes: &[u8]) -> usize {
    usize::from(u16::from_le_bytes([bytes[6], bytes[7]]))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn every_field_round_trips_through_the_partition_image() {
    let sb = Sandbox::new();
    let server = TestApiServer::new(ServerOptions::default());
    let token = server.node_token("esp-lab-01");
    let kubeconfig = sb.file(
        "config",
        &server.kubeconfig_for("https://API.Test.Example:16443", &token, Some("kubernetes")),
    );
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            kubeconfig.as_os_str(),
            OsStr::new("--wifi-ssid"),
            OsStr::new("lab-2.4GHz"),
            OsStr::new("--node-name"),
            OsStr::new("esp-lab-01"),
            OsStr::new("--profile"),
            OsStr::new("esp32c3"),
            OsStr::new("--label"),
            OsStr::new("topology.kubernetes.io/zone=shelf-2"),
            OsStr::new("--label"),
            OsStr::new("example.com/rack=a"),
            OsStr::new("--lease-renew-interval"),
            OsStr::new("15s"),
            OsStr::new("--status-interval"),
            OsStr::new("2m"),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[("PK_WIFI_PASSWORD", PASSWORD)],
    );
    assert_ok(&out);

    let image = std::fs::read(&out_file).unwrap();
    assert_eq!(image.len(), PARTITION_SIZE);
    assert_eq!(image.len(), MAX_RECORD_LEN);
    let len = record_len(&image);
    assert!(
        image[len..].iter().all(|&b| b == 0xFF),
        "not erased-flash padded"
    );
    #[cfg(unix)]
    assert_eq!(mode(&out_file), 0o600);

    let record = provision::parse(&image).unwrap();
    let wifi = record.wifi.unwrap();
    assert_eq!((wifi.ssid, wifi.password), ("lab-2.4GHz", PASSWORD));
    assert_eq!(record.host, "api.test.example");
    assert_eq!(record.port, 16443);
    assert_eq!(record.tls_server_name, Some("kubernetes"));
    assert_eq!(record.trust, ServerTrust::Ca(&server.ca_der()));
    assert_eq!(record.token.unwrap().expose(), token);
    assert_eq!(record.node_name.map(|n| n.as_str()), Some("esp-lab-01"));
    assert_eq!(record.profile, Some(Chip::Esp32c3));
    assert_eq!(
        record.labels.as_slice(),
        [
            ("topology.kubernetes.io/zone", "shelf-2"),
            ("example.com/rack", "a")
        ]
    );
    assert_eq!(record.lease_renew_interval_secs, Some(15));
    assert_eq!(record.status_interval_secs, Some(120));
    assert_eq!(record.memory_pressure_below_bytes, None);

    // Nothing on stdout; the summary on stderr names the non-secret fields only.
    assert!(out.stdout.is_empty());
    let text = stderr(&out);
    for shown in [
        "api.test.example:16443",
        "kubernetes",
        "SHA-256 ",
        &format!("{} bytes (the kubeconfig's token)", token.len()),
        "lab-2.4GHz",
        "esp-lab-01",
        &format!("espflash write-bin 0xd000 {}", out_file.display()),
        "espflash flash --partition-table firmware/partitions.csv",
    ] {
        assert!(text.contains(shown), "{shown:?} missing from:\n{text}");
    }
    assert!(!text.contains(&token), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[test]
fn the_record_format_is_the_record_alone() {
    let sb = Sandbox::new();
    let kubeconfig = fixture("provision/lan.yaml");
    let partition = sb.path("pk.bin");
    let record = sb.path("pk.rec");
    for (format, path) in [("partition", &partition), ("record", &record)] {
        let out = sb.provision(
            [
                OsStr::new("--kubeconfig"),
                kubeconfig.as_os_str(),
                OsStr::new("--format"),
                OsStr::new(format),
                OsStr::new("--out"),
                path.as_os_str(),
            ],
            &[],
        );
        assert_ok(&out);
    }
    let record = std::fs::read(&record).unwrap();
    let partition = std::fs::read(&partition).unwrap();
    assert_eq!(record.len(), record_len(&record));
    assert!(record.len() < MAX_RECORD_LEN);
    assert_eq!(record, partition[..record.len()]);
    provision::parse(&record).unwrap();
}

#[test]
fn a_token_file_and_a_ca_file_round_trip_and_the_name_is_left_to_the_board() {
    let sb = Sandbox::new();
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            fixture("provision/lan.yaml").as_os_str(),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    assert_ok(&out);
    let image = std::fs::read(&out_file).unwrap();
    let record = provision::parse(&image).unwrap();
    assert_eq!(record.host, "k3s.lab.example");
    assert_eq!(record.port, 6443);
    assert_eq!(record.token.unwrap().expose(), TOKEN);
    let pem = std::fs::read(fixture("ca.crt")).unwrap();
    let mut buf = vec![0; pem.len()];
    let der = decode_ca(&pem, &mut buf).unwrap();
    assert_eq!(record.trust, ServerTrust::Ca(der));
    assert_eq!(record.wifi, None);
    assert_eq!(record.node_name, None);
    assert_eq!(record.profile, None);
    let text = all_output(&out);
    assert!(text.contains("derived by the board from its MAC"), "{text}");
    assert!(text.contains("none (the board uses Ethernet)"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[test]
fn a_loopback_server_needs_api_host() {
    let sb = Sandbox::new();
    let server = TestApiServer::new(ServerOptions::default());
    let kubeconfig = sb.file("config", &server.kubeconfig("k3s-node-token"));
    let out_file = sb.path("pk.bin");
    let base = [
        OsStr::new("--kubeconfig"),
        kubeconfig.as_os_str(),
        OsStr::new("--out"),
        out_file.as_os_str(),
    ];
    let text = assert_refused(&sb.provision(base, &[]), 2, &out_file);
    assert!(
        text.contains("loopback") && text.contains("--api-host"),
        "{text}"
    );

    let out = sb.provision(
        base.into_iter()
            .chain([OsStr::new("--api-host"), OsStr::new("192.168.7.2:16443")]),
        &[],
    );
    assert_ok(&out);
    let image = std::fs::read(&out_file).unwrap();
    let record = provision::parse(&image).unwrap();
    assert_eq!((record.host, record.port), ("192.168.7.2", 16443));
    assert_eq!(record.trust, ServerTrust::Ca(&server.ca_der()));
    assert!(stderr(&out).contains("(from --api-host)"));
}

#[test]
fn a_wifi_network_needs_a_password_from_a_file_or_the_environment_or_wifi_open() {
    let sb = Sandbox::new();
    let kubeconfig = fixture("provision/lan.yaml");
    let out_file = sb.path("pk.bin");
    let run = |extra: &[&OsStr], env: &[(&str, &str)]| {
        let _ = std::fs::remove_file(&out_file);
        let mut args = vec![
            OsStr::new("--kubeconfig"),
            kubeconfig.as_os_str(),
            OsStr::new("--wifi-ssid"),
            OsStr::new("lab"),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ];
        args.extend_from_slice(extra);
        sb.provision(args, env)
    };

    let text = assert_refused(&run(&[], &[]), 2, &out_file);
    assert!(text.contains("--wifi-open"), "{text}");
    assert!(text.contains("--wifi-password-file"), "{text}");

    // No flag takes the password itself.
    let out = run(&[OsStr::new("--wifi-password"), OsStr::new(PASSWORD)], &[]);
    assert_refused(&out, 2, &out_file);

    let password_file = sb.file("psk", &format!("{PASSWORD}\n"));
    let out = run(
        &[
            OsStr::new("--wifi-password-file"),
            password_file.as_os_str(),
        ],
        &[],
    );
    assert_ok(&out);
    let image = std::fs::read(&out_file).unwrap();
    assert_eq!(
        provision::parse(&image).unwrap().wifi.unwrap().password,
        PASSWORD
    );
    assert!(!all_output(&out).contains(PASSWORD));

    let out = run(&[OsStr::new("--wifi-open")], &[]);
    assert_ok(&out);
    let image = std::fs::read(&out_file).unwrap();
    let wifi = provision::parse(&image).unwrap().wifi.unwrap();
    assert_eq!((wifi.ssid, wifi.password), ("lab", ""));

    let text = assert_refused(&run(&[], &[("PK_WIFI_PASSWORD", "short")]), 2, &out_file);
    assert!(text.contains("8 to 63"), "{text}");
}

#[test]
fn a_ca_too_large_for_the_record_is_refused_with_its_size() {
    let sb = Sandbox::new();
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            fixture("provision/big-ca.yaml").as_os_str(),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let text = assert_refused(&out, 2, &out_file);
    assert!(
        text.contains("4816 bytes") && text.contains("2048"),
        "{text}"
    );
}

#[test]
fn a_token_too_long_for_the_record_is_refused_without_showing_it() {
    let sb = Sandbox::new();
    let server = TestApiServer::new(ServerOptions::default());
    let token = format!("tok{}", "x".repeat(2046));
    assert_eq!(token.len(), 2049);
    let kubeconfig = sb.file(
        "config",
        &server.kubeconfig_for("https://api.test.example:6443", &token, None),
    );
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            kubeconfig.as_os_str(),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let text = assert_refused(&out, 2, &out_file);
    assert!(
        text.contains("2049 bytes") && text.contains("2048"),
        "{text}"
    );
    assert!(!text.contains(&token[..40]), "{text}");
}

#[test]
fn an_existing_output_is_kept_unless_forced() {
    let sb = Sandbox::new();
    let out_file = sb.file("pk.bin", "precious");
    let args = |force: bool| {
        let mut a = vec![
            "--kubeconfig".into(),
            fixture("provision/lan.yaml").into_os_string(),
            "--out".into(),
            out_file.clone().into_os_string(),
        ];
        if force {
            a.push(std::ffi::OsString::from("--force"));
        }
        a
    };
    let out = sb.provision(args(false), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(stderr(&out).contains("--force"));
    assert_eq!(std::fs::read(&out_file).unwrap(), b"precious");

    assert_ok(&sb.provision(args(true), &[]));
    let image = std::fs::read(&out_file).unwrap();
    assert_eq!(image.len(), PARTITION_SIZE);
    provision::parse(&image).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&out_file), 0o600);
}

#[test]
fn a_missing_kubeconfig_is_refused() {
    let sb = Sandbox::new();
    let out_file = sb.path("pk.bin");
    let missing = sb.path("no-such-config");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            missing.as_os_str(),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let text = assert_refused(&out, 1, &out_file);
    assert!(text.contains("no-such-config"), "{text}");

    // No flag, no KUBECONFIG, no ~/.kube/config: kubectl's lookup order ends empty-handed.
    let out = sb.provision([OsStr::new("--out"), out_file.as_os_str()], &[]);
    let text = assert_refused(&out, 1, &out_file);
    assert!(text.contains("no kubeconfig found"), "{text}");
}

/// A kubeconfig for `server` whose user is the client certificate `cert_pem`/`key_pem`.
fn client_cert_kubeconfig(server: &TestApiServer, cert_pem: &str, key_pem: &str) -> String {
    use base64::Engine as _;
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t.as_bytes());
    let kubeconfig = server.kubeconfig("unused").replace(
        "    token: unused\n",
        &format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert_pem),
            b64(key_pem)
        ),
    );
    assert!(!kubeconfig.contains("token:"), "{kubeconfig}");
    kubeconfig
}

#[test]
fn a_p256_client_certificate_goes_into_the_record_as_the_boards_identity() {
    use p256::pkcs8::DecodePrivateKey as _;
    let sb = Sandbox::new();
    let server = TestApiServer::new(ServerOptions::default());
    let cert = server.issue_client_cert("system:node:pico-1", &["system:nodes"]);
    let kubeconfig = sb.file(
        "config",
        &client_cert_kubeconfig(&server, &cert.cert_pem, &cert.key_pem),
    );
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            kubeconfig.as_os_str(),
            OsStr::new("--api-host"),
            OsStr::new("192.168.7.2"),
            OsStr::new("--format"),
            OsStr::new("record"),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    assert_ok(&out);
    let summary = stderr(&out);
    assert!(
        summary.contains("client certificate CN=system:node:pico-1"),
        "{summary}"
    );
    let bytes = std::fs::read(&out_file).unwrap();
    let record = parse(&bytes).unwrap();
    assert_eq!(record.token, None);
    let client = record.client_certificate.expect("a client certificate");
    assert_eq!(client.certificate_der, cert.cert_der.as_slice());
    let key = p256::SecretKey::from_pkcs8_der(&cert.key_der).unwrap();
    assert_eq!(client.key.as_slice(), key.to_bytes().as_slice());
    // The key never reaches the terminal.
    let key_hex: String = key.to_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!all_output(&out).contains(&key_hex));
}

#[test]
fn an_rsa_client_key_is_refused_for_a_board_with_why() {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let sb = Sandbox::new();
    let server = TestApiServer::new(ServerOptions::default());
    // kind's admin user: an RSA-2048 key (self-signed here: provision checks the pair, the
    // server would check the issuer).
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls::pki_types::PrivatePkcs8KeyDer::from(
            key.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        ),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    let key_pem = key.to_pkcs1_pem(Default::default()).unwrap().to_string();
    let kubeconfig = sb.file(
        "config",
        &client_cert_kubeconfig(&server, &cert.pem(), &key_pem),
    );
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            kubeconfig.as_os_str(),
            OsStr::new("--api-host"),
            OsStr::new("192.168.7.2"),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let text = assert_refused(&out, 2, &out_file);
    assert!(
        text.contains("client key is RSA, and a board signs with ECDSA P-256 only")
            && text.contains("prime256v1"),
        "{text}"
    );
}

#[test]
fn client_certificates_get_the_same_errors_as_run() {
    let kubeconfig = fixture("k3s.yaml");
    let sb = Sandbox::new();
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            kubeconfig.as_os_str(),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let provision_error = assert_refused(&out, 1, &out_file);
    let run = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(["fleet", "--count", "1", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let run_error = stderr(&run);
    let last = |t: &str| t.lines().last().unwrap_or_default().to_owned();
    assert!(
        last(&run_error).starts_with("picokubelet: user"),
        "{run_error}"
    );
    assert_eq!(last(&provision_error), last(&run_error));
}

#[test]
fn an_exec_plugin_is_refused_for_a_board_and_says_which_path_to_take() {
    let kubeconfig = fixture("provision/exec.yaml");
    let sb = Sandbox::new();
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            kubeconfig.as_os_str(),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let text = assert_refused(&out, 1, &out_file);
    assert!(
        text.contains("exec credential plugins run on the host only")
            && text.contains("provision --mint-bootstrap-token")
            && text.contains("ServiceAccount token"),
        "{text}"
    );
    // The host runs it: `cloud-cli` is not installed here, and `run` says so.
    let run = Command::new(env!("CARGO_BIN_EXE_picokubelet"))
        .args(["fleet", "--count", "1", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "off")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let run_error = stderr(&run);
    assert!(
        run_error.contains("exec plugin \"cloud-cli\" is not installed"),
        "{run_error}"
    );
}

#[test]
fn insecure_needs_the_explicit_flag_and_warns_loudly() {
    let sb = Sandbox::new();
    let out_file = sb.path("pk.bin");
    let kubeconfig = fixture("provision/insecure.yaml");
    let base = [
        OsStr::new("--kubeconfig"),
        kubeconfig.as_os_str(),
        OsStr::new("--out"),
        out_file.as_os_str(),
    ];
    let text = assert_refused(&sb.provision(base, &[]), 2, &out_file);
    assert!(text.contains("--insecure-skip-tls-verify"), "{text}");

    let out = sb.provision(
        base.into_iter()
            .chain([OsStr::new("--insecure-skip-tls-verify")]),
        &[],
    );
    assert_ok(&out);
    assert!(stderr(&out).contains("WARNING"), "{}", stderr(&out));
    let image = std::fs::read(&out_file).unwrap();
    let record = provision::parse(&image).unwrap();
    assert_eq!(record.trust, ServerTrust::InsecureSkipVerify);
    assert_eq!(record.host, "10.0.0.5");
}

/// The firmware's partition table must put `pkconfig` where `provision` says to flash it.
#[test]
fn the_firmware_partition_table_matches_the_pkconfig_constants() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware/partitions.csv");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!(
            "note: {} is absent; partition check skipped",
            path.display()
        );
        return;
    };
    let row = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&PARTITION_NAME))
        .unwrap_or_else(|| panic!("no {PARTITION_NAME} row in {}", path.display()));
    let number = |s: &str| match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => match s.strip_suffix(['K', 'k']) {
            Some(k) => k.parse::<u64>().unwrap() * 1024,
            None => s.parse().unwrap(),
        },
    };
    assert_eq!(row[1], "data", "{row:?}");
    assert_eq!(number(row[3]), u64::from(PARTITION_OFFSET), "{row:?}");
    assert_eq!(number(row[4]), PARTITION_SIZE as u64, "{row:?}");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(str::trim).collect())
        .collect();
    let ident = rows
        .iter()
        .find(|cols| cols.first() == Some(&provision::IDENTITY_PARTITION_NAME))
        .expect("a pkident row");
    assert_eq!(ident[1], "data", "{ident:?}");
    assert_eq!(
        number(ident[3]),
        u64::from(provision::IDENTITY_PARTITION_OFFSET)
    );
    assert_eq!(
        number(ident[4]),
        u64::from(provision::IDENTITY_PARTITION_SIZE)
    );
    // No partition overlaps another, and all fit a 4 MiB flash.
    let mut spans: Vec<(u64, u64)> = rows
        .iter()
        .filter(|c| c.len() >= 5 && c[0] != "Name")
        .map(|c| (number(c[3]), number(c[3]) + number(c[4])))
        .collect();
    spans.sort_unstable();
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "{spans:?}");
    assert!(spans.last().unwrap().1 <= 4 * 1024 * 1024, "{spans:?}");
}

const BOOTSTRAP_TOKEN: &str = "abcdef.0123456789abcdef";
const CA_HASH: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// kubeadm-join style: server, token and CA hash, no kubeconfig. One record for every board:
/// no node name (each board derives its own), no credentials but the bootstrap token.
#[test]
fn a_bootstrap_token_and_a_ca_hash_make_one_record_for_a_fleet() {
    let sb = Sandbox::new();
    let token_file = sb.file("token", &format!("{BOOTSTRAP_TOKEN}\n"));
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--bootstrap-token-file"),
            token_file.as_os_str(),
            OsStr::new("--discovery-token-ca-cert-hash"),
            OsStr::new(CA_HASH),
            OsStr::new("--api-host"),
            OsStr::new("api.lab.example"),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    assert_ok(&out);
    let image = std::fs::read(&out_file).unwrap();
    let record = parse(&image).unwrap();
    assert_eq!(record.host, "api.lab.example");
    assert_eq!(record.port, 6443);
    assert_eq!(record.bootstrap_token.unwrap().expose(), BOOTSTRAP_TOKEN);
    assert_eq!(record.token, None);
    assert_eq!(record.client_certificate, None);
    assert_eq!(record.node_name, None);
    assert_eq!(
        record.trust,
        provision::RecordTrust::Discovery(
            picokubelet_core::tls::pin::CaPin::parse(CA_HASH).unwrap()
        )
    );
    let text = all_output(&out);
    assert!(text.contains("bootstrap token abcdef.<secret>"), "{text}");
    assert!(text.contains("kube-public/cluster-info"), "{text}");
    assert!(!text.contains("0123456789abcdef"), "{text}");
    assert!(!text.contains("WARNING"), "{text}");
}

/// With a kubeconfig: its server and CA, never its user's credentials.
#[test]
fn a_bootstrap_token_with_a_kubeconfig_takes_only_its_server_and_ca() {
    let sb = Sandbox::new();
    let token_file = sb.file("token", BOOTSTRAP_TOKEN);
    let out_file = sb.path("pk.bin");
    let out = sb.provision(
        [
            OsStr::new("--kubeconfig"),
            fixture("provision/lan.yaml").as_os_str(),
            OsStr::new("--bootstrap-token-file"),
            token_file.as_os_str(),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    assert_ok(&out);
    let record_bytes = std::fs::read(&out_file).unwrap();
    let record = parse(&record_bytes).unwrap();
    assert_eq!(record.host, "k3s.lab.example");
    assert_eq!(record.token, None);
    assert_eq!(record.bootstrap_token.unwrap().id(), "abcdef");
    assert!(matches!(record.trust.server(), Some(ServerTrust::Ca(_))));
    assert!(!all_output(&out).contains(TOKEN));
}

#[test]
fn a_malformed_bootstrap_token_or_hash_is_refused_with_the_format() {
    let sb = Sandbox::new();
    let out_file = sb.path("pk.bin");
    let bad_token = sb.file("token", "abcdef.secret\n");
    let out = sb.provision(
        [
            OsStr::new("--bootstrap-token-file"),
            bad_token.as_os_str(),
            OsStr::new("--discovery-token-ca-cert-hash"),
            OsStr::new(CA_HASH),
            OsStr::new("--api-host"),
            OsStr::new("api.lab.example"),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let err = assert_refused(&out, 2, &out_file);
    assert!(err.contains("6 and 16 characters"), "{err}");
    assert!(!err.contains("abcdef.secret"), "{err}");
    let token_file = sb.file("good", BOOTSTRAP_TOKEN);
    let out = sb.provision(
        [
            OsStr::new("--bootstrap-token-file"),
            token_file.as_os_str(),
            OsStr::new("--discovery-token-ca-cert-hash"),
            OsStr::new("sha256:1234"),
            OsStr::new("--api-host"),
            OsStr::new("api.lab.example"),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let err = assert_refused(&out, 2, &out_file);
    assert!(err.contains("64 hex digits"), "{err}");
    // The hash alone names no server.
    let out = sb.provision(
        [
            OsStr::new("--bootstrap-token-file"),
            token_file.as_os_str(),
            OsStr::new("--discovery-token-ca-cert-hash"),
            OsStr::new(CA_HASH),
            OsStr::new("--out"),
            out_file.as_os_str(),
        ],
        &[],
    );
    let err = assert_refused(&out, 2, &out_file);
    assert!(err.contains("--api-host"), "{err}");
}

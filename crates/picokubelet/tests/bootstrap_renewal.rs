//! The node certificate's life cycle against the test API server, in-process (renewal happens
//! at 70–90 % of a lifetime of at least 10 minutes, too long for an end-to-end run): the
//! renewal CSR is sent with the current certificate (selfnodeclient), an expired certificate
//! goes back to the bootstrap token, and a stored certificate the server does not accept is
//! replaced through the token.

use clap::Parser as _;
use picokubelet::bootstrap::cert_dir::{CertDir, StoredIdentity};
use picokubelet::bootstrap::{bootstrap_cluster, Bootstrapper};
use picokubelet::cli::{Cli, Command, RunArgs};
use picokubelet::kubeconfig::LookupEnv;
use picokubelet_testkit::{BootstrapToken, ServerOptions, TestApiServer};
use tokio::sync::watch;

const NODE: &str = "esp-renew-01";

fn run_args(kubeconfig: &std::path::Path, pki: &std::path::Path) -> RunArgs {
    let cli = Cli::try_parse_from([
        "picokubelet",
        "run",
        "--bootstrap-kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--cert-dir",
        pki.to_str().unwrap(),
        "--node-name",
        NODE,
    ])
    .unwrap();
    match cli.command {
        Command::Run(args) => args,
        other => panic!("{other:?}"),
    }
}

/// The `spec.username` of every CSR, oldest first.
fn requesters(server: &TestApiServer) -> Vec<String> {
    let mut csrs: Vec<_> = server
        .csr_names()
        .iter()
        .map(|n| server.csr(n).unwrap())
        .collect();
    csrs.sort_by_key(|c| {
        c["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    csrs.iter()
        .map(|c| c["spec"]["username"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_uses_the_current_certificate_and_expiry_goes_back_to_the_token() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = BootstrapToken::new("abcdef", "0123456789abcdef");
    server.add_bootstrap_token(token.clone());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("bootstrap-kubelet.conf");
    std::fs::write(&kubeconfig, server.bootstrap_kubeconfig(&token)).unwrap();
    let pki = dir.path().join("pki");
    let mut args = run_args(&kubeconfig, &pki);
    args.node.node_name = Some(NODE.to_owned());
    let target = bootstrap_cluster(&args.bootstrap, &args.cluster, &LookupEnv::default())
        .await
        .unwrap();
    let b = Bootstrapper::new(
        &args.node,
        &args.agent,
        &target,
        CertDir::open(&pki).unwrap(),
        None,
    );
    let (_stop_tx, mut stop) = watch::channel(false);

    let first = b.identity(&mut stop).await.unwrap();
    assert_eq!(requesters(&server), ["system:bootstrap:abcdef"]);

    let second = b.renew(&first, &mut stop).await.unwrap();
    assert_ne!(
        second.certificate.certificate_der,
        first.certificate.certificate_der
    );
    let node_user = format!("system:node:{NODE}");
    assert_eq!(
        requesters(&server),
        ["system:bootstrap:abcdef", node_user.as_str()]
    );
    // The renewed certificate is the current one on disk.
    let loaded = CertDir::open(&pki)
        .unwrap()
        .load(NODE, picokubelet::bootstrap::cert_dir::unix_now())
        .unwrap()
        .unwrap();
    assert_eq!(
        loaded.certificate.certificate_der,
        second.certificate.certificate_der
    );

    // An expired certificate cannot ask for its successor: the token does.
    let expired = StoredIdentity {
        not_after: 0,
        ..second.clone()
    };
    b.renew(&expired, &mut stop).await.unwrap();
    assert_eq!(
        requesters(&server),
        [
            "system:bootstrap:abcdef",
            node_user.as_str(),
            "system:bootstrap:abcdef"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_certificate_the_server_does_not_accept_is_replaced_through_the_token() {
    let server = TestApiServer::start(ServerOptions::default())
        .await
        .unwrap();
    let token = BootstrapToken::new("abcdef", "0123456789abcdef");
    server.add_bootstrap_token(token.clone());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("bootstrap-kubelet.conf");
    std::fs::write(&kubeconfig, server.bootstrap_kubeconfig(&token)).unwrap();
    let pki = dir.path().join("pki");
    // A valid-looking certificate for this node from another cluster's CA.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("system:node:{NODE}"));
    let cert = params.self_signed(&key).unwrap();
    let cert_dir = CertDir::open(&pki).unwrap();
    std::fs::write(
        cert_dir.current_path(),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
    .unwrap();
    let now = picokubelet::bootstrap::cert_dir::unix_now();
    assert!(cert_dir.load(NODE, now).unwrap().is_some());

    let mut args = run_args(&kubeconfig, &pki);
    args.node.node_name = Some(NODE.to_owned());
    let target = bootstrap_cluster(&args.bootstrap, &args.cluster, &LookupEnv::default())
        .await
        .unwrap();
    let b = Bootstrapper::new(&args.node, &args.agent, &target, cert_dir, None);
    let (_stop_tx, mut stop) = watch::channel(false);
    let identity = b.identity(&mut stop).await.unwrap();
    assert_ne!(identity.certificate.certificate_der, cert.der().to_vec());
    assert_eq!(requesters(&server), ["system:bootstrap:abcdef"]);
}

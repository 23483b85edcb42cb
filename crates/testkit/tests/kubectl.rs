//! The real kubectl against the test server, compared with what the same kubectl printed against
//! the real kube-apiserver (recorded-2 D01, D02, D04–D10). The scene is the recorded one on a
//! simulated clock, so ages and times are the recorded ones and most output compares exactly.
//!
//! Needs `kubectl` (v1.32 recorded; `$KUBECTL` or on `PATH`); without it every test prints why
//! and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod kubectl_scene;

use std::path::PathBuf;
use std::process::Command;

use common::Harness;
use kubectl_scene::play;
use kubectl_scene::{build, kubectl_log, recorded_stdout};

/// The kubectl binary, or `None` (with the reason printed) when there is none.
fn kubectl_binary() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("KUBECTL") {
        Some(k) => vec![PathBuf::from(k)],
        None => std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("kubectl"))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIPPED: no kubectl binary ($KUBECTL or kubectl on PATH); install kubernetes-client to run this test");
    }
    found
}

/// kubectl with its own kubeconfig (admin) and discovery cache.
struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(h: &Harness) -> Option<Self> {
        let bin = kubectl_binary()?;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = h.server.kubeconfig(&h.server.admin_token());
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).unwrap();
        Some(Kubectl { bin, dir })
    }

    /// Runs kubectl; its stdout (the test fails on a non-zero exit, showing stderr).
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(args)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("HOME", self.dir.path())
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn assert_same_lines(what: &str, got: &str, want: &str) {
    let got: Vec<&str> = got.lines().collect();
    let want: Vec<&str> = want.lines().collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g,
            w,
            "{what}: line {} differs\n--- got:\n{}",
            i + 1,
            got.join("\n")
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: line count\n--- got:\n{}",
        got.join("\n")
    );
}

/// The cells of kubectl's table output (columns are separated by at least two spaces).
fn cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn get_nodes_and_wide_columns_print_as_recorded_d01_d02() {
    let h = build("2026-12-02T15:33:31Z");
    let Some(k) = Kubectl::new(&h) else { return };
    let want = recorded_stdout(&kubectl_log("D01-get-nodes-cold-cache.kubectl-v9.txt"));
    assert_same_lines("get nodes", &k.run(&["get", "nodes"]), &want);
    let want = recorded_stdout(&kubectl_log("D02-get-nodes-owide.kubectl-v9.txt"));
    assert_same_lines(
        "get nodes -owide",
        &k.run(&["get", "nodes", "-owide"]),
        &want,
    );
}

#[test]
fn describe_node_prints_as_recorded_d04() {
    let h = build("2026-12-02T15:33:32Z");
    let Some(k) = Kubectl::new(&h) else { return };
    let want = recorded_stdout(&kubectl_log("D04-describe-node.kubectl-v9.txt"));
    let got = k.run(&["describe", "node", "esp-boot-01"]);
    let (got_node, got_events) = got.split_once("Events:\n").unwrap();
    let (want_node, want_events) = want.split_once("Events:\n").unwrap();
    assert_same_lines("describe node", got_node, want_node);
    // kubectl computes the events' Age itself from its own clock (not the server's): compare
    // the other cells.
    let without_age = |t: &str| -> Vec<Vec<String>> {
        cells(t)
            .into_iter()
            .map(|mut row| {
                row.remove(2);
                row
            })
            .collect()
    };
    assert_eq!(without_age(got_events), without_age(want_events), "{got}");

    // `-o yaml` (D03): the same document, but for the uid and resourceVersion of this run.
    let ids = |t: &str| -> String {
        t.lines()
            .map(|l| match l.split_once(": ") {
                Some(("  uid" | "  resourceVersion", _)) => l.split(':').next().unwrap_or(l),
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let want = recorded_stdout(&kubectl_log("D03-get-node-yaml.kubectl-v9.txt"));
    let got = k.run(&["get", "node", "esp-boot-01", "-o", "yaml"]);
    assert_same_lines("get node -o yaml", &ids(&got), &ids(&want));
}

#[test]
fn leases_and_events_print_as_recorded_d05_d06() {
    let h = build("2026-12-02T15:33:32Z");
    let Some(k) = Kubectl::new(&h) else { return };
    let want = recorded_stdout(&kubectl_log("D05-get-leases.kubectl-v9.txt"));
    let got = k.run(&["get", "leases", "-n", "kube-node-lease"]);
    assert_same_lines("get leases", &got, &want);
    let want = recorded_stdout(&kubectl_log("D06-get-events.kubectl-v9.txt"));
    let got = k.run(&["get", "events"]);
    // The recorded list also holds an event of the recorded cluster's own (openshift), which
    // widens two columns: compare cells.
    let want: Vec<Vec<String>> = cells(&want)
        .into_iter()
        .filter(|row| !row.iter().any(|c| c.contains("openshift")))
        .collect();
    assert_eq!(cells(&got), want, "get events:\n{got}");
}

#[test]
fn cordon_label_annotate_delete_answer_as_recorded_d07_to_d10() {
    let h = build("2026-12-02T15:33:32Z");
    let Some(k) = Kubectl::new(&h) else { return };
    for (args, log) in [
        (&["cordon", "esp-boot-01"][..], "D07-cordon.kubectl-v9.txt"),
        (
            &["label", "node", "esp-boot-01", "a=b"][..],
            "D08-label.kubectl-v9.txt",
        ),
        (
            &["annotate", "node", "esp-boot-01", "a=b"][..],
            "D09-annotate.kubectl-v9.txt",
        ),
        (
            &["delete", "node", "esp-test-03"][..],
            "D10-delete-node.kubectl-v9.txt",
        ),
    ] {
        let want = recorded_stdout(&kubectl_log(log));
        assert_same_lines(&args.join(" "), &k.run(args), &want);
    }
    let node = h.server.node("esp-boot-01").unwrap();
    assert_eq!(node["spec"]["unschedulable"], true);
    assert_eq!(node["metadata"]["labels"]["a"], "b");
    assert_eq!(node["metadata"]["annotations"]["a"], "b");
    assert!(h.server.node("esp-test-03").is_none());
    // The recorded Table after these steps (D13 at 15:33:59): cordoned, esp-test-03 gone.
    play(&h, "2026-12-02T15:33:32Z", "2026-12-02T15:33:59Z");
    let got = k.run(&["get", "nodes"]);
    let want = "NAME          STATUS                     ROLES    AGE     VERSION\n\
                esp-boot-01   Ready,SchedulingDisabled   <none>   3m39s   v1.36.2-picokubelet.0.1.0\n\
                esp-test-02   Ready                      <none>   44s     v1.36.2-picokubelet.0.1.0\n";
    assert_same_lines("get nodes after cordon and delete", &got, want);
    assert_eq!(
        k.run(&["label", "node", "esp-boot-01", "a-"]),
        "node/esp-boot-01 unlabeled\n"
    );
    assert_eq!(
        h.server.node("esp-boot-01").unwrap()["metadata"]["labels"].get("a"),
        None
    );
    let got = k.run(&["uncordon", "esp-boot-01"]);
    assert_eq!(got, "node/esp-boot-01 uncordoned\n");
    assert_eq!(
        h.server.node("esp-boot-01").unwrap()["spec"].get("unschedulable"),
        None
    );
}

/// `kubectl certificate approve` on a server without auto-approval (k3s-like): the pending CSR
/// is approved through `/approval` and the signer issues it. guess: not recorded against the real
/// server (kubectl's requests are the ones the approval subresource documents).
#[test]
fn kubectl_certificate_approve_issues_a_pending_csr() {
    let h = Harness::new("2026-12-02T15:26:00Z");
    let Some(kubectl) = Kubectl::new(&h) else {
        return;
    };
    h.server.set_csr_auto_approval(false);
    let token = picokubelet_testkit::BootstrapToken::new("abcdef", "0123456789abcdef");
    h.server.add_bootstrap_token(token.clone());
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:nodes");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "system:node:esp-boot-01");
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    let request = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pem);
    let body = format!(
        r#"{{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{{"name":"csr-pending"}},"spec":{{"request":"{request}","signerName":"kubernetes.io/kube-apiserver-client-kubelet","usages":["digital signature","client auth"]}}}}"#
    );
    let mut client = h.client();
    let created = client.request(
        "POST",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        &token.token(),
        Some("application/json"),
        &body,
    );
    assert_eq!(created.status, 201);
    assert!(h.server.issued_certificate("csr-pending").is_none());

    // guess: the CSR printer's columns (no CSR Table is recorded), as the server prints them.
    let csr_row = |kubectl: &Kubectl| {
        let listed = cells(&kubectl.run(&["get", "csr"]));
        assert_eq!(
            listed[0],
            [
                "NAME",
                "AGE",
                "SIGNERNAME",
                "REQUESTOR",
                "REQUESTEDDURATION",
                "CONDITION"
            ],
            "{listed:?}"
        );
        assert_eq!(listed.len(), 2, "{listed:?}");
        let mut row = listed[1].clone();
        assert_eq!(row.len(), 6, "{row:?}");
        row.remove(1); // AGE follows the clock
        row
    };
    assert_eq!(
        csr_row(&kubectl),
        [
            "csr-pending",
            "kubernetes.io/kube-apiserver-client-kubelet",
            "system:bootstrap:abcdef",
            "<none>",
            "Pending"
        ]
    );
    let out = kubectl.run(&["certificate", "approve", "csr-pending"]);
    assert_eq!(
        out.trim(),
        "certificatesigningrequest.certificates.k8s.io/csr-pending approved"
    );
    let csr = h.server.csr("csr-pending").unwrap();
    assert_eq!(csr["status"]["conditions"][0]["type"], "Approved");
    assert!(h.server.issued_certificate("csr-pending").is_some());
    assert_eq!(csr_row(&kubectl)[4], "Approved,Issued");
    let out = kubectl.run(&["delete", "csr", "csr-pending"]);
    assert_eq!(
        out.trim(),
        "certificatesigningrequest.certificates.k8s.io \"csr-pending\" deleted"
    );
    assert!(h.server.csr("csr-pending").is_none());
}

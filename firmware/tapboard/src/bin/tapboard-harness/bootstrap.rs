//! `--bootstrap`: kubelet TLS bootstrap on the board (firmware/body/src/bootstrap.rs) against
//! the test API server started with a bootstrap token and CSR auto-approval. One record (the
//! token, the server's CA) in a flash image file the board writes its identity into:
//! boot → CSR → certificate → Node Ready as `system:node:<chip>-<mac>`; the same image again
//! (a reboot) → the stored certificate, no new CSR; the newest slot corrupted → said, and the
//! token again (a new CSR). Then a second board from a record with the CA's hash instead of
//! the CA (discovery through cluster-info).

use std::path::Path;

use picokubelet_core::k8s::chip::Chip;
use picokubelet_core::provision::derive_node_name;
use picokubelet_core::tls::{base64_pem_to_der, pin::CaPin};
use picokubelet_tapboard::args::FIRMWARE_PARTITIONS_CSV;
use picokubelet_tapboard::flash::FlashImage;

use crate::board::Board;
use crate::netns::API_NAME;
use crate::scenarios::{Harness, Report, BOUND};
use crate::Args;

/// The token the test server is started with (`serve --bootstrap-token`).
pub const TOKEN: &str = "pkboot.0123456789abcdef";
/// Where `pkident` starts in `firmware/partitions.csv` (its first slot's head).
const PKIDENT: usize = 0x3f0000;

/// The boards' base MACs: one per record, so each is a Node of its own.
const MAC_CA: [u8; 6] = [0x02, 0x70, 0x6b, 0x00, 0x0b, 0x01];
const MAC_DISCOVERY: [u8; 6] = [0x02, 0x70, 0x6b, 0x00, 0x0b, 0x02];
const MAC_RENEW: [u8; 6] = [0x02, 0x70, 0x6b, 0x00, 0x0b, 0x03];
/// The certificates' lifetime in the renewal scenario (the test server's test-only
/// `csr-max-duration`): the board's renewal point, 70–90 % of it, comes 28–36 s after issue.
const SHORT_CERT_SECS: u64 = 40;

pub fn run(h: &Harness, args: &Args, report: &mut Report) {
    let token_file = args.work.join("bootstrap-token");
    if let Err(e) = std::fs::write(&token_file, format!("{TOKEN}\n")) {
        report.fail("the bootstrap token file", &e.to_string());
        return;
    }
    // 1. A record with the token and the CA (from the node kubeconfig: its server and CA only).
    let record = args.work.join("pkconfig-bootstrap.bin");
    let made = provision(
        args,
        &token_file,
        &[
            "--kubeconfig",
            path(&h.board_kubeconfig),
            "--api-host",
            API_NAME,
        ],
        &record,
    );
    let flash = args.work.join("flash-bootstrap.bin");
    let made = made.and_then(|()| flash_image(&record, &flash));
    if let Err(e) = made {
        report.fail("a bootstrap record", &e);
        return;
    }
    let node = node_name(MAC_CA);
    let result = boot(h, args, &flash, MAC_CA, "bootstrap-1", &node).and_then(|log| {
        let sent = log.contains("bootstrap: CSR csr-");
        let issued = log.contains("pk-stage identity ok issued: a certificate for system:node:");
        match (sent, issued, csrs(h)?) {
            (true, true, 1) => Ok(format!("{node}, 1 CSR")),
            (sent, issued, n) => Err(format!(
                "CSR sent {sent}, identity issued {issued}, {n} CSR(s) on the server"
            )),
        }
    });
    let first_ok = report.check(
        "bootstrap token → CSR → certificate in pkident → Node Ready as system:node:<chip>-<mac>",
        result,
    );
    if first_ok {
        report.check(
            "the board's requests were taken for its own node user",
            users(h).and_then(|users| {
                let user = format!("system:node:{node}");
                if users.split(',').any(|u| u == user) {
                    Ok(user)
                } else {
                    Err(format!("the server saw {users:?}"))
                }
            }),
        );
        // 2. A reboot with the same flash: the stored identity, no CSR.
        let result = boot(h, args, &flash, MAC_CA, "bootstrap-2", &node).and_then(|log| {
            let reused = log.contains("pk-stage identity ok the stored certificate");
            match (reused, csrs(h)?) {
                (true, 1) => Ok("still 1 CSR".to_owned()),
                (reused, n) => Err(format!("stored identity used {reused}, {n} CSR(s)")),
            }
        });
        report.check(
            "reboot with the same flash → the stored certificate, no new CSR",
            result,
        );
        // 3. The newest slot corrupt: said, and the token again.
        let result = corrupt_newest_slot(&flash)
            .and_then(|slot| boot(h, args, &flash, MAC_CA, "bootstrap-3", &node).map(|l| (slot, l)))
            .and_then(|(slot, log)| {
                let said = log.contains(&format!("bootstrap: identity slot {slot} is unusable"));
                match (said, csrs(h)?) {
                    (true, 2) => Ok(format!("slot {slot} skipped, a second CSR")),
                    (said, n) => Err(format!("corrupt slot said {said}, {n} CSR(s)")),
                }
            });
        report.check(
            "a corrupt identity slot → said, and the bootstrap token again",
            result,
        );
    }
    // 4. Discovery: the CA's hash instead of the CA.
    let record = args.work.join("pkconfig-discovery.bin");
    let flash = args.work.join("flash-discovery.bin");
    let node = node_name(MAC_DISCOVERY);
    let before = csrs(h).unwrap_or(0);
    let result = ca_hash(&h.board_kubeconfig)
        .and_then(|hash| {
            let api_host = format!("{API_NAME}:{}", h.port);
            provision(
                args,
                &token_file,
                &[
                    "--api-host",
                    &api_host,
                    "--discovery-token-ca-cert-hash",
                    &hash,
                ],
                &record,
            )
        })
        .and_then(|()| flash_image(&record, &flash))
        .and_then(|()| boot(h, args, &flash, MAC_DISCOVERY, "bootstrap-discovery", &node))
        .and_then(|log| {
            let discovered = log.contains("bootstrap: cluster-info is signed with the token");
            match (discovered, csrs(h)?) {
                (true, n) if n == before + 1 => Ok(format!("{node}, CA from cluster-info")),
                (discovered, n) => Err(format!("discovered {discovered}, {n} CSR(s)")),
            }
        });
    report.check(
        "bootstrap token + CA hash (no CA in the record) → discovery → Node Ready",
        result,
    );
    // 5. Renewal: 40-second certificates; the board renews with its certificate before expiry.
    let result = renewal(h, args, &token_file);
    let _ = h.ask_server("csr-max-duration 0");
    report.check(
        "renewal point → a new CSR with the certificate → stored (slot sequence up) → Node Ready; \
         a denied renewal → the bootstrap token → a new identity → Ready",
        result,
    );
}

/// A board on 40 s certificates until it renewed once: the renewal CSR, the new certificate
/// stored with a higher sequence, the agent back with it and the Node Ready.
fn renewal(h: &Harness, args: &Args, token_file: &Path) -> Result<String, String> {
    let answer = h.ask_server(&format!("csr-max-duration {SHORT_CERT_SECS}"))?;
    if !answer.starts_with("ok") {
        return Err(format!("the test server answered {answer:?}"));
    }
    let record = args.work.join("pkconfig-renewal.bin");
    let flash = args.work.join("flash-renewal.bin");
    provision(
        args,
        token_file,
        &[
            "--kubeconfig",
            path(&h.board_kubeconfig),
            "--api-host",
            API_NAME,
        ],
        &record,
    )?;
    flash_image(&record, &flash)?;
    let node = node_name(MAC_RENEW);
    let before = csrs(h)?;
    let mut command = h.board_command(args);
    let mac_text: Vec<String> = MAC_RENEW.iter().map(|b| format!("{b:02x}")).collect();
    command
        .arg("--flash")
        .arg(&flash)
        .args(["--mac", &mac_text.join(":")]);
    let log_file = args.work.join("board-bootstrap-renewal.log");
    let board = Board::start(command, &log_file)?;
    let seen = |from: usize, text: &str| {
        board
            .log
            .wait_text(from, BOUND, text)
            .ok_or_else(|| format!("no '{text}' in {}", log_file.display()))
    };
    let first = seen(0, "bootstrap: certificate stored in identity slot")?;
    let first_sequence = newest_sequence(&flash)?;
    let at = seen(first, "bootstrap: the certificate's renewal point")?;
    let stored = seen(at, "bootstrap: certificate stored in identity slot")?;
    seen(stored, "bootstrap: the agent with the certificate")?;
    h.api
        .for_node(&node)
        .wait_node(BOUND, |n| n.ready == "True")?;
    let sequence = newest_sequence(&flash)?;
    let n = csrs(h)?;
    if n != before + 2 || sequence <= first_sequence {
        return Err(format!(
            "{} CSR(s) since the board started (want 2), slot sequence {first_sequence} -> \
             {sequence}",
            n - before
        ));
    }
    // 6. The next renewal denied (the approver off, `kubectl certificate deny`): the token
    // again, a new identity, Ready.
    h.ask_server("csr-auto-approval off")?;
    let at = seen(stored, "bootstrap: the certificate's renewal point")?;
    let sent = seen(at, "bootstrap: CSR csr-")?;
    let line = board.log.since(sent).first().map(|l| l.text.clone());
    let name = line
        .as_deref()
        .and_then(|l| l.split("bootstrap: CSR ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .ok_or("no CSR name in the board's log")?
        .to_owned();
    let denied = h.ask_server(&format!("csr-deny {name}"))?;
    h.ask_server("csr-auto-approval on")?;
    if !denied.starts_with("ok") {
        return Err(format!("the test server answered {denied:?}"));
    }
    let refused = seen(sent, "bootstrap: renewing with the certificate was refused")?;
    let again = seen(refused, "bootstrap: certificate stored in identity slot")?;
    seen(again, "bootstrap: the agent with the certificate")?;
    h.api
        .for_node(&node)
        .wait_node(BOUND, |n| n.ready == "True")?;
    let after = newest_sequence(&flash)?;
    let total = csrs(h)?;
    drop(board);
    if total != before + 4 || after <= sequence {
        return Err(format!(
            "after the denial: {} CSR(s) in all (want 4), slot sequence {sequence} -> {after}",
            total - before
        ));
    }
    Ok(format!(
        "{node}: renewed (sequence {first_sequence} -> {sequence}), then {name} denied → the \
         token → sequence {after}, Ready"
    ))
}

/// The highest sequence number of the identity slots in `flash`.
fn newest_sequence(flash: &Path) -> Result<u32, String> {
    let bytes = std::fs::read(flash).map_err(|e| e.to_string())?;
    (0..2)
        .filter_map(|slot: usize| {
            let head = bytes.get(PKIDENT + slot * 4096..PKIDENT + slot * 4096 + 12)?;
            (head.get(..4)? == b"PKID")
                .then(|| u32::from_le_bytes([head[8], head[9], head[10], head[11]]))
        })
        .max()
        .ok_or_else(|| "pkident holds no identity".to_owned())
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// The name the firmware derives for a board without one in its record (profile esp32c6).
fn node_name(mac: [u8; 6]) -> String {
    derive_node_name(Chip::Esp32c6.name(), mac)
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default()
}

/// Boots a board on `flash` until it registered its Node and the Node is Ready; stops it;
/// returns its log.
fn boot(
    h: &Harness,
    args: &Args,
    flash: &Path,
    mac: [u8; 6],
    name: &str,
    node: &str,
) -> Result<String, String> {
    let mut command = h.board_command(args);
    let mac_text: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    command
        .arg("--flash")
        .arg(flash)
        .args(["--mac", &mac_text.join(":")]);
    let log_file = args.work.join(format!("board-{name}.log"));
    let board = Board::start(command, &log_file)?;
    board
        .log
        .wait_text(0, BOUND, "pk-stage register ok")
        .ok_or_else(|| format!("no 'pk-stage register ok' in {}", log_file.display()))?;
    h.api
        .for_node(node)
        .wait_node(BOUND, |n| n.ready == "True")?;
    let text = board
        .log
        .since(0)
        .into_iter()
        .map(|l| l.text)
        .collect::<Vec<_>>()
        .join("\n");
    drop(board);
    Ok(text)
}

/// `picokubelet provision --bootstrap-token-file` with `extra`, for an esp32c6 on the open
/// "Wi-Fi"; no node name (the board derives it).
fn provision(args: &Args, token: &Path, extra: &[&str], out: &Path) -> Result<(), String> {
    let output = std::process::Command::new(&args.picokubelet)
        .arg("provision")
        .arg("--bootstrap-token-file")
        .arg(token)
        .args(extra)
        .args([
            "--profile",
            "esp32c6",
            "--wifi-ssid",
            "tapwifi",
            "--wifi-open",
            "--force",
        ])
        .arg("--out")
        .arg(out)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args.picokubelet.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "picokubelet provision: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A whole flash image file: the firmware's partition table and `record` in `pkconfig`.
fn flash_image(record: &Path, out: &Path) -> Result<(), String> {
    let bytes = std::fs::read(record).map_err(|e| format!("{}: {e}", record.display()))?;
    let image = FlashImage::provisioned(FIRMWARE_PARTITIONS_CSV, Some(&bytes))
        .map_err(|e| e.to_string())?;
    std::fs::write(out, image.as_bytes()).map_err(|e| format!("{}: {e}", out.display()))
}

/// Flips a certificate byte in the slot with the highest sequence number; which slot.
fn corrupt_newest_slot(flash: &Path) -> Result<u8, String> {
    let mut bytes = std::fs::read(flash).map_err(|e| e.to_string())?;
    let sequence = |slot: usize| -> Option<u32> {
        let head = bytes.get(PKIDENT + slot * 4096..PKIDENT + slot * 4096 + 12)?;
        (head.get(..4)? == b"PKID")
            .then(|| u32::from_le_bytes([head[8], head[9], head[10], head[11]]))
    };
    let slot = match (sequence(0), sequence(1)) {
        (Some(a), Some(b)) if b > a => 1,
        (Some(_), _) => 0,
        (None, Some(_)) => 1,
        (None, None) => return Err("pkident holds no identity to corrupt".into()),
    };
    let at = PKIDENT + slot * 4096 + 100;
    let byte = bytes.get_mut(at).ok_or("the image is too short")?;
    *byte ^= 0x5a;
    std::fs::write(flash, bytes).map_err(|e| e.to_string())?;
    Ok(slot as u8)
}

/// The server's CA's public-key hash, from the kubeconfig's `certificate-authority-data`.
fn ca_hash(kubeconfig: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(kubeconfig).map_err(|e| e.to_string())?;
    let data = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data:"))
        .map(str::trim)
        .ok_or("the kubeconfig has no certificate-authority-data")?;
    let mut der = [0u8; 4096];
    let der = base64_pem_to_der(data.as_bytes(), &mut der).map_err(|e| format!("{e:?}"))?;
    let pin = CaPin::of_certificate(der).map_err(|e| format!("{e:?}"))?;
    Ok(pin.to_string())
}

fn csrs(h: &Harness) -> Result<usize, String> {
    let answer = h.ask_server("csrs all")?;
    answer
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("the server answered {answer:?}"))
}

fn users(h: &Harness) -> Result<String, String> {
    h.ask_server("users picokubelet/")
}

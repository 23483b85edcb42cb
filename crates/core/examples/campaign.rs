//! The fault campaign (issue 13 item 1): `cargo run --release -p picokubelet-core --example
//! campaign -- --faults 1000 --seed 1 [--kinds outage-70s,etcd-stall | --real-server] [--progress]`.
//!
//! Drives the agent over real TLS against the Kubernetes API test server with a seeded random
//! schedule of faults in simulated time (see `tests/campaign/mod.rs`), prints the table per fault
//! kind and every violated invariant with the seed and fault index that replay it, and the
//! process's resident memory before and after. Exits 1 on a violation or an unrecovered fault.
#[path = "../tests/agent_support/mod.rs"]
mod agent_support;
#[path = "../tests/campaign/mod.rs"]
mod campaign;

use std::process::ExitCode;
use std::time::Instant;

use campaign::{rss_kib, FaultKind, Options};

fn usage() -> ExitCode {
    eprintln!(
        "usage: campaign [--faults N] [--seed S] [--kinds k1,k2 | --real-server] [--progress]"
    );
    eprintln!("kinds: {}", FaultKind::ALL.map(FaultKind::name).join(", "));
    eprintln!(
        "real-server kinds (recorded-2 group G; --real-server draws from these): {}",
        FaultKind::REAL_SERVER.map(FaultKind::name).join(", ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut opts = Options::new(1000, 1);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--progress" => {
                opts.progress = true;
                continue;
            }
            "--real-server" => {
                opts.kinds = FaultKind::REAL_SERVER.to_vec();
                continue;
            }
            "--faults" | "--seed" | "--kinds" => match args.next() {
                Some(v) => v,
                None => return usage(),
            },
            _ => return usage(),
        };
        match arg.as_str() {
            "--faults" => match value.parse() {
                Ok(n) => opts.faults = n,
                Err(_) => return usage(),
            },
            "--seed" => match value.parse() {
                Ok(s) => opts.seed = s,
                Err(_) => return usage(),
            },
            _ => {
                let kinds: Option<Vec<FaultKind>> =
                    value.split(',').map(FaultKind::parse).collect();
                match kinds {
                    Some(k) if !k.is_empty() => opts.kinds = k,
                    _ => return usage(),
                }
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("campaign: cannot build the tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let rss_before = rss_kib();
    let wall = Instant::now();
    let report = rt.block_on(tokio::task::LocalSet::new().run_until(campaign::run(&opts)));
    let rss_after = rss_kib();
    println!(
        "campaign: seed {}, {} faults, {:.0} s simulated in {:.1} s wall; {} requests, {} handshakes, {} events dropped",
        report.seed,
        report.results.len(),
        report.simulated.as_secs_f64(),
        wall.elapsed().as_secs_f64(),
        report.requests,
        report.handshakes,
        report.events_dropped,
    );
    println!("events dropped by reason: {:?}", report.dropped_reasons);
    println!("condition status changes seen: {:?}", report.transitions);
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        println!("resident memory: {a} KiB before, {b} KiB after");
    }
    let sampled: Vec<String> = report
        .rss_kib
        .iter()
        .map(|(n, kib)| format!("{n}: {kib}"))
        .collect();
    println!("resident memory (KiB) after fault: {}", sampled.join(", "));
    print!("{}", report.table());
    for v in &report.violations {
        println!("VIOLATION {v}");
    }
    if report.violations.is_empty() && report.all_recovered() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

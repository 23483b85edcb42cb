//! Prints the exact body each builder writes for the README's sample ESP32-S3 board
//! (`picokubelet_core::k8s::render::sample`), and its size.
//!
//! ```text
//! cargo run -p picokubelet-core --example render -- node|labels|status|status-full|lease|renew|event
//! ```
//! The body goes to stdout, `<kind>: <bytes> bytes` to stderr.
use std::io::Write;
use std::process::ExitCode;

use picokubelet_core::k8s::render::{fresh_conditions, render, sample, BodyKind};

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let Some(kind) = BodyKind::from_name(&arg) else {
        eprintln!("usage: render node|labels|status|status-full|lease|renew|event");
        return ExitCode::from(2);
    };
    let conds = fresh_conditions(&sample::SIGNALS, sample::NOW);
    let input = sample::input(&conds).expect("the sample name is valid");
    let mut buf = vec![0u8; kind.max_len()];
    match render(kind, &input, &mut buf) {
        Ok(n) => {
            let mut out = std::io::stdout();
            let _ = out.write_all(&buf[..n]).and_then(|()| out.write_all(b"\n"));
            eprintln!("{arg}: {n} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{arg}: {e}");
            ExitCode::FAILURE
        }
    }
}

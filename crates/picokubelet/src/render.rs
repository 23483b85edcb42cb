//! `picokubelet render`: the exact bytes the agent would send, built by the core's
//! [`render`](picokubelet_core::k8s::render::render) (as the core's example and the README's size
//! test do) with the real condition rules, in a buffer of the size the core states.

use clap::builder::PossibleValue;
use clap::ValueEnum;
use picokubelet_core::k8s::body_error::BodyError;
use picokubelet_core::k8s::render::{render, BodyInput, BodyKind};

/// The body argument: one of the core's [`BodyKind`]s, spelled as [`BodyKind::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyArg(pub BodyKind);

impl ValueEnum for BodyArg {
    fn value_variants<'a>() -> &'a [Self] {
        const ALL: [BodyArg; 7] = [
            BodyArg(BodyKind::ALL[0]),
            BodyArg(BodyKind::ALL[1]),
            BodyArg(BodyKind::ALL[2]),
            BodyArg(BodyKind::ALL[3]),
            BodyArg(BodyKind::ALL[4]),
            BodyArg(BodyKind::ALL[5]),
            BodyArg(BodyKind::ALL[6]),
        ];
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.description()))
    }
}

/// The kubelet's message for a NodeReady event.
pub fn node_ready_message(node: &str) -> String {
    format!("Node {node} status is now: NodeReady")
}

/// Builds the body in a buffer of [`BodyKind::max_len`] bytes and returns exactly the bytes
/// written.
pub fn render_body(kind: BodyKind, input: &BodyInput<'_>) -> Result<Vec<u8>, BodyError> {
    let mut buf = vec![0u8; kind.max_len()];
    let n = render(kind, input, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::BodyArg;
    use clap::ValueEnum;
    use picokubelet_core::k8s::render::BodyKind;

    #[test]
    fn every_core_kind_is_a_value() {
        let values: Vec<BodyKind> = BodyArg::value_variants().iter().map(|b| b.0).collect();
        assert_eq!(values, BodyKind::ALL);
    }
}

//! Node taints: the one a board sets at registration, and the effects read back from the server.

/// `spec.taints[].effect` (core/v1 `TaintEffect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    /// Every effect.
    pub const ALL: [TaintEffect; 3] = [
        TaintEffect::NoSchedule,
        TaintEffect::PreferNoSchedule,
        TaintEffect::NoExecute,
    ];

    /// The API's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }

    /// The effect spelled `s`, if it is one the API defines.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// A taint set at registration (the only time a node may set one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taint<'a> {
    /// A label key (qualified name).
    pub key: &'a str,
    /// A label value.
    pub value: &'a str,
    pub effect: TaintEffect,
}

/// Keeps ordinary workloads away from a board that runs none.
pub const MICROCONTROLLER_TAINT: Taint<'static> = Taint {
    key: "picokubelet.dev/microcontroller",
    value: "true",
    effect: TaintEffect::NoSchedule,
};

#[cfg(test)]
mod tests {
    use super::TaintEffect;

    #[test]
    fn effects_parse_as_spelled() {
        for e in TaintEffect::ALL {
            assert_eq!(TaintEffect::parse(e.as_str()), Some(e));
        }
        assert_eq!(TaintEffect::parse("noschedule"), None);
        assert_eq!(TaintEffect::parse(""), None);
    }
}

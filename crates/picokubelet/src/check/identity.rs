//! The node name and the credentials' identity must agree: the Node authorizer and
//! NodeRestriction let `system:node:<name>` write only the Node and Lease `<name>`. `run` and
//! `check` decide the name by the same rule.

use super::ask::Identity;

/// The name to run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeNameChoice {
    /// Taken from a `system:node:<name>` identity (no `--node-name` given).
    FromIdentity(String),
    /// `--node-name`, equal to the node identity's name.
    Matches(String),
    /// The credentials are not a node identity: any name RBAC allows.
    NotANode(String),
}

impl NodeNameChoice {
    pub fn name(&self) -> &str {
        match self {
            NodeNameChoice::FromIdentity(n)
            | NodeNameChoice::Matches(n)
            | NodeNameChoice::NotANode(n) => n,
        }
    }
}

/// `--node-name` names another node than the credentials' identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameMismatch {
    pub given: String,
    pub identity: String,
}

impl NameMismatch {
    /// Why it cannot work, as a sentence.
    pub fn why(&self) -> String {
        format!(
            "node name {:?} does not match the credentials' identity system:node:{}: the Node \
             authorizer and NodeRestriction let it write only Node {:?} and its Lease, so every \
             write as {:?} would get 403 Forbidden",
            self.given, self.identity, self.identity, self.given
        )
    }

    /// What to do.
    pub fn fix(&self) -> String {
        format!(
            "use --node-name {} or leave --node-name out (the name is then taken from the \
             identity); to run as {:?}, use credentials for system:node:{}",
            self.identity, self.given, self.given
        )
    }
}

/// The rule: a node identity fixes the name; otherwise `given`, else `default`.
pub fn choose_node_name(
    identity: &Identity,
    given: Option<&str>,
    default: impl FnOnce() -> String,
) -> Result<NodeNameChoice, NameMismatch> {
    match (identity.node_name(), given) {
        (Some(own), None) => Ok(NodeNameChoice::FromIdentity(own.to_owned())),
        (Some(own), Some(given)) if own == given => Ok(NodeNameChoice::Matches(own.to_owned())),
        (Some(own), Some(given)) => Err(NameMismatch {
            given: given.to_owned(),
            identity: own.to_owned(),
        }),
        (None, given) => Ok(NodeNameChoice::NotANode(
            given.map_or_else(default, str::to_owned),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Identity {
        Identity {
            username: format!("system:node:{name}"),
            groups: vec!["system:nodes".into(), "system:authenticated".into()],
        }
    }

    #[test]
    fn a_node_identity_decides_the_name() {
        let dflt = || "vb-host".to_owned();
        assert_eq!(
            choose_node_name(&node("esp-1"), None, dflt),
            Ok(NodeNameChoice::FromIdentity("esp-1".into()))
        );
        assert_eq!(
            choose_node_name(&node("esp-1"), Some("esp-1"), dflt),
            Ok(NodeNameChoice::Matches("esp-1".into()))
        );
        let e = choose_node_name(&node("esp-1"), Some("vb-demo"), dflt).unwrap_err();
        assert!(e.fix().starts_with("use --node-name esp-1 "));
        let user = Identity {
            username: "picokubelet-fleet".into(),
            groups: vec!["system:authenticated".into()],
        };
        assert_eq!(
            choose_node_name(&user, None, dflt),
            Ok(NodeNameChoice::NotANode("vb-host".into()))
        );
        // A name alone does not make a node: the group must be there too.
        let impostor = Identity {
            username: "system:node:esp-1".into(),
            groups: vec![],
        };
        assert_eq!(
            choose_node_name(&impostor, Some("x"), dflt),
            Ok(NodeNameChoice::NotANode("x".into()))
        );
    }
}

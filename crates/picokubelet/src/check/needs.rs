//! Every permission the agent needs (the requests `deploy/rbac.yaml` lists), which of that
//! file's three bindings grants it, and the RBAC to apply when one is missing.

use super::ask::{Attributes, Identity};

/// One of `deploy/rbac.yaml`'s bindings: a User or ServiceAccount needs all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// ClusterRole `picokubelet:node`: nodes create/get/patch, nodes/status patch.
    Node,
    /// Role `picokubelet:lease` in kube-node-lease: leases create/get/update/patch.
    Lease,
    /// Role `picokubelet:events` in default: events create.
    Events,
}

/// A permission and what the agent does with it.
#[derive(Clone, Copy, Debug)]
pub struct Need<'a> {
    pub attrs: Attributes<'a>,
    pub grant: Grant,
    /// Why the agent needs it (for the report).
    pub purpose: &'static str,
}

const LEASE_GROUP: &str = "coordination.k8s.io";
const LEASE_NS: &str = "kube-node-lease";

/// The agent's requests for the node `name`.
pub fn needs(name: &str) -> Vec<Need<'_>> {
    let node = |verb, subresource, name, purpose| Need {
        attrs: Attributes {
            verb,
            group: "",
            resource: "nodes",
            subresource,
            namespace: "",
            name,
        },
        grant: Grant::Node,
        purpose,
    };
    let lease = |verb, name, purpose| Need {
        attrs: Attributes {
            verb,
            group: LEASE_GROUP,
            resource: "leases",
            subresource: "",
            namespace: LEASE_NS,
            name,
        },
        grant: Grant::Lease,
        purpose,
    };
    vec![
        node("create", "", "", "register the Node"),
        node("get", "", name, "read the Node after a restart (409)"),
        node("patch", "", name, "patch its labels"),
        node("patch", "status", name, "report conditions and heap"),
        lease("create", "", "create the Lease"),
        lease("get", name, "read the Lease"),
        lease("update", name, "replace the Lease after a conflict"),
        lease("patch", name, "renew the Lease every 10 s"),
        Need {
            attrs: Attributes {
                verb: "create",
                group: "",
                resource: "events",
                subresource: "",
                namespace: "default",
                name: "",
            },
            grant: Grant::Events,
            purpose: "post Node events",
        },
    ]
}

/// `create nodes`, `patch nodes/status esp-1`, `get leases esp-1 in kube-node-lease`.
pub fn describe(a: &Attributes<'_>) -> String {
    let mut s = format!("{} {}", a.verb, a.resource);
    if !a.subresource.is_empty() {
        s = format!("{s}/{}", a.subresource);
    }
    if !a.name.is_empty() {
        s = format!("{s} {}", a.name);
    }
    if !a.namespace.is_empty() {
        s = format!("{s} in {}", a.namespace);
    }
    s
}

/// The RBAC that grants `grant` to `who`.
pub fn fix(grant: Grant, who: &Identity) -> String {
    if who.node_name().is_some() {
        return "a node identity gets this from the Node authorizer: the API server must run with \
                --authorization-mode including Node (kubeadm and k3s do)"
            .to_owned();
    }
    let subject = match who
        .username
        .strip_prefix("system:serviceaccount:")
        .and_then(|sa| sa.split_once(':'))
    {
        Some((ns, name)) => format!("--serviceaccount={ns}:{name}"),
        None => format!("--user={}", who.username),
    };
    let binding = match grant {
        Grant::Node => format!(
            "kubectl create clusterrolebinding picokubelet:node:{} --clusterrole=picokubelet:node {subject}",
            binding_suffix(who)
        ),
        Grant::Lease => format!(
            "kubectl -n kube-node-lease create rolebinding picokubelet:lease:{} --role=picokubelet:lease {subject}",
            binding_suffix(who)
        ),
        Grant::Events => format!(
            "kubectl -n default create rolebinding picokubelet:events:{} --role=picokubelet:events {subject}",
            binding_suffix(who)
        ),
    };
    format!(
        "a User or ServiceAccount needs all three bindings of deploy/rbac.yaml; apply the roles \
         (kubectl apply -f deploy/rbac.yaml) and bind this one:\n{binding}"
    )
}

/// A binding name part from the user name (RBAC names allow `:`; `/` and spaces are not).
fn binding_suffix(who: &Identity) -> String {
    who.username
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-.:".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_of_deploy_rbac_is_asked() {
        let needs = needs("vb-1");
        let asked: Vec<String> = needs.iter().map(|n| describe(&n.attrs)).collect();
        assert_eq!(
            asked,
            [
                "create nodes",
                "get nodes vb-1",
                "patch nodes vb-1",
                "patch nodes/status vb-1",
                "create leases in kube-node-lease",
                "get leases vb-1 in kube-node-lease",
                "update leases vb-1 in kube-node-lease",
                "patch leases vb-1 in kube-node-lease",
                "create events in default",
            ]
        );
        // deploy/rbac.yaml grants each verb it lists, in the role the check names.
        let rbac = include_str!("../../../../deploy/rbac.yaml");
        for (role, verbs) in [
            ("picokubelet:node", r#"verbs: ["create", "get", "patch"]"#),
            (
                "picokubelet:lease",
                r#"verbs: ["create", "get", "update", "patch"]"#,
            ),
            ("picokubelet:events", r#"verbs: ["create"]"#),
        ] {
            assert!(rbac.contains(&format!("name: {role}")), "{role}");
            assert!(rbac.contains(verbs), "{verbs}");
        }
    }

    #[test]
    fn the_fix_names_the_subject() {
        let user = Identity {
            username: "picokubelet-fleet".into(),
            groups: vec!["system:authenticated".into()],
        };
        assert!(fix(Grant::Lease, &user).ends_with(
            "kubectl -n kube-node-lease create rolebinding picokubelet:lease:picokubelet-fleet --role=picokubelet:lease --user=picokubelet-fleet"
        ));
        let sa = Identity {
            username: "system:serviceaccount:picokubelet:picokubelet".into(),
            groups: vec![],
        };
        assert!(fix(Grant::Node, &sa).contains("--serviceaccount=picokubelet:picokubelet"));
    }
}

//! Authentication (bearer tokens, client certificates, anonymous) and authorization as the Node
//! authorizer + RBAC bootstrap roles decide it for the requests a node agent makes.

use std::collections::{HashMap, HashSet};

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `system:node:esp-node-01`, `system:admin`, …
    pub name: String,
    /// `system:nodes`, `system:masters`, …
    pub groups: Vec<String>,
}

impl User {
    /// A node identity: `system:node:<name>` in group `system:nodes`.
    pub fn node(name: &str) -> Self {
        User {
            name: format!("system:node:{name}"),
            groups: vec!["system:nodes".into(), "system:authenticated".into()],
        }
    }

    /// A cluster admin (`system:masters`).
    pub fn admin() -> Self {
        User {
            name: "system:admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    /// The unauthenticated user.
    pub fn anonymous() -> Self {
        User {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    /// The node name when this is a node identity.
    pub fn node_name(&self) -> Option<&str> {
        if self.groups.iter().any(|g| g == "system:nodes") {
            self.name.strip_prefix("system:node:")
        } else {
            None
        }
    }

    /// Member of `system:masters`.
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }

    /// Not anonymous.
    pub fn is_authenticated(&self) -> bool {
        self.groups.iter().any(|g| g == "system:authenticated")
    }
}

/// Bearer tokens and their users.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    users: HashMap<String, User>,
    revoked: HashSet<String>,
}

impl Tokens {
    /// Registers (or re-enables) a token.
    pub fn add(&mut self, token: &str, user: User) {
        self.revoked.remove(token);
        self.users.insert(token.to_string(), user);
    }

    /// Revokes a token: it answers 401 from now on.
    pub fn revoke(&mut self, token: &str) {
        self.revoked.insert(token.to_string());
    }

    /// The user of a valid token.
    pub fn lookup(&self, token: &str) -> Option<&User> {
        if self.revoked.contains(token) {
            return None;
        }
        self.users.get(token)
    }

    /// The user a token was issued to, revoked or not.
    pub fn user_of(&self, token: &str) -> Option<User> {
        self.users.get(token).cloned()
    }

    /// A token already issued to `user`, if any.
    pub fn token_of(&self, user: &User) -> Option<String> {
        self.users
            .iter()
            .find(|(t, u)| *u == user && !self.revoked.contains(*t))
            .map(|(t, _)| t.clone())
    }
}

/// The request attributes the authorizer sees.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'a str,
    /// API group.
    pub group: &'a str,
    /// Plural resource; empty for non-resource requests.
    pub resource: &'a str,
    /// e.g. `status`.
    pub subresource: &'a str,
    /// Namespace or empty.
    pub namespace: &'a str,
    /// Object name or empty.
    pub name: &'a str,
    /// URL path (for non-resource requests).
    pub path: &'a str,
}

/// The authorizer chain's decision: allowed (with the reason RBAC gives, empty for the Node
/// authorizer), or denied with the reasons of the authorizers that had an opinion (possibly empty).
pub type Decision = Result<String, String>;

/// The apiserver's authorizer chain (`--authorization-mode=Node,RBAC`): the Node authorizer for
/// `system:nodes`, then RBAC with the default bindings (cluster-admin for `system:masters`,
/// system:basic-user and the discovery roles for everyone authenticated) plus the bindings of
/// `deploy/rbac.yaml` a test grants. The same function answers requests and
/// SelfSubjectAccessReviews, so a review and the real request cannot disagree.
pub fn authorize(rbac: &Rbac, user: &User, a: &Attributes<'_>) -> Decision {
    if user.is_admin() {
        // guess: not recorded (no access review as admin); RBAC's wording for the default binding.
        return Ok(
            "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"".into(),
        );
    }
    if a.resource.is_empty() {
        // system:public-info-viewer (everyone) and system:discovery (authenticated).
        let public = ["/version", "/healthz", "/livez", "/readyz"];
        if public
            .iter()
            .any(|p| a.path == *p || a.path == format!("{p}/"))
        {
            return Ok(String::new());
        }
        let discovery = a.path == "/api" || a.path.starts_with("/api/") || a.path == "/apis";
        if user.is_authenticated() && (discovery || a.path.starts_with("/apis/")) {
            return Ok(String::new());
        }
        return Err(String::new());
    }
    let self_review = matches!(
        (a.group, a.resource, a.verb),
        ("authentication.k8s.io", "selfsubjectreviews", "create")
            | ("authorization.k8s.io", "selfsubjectaccessreviews", "create")
    );
    if self_review && user.is_authenticated() {
        // system:basic-user, bound to system:authenticated (C01-C04, C10-C42; C05 for anonymous).
        return Ok(String::new());
    }
    let node_opinion = match user.node_name() {
        Some(node) => match node_authorizer(node, a) {
            Ok(()) => return Ok(String::new()),
            Err(why) => why,
        },
        None => String::new(),
    };
    match rbac.allowed_by(user, a) {
        Some(reason) => Ok(reason),
        None => Err(node_opinion),
    }
}

/// The Node authorizer (and the node rules it carries) for `system:node:<node>`: `Err` is "no
/// opinion" with its reason (possibly empty).
fn node_authorizer(node: &str, a: &Attributes<'_>) -> Result<(), String> {
    match (a.group, a.resource) {
        ("", "nodes") => match a.verb {
            "get" if a.name == node => Ok(()),
            "get" => Err(format!(
                "node '{node}' cannot read '{}', only its own Node object",
                a.name
            )),
            "list" | "watch" => Err(format!(
                "node '{node}' cannot read all nodes, only its own Node object"
            )),
            // The authorizer allows writing another Node (C15); NodeRestriction refuses the
            // write itself (C52).
            "create" | "update" | "patch" => Ok(()),
            _ => Err(String::new()),
        },
        ("coordination.k8s.io", "leases") => {
            if !matches!(a.verb, "get" | "create" | "update" | "patch" | "delete") {
                return Err("can only get, create, update, patch, or delete a node lease".into());
            }
            if a.namespace != "kube-node-lease" {
                return Err(
                    "can only access leases in the \"kube-node-lease\" system namespace".into(),
                );
            }
            // A create has no name yet (it is in the body): admission checks it.
            if a.verb != "create" && a.name != node {
                return Err(
                    "can only access node lease with the same name as the requesting node".into(),
                );
            }
            Ok(())
        }
        ("" | "events.k8s.io", "events") => match a.verb {
            "create" | "update" | "patch" => Ok(()),
            _ => Err(String::new()),
        },
        // The node rules: create/get/list/watch CSRs, for client certificate rotation (A16).
        ("certificates.k8s.io", "certificatesigningrequests")
            if a.subresource.is_empty()
                && matches!(a.verb, "create" | "get" | "list" | "watch") =>
        {
            Ok(())
        }
        _ => Err(String::new()),
    }
}

/// One of the three bindings `deploy/rbac.yaml` makes (a User needs all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// ClusterRoleBinding `picokubelet:node`: nodes create/get/patch, nodes/status patch.
    Node,
    /// RoleBinding `picokubelet:lease` in kube-node-lease: leases create/get/update/patch.
    Lease,
    /// RoleBinding `picokubelet:events` in default: events create.
    Events,
}

/// A rule of a role: API group, resources (`nodes/status` for a subresource), verbs.
type Rule = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

impl Binding {
    /// Every binding `deploy/rbac.yaml` makes.
    pub const ALL: [Binding; 3] = [Binding::Node, Binding::Lease, Binding::Events];

    /// Name (of binding and role), namespace (empty: a ClusterRoleBinding) and rules, as in
    /// `deploy/rbac.yaml`.
    fn role(self) -> (&'static str, &'static str, &'static [Rule]) {
        match self {
            Binding::Node => (
                "picokubelet:node",
                "",
                &[
                    ("", &["nodes"], &["create", "get", "patch"]),
                    ("", &["nodes/status"], &["patch"]),
                ],
            ),
            Binding::Lease => (
                "picokubelet:lease",
                "kube-node-lease",
                &[(
                    "coordination.k8s.io",
                    &["leases"],
                    &["create", "get", "update", "patch"],
                )],
            ),
            Binding::Events => (
                "picokubelet:events",
                "default",
                &[("", &["events"], &["create"])],
            ),
        }
    }
}

/// RBAC bindings granted to users besides the defaults.
#[derive(Debug, Default, Clone)]
pub struct Rbac {
    bindings: Vec<(String, Binding)>,
    /// The bindings for kubelet TLS bootstrap and discovery (kubeadm's by default).
    pub bootstrap: BootstrapRbac,
}

impl Rbac {
    /// Binds `binding`'s role to the User `user`.
    pub fn bind(&mut self, user: &str, binding: Binding) {
        if !self
            .bindings
            .iter()
            .any(|(u, b)| u == user && *b == binding)
        {
            self.bindings.push((user.to_string(), binding));
        }
    }

    /// RBAC's reason when a binding of `user` allows the request.
    fn allowed_by(&self, user: &User, a: &Attributes<'_>) -> Option<String> {
        let resource = if a.subresource.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        if let Some(reason) = self.bootstrap.allowed_by(user, a) {
            return Some(reason);
        }
        self.bindings
            .iter()
            .filter(|(u, _)| *u == user.name)
            .find_map(|(_, binding)| {
                let (name, namespace, rules) = binding.role();
                let in_scope = namespace.is_empty() || namespace == a.namespace;
                let allows = rules.iter().any(|(group, resources, verbs)| {
                    *group == a.group
                        && resources.contains(&resource.as_str())
                        && verbs.contains(&a.verb)
                });
                (in_scope && allows).then(|| {
                    // guess: not recorded (no review by a bound user); RBAC's wording.
                    if namespace.is_empty() {
                        format!(
                            "RBAC: allowed by ClusterRoleBinding {name:?} of ClusterRole {name:?} to User {:?}",
                            user.name
                        )
                    } else {
                        format!(
                            "RBAC: allowed by RoleBinding \"{name}/{namespace}\" of Role {name:?} to User {:?}",
                            user.name
                        )
                    }
                })
            })
    }
}

/// kubeadm's default extra group for bootstrap tokens (`auth-extra-groups` of `kubeadm token
/// create`), the subject of its bootstrap bindings.
pub const KUBEADM_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// The ClusterRoleBindings (and one RoleBinding) kubeadm makes for kubelet TLS bootstrap and
/// discovery, to the ClusterRoles every kube-apiserver creates (`system:node-bootstrapper`,
/// `system:certificates.k8s.io:certificatesigningrequests:nodeclient` and `…:selfnodeclient`).
/// A cluster without them (k3s) answers the bootstrap token's CSR create with 403 and leaves
/// CSRs pending; `deploy/bootstrap-rbac.yaml` adds them ([`BootstrapRbac::deploy_manifest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapRbac {
    /// Groups bound to `system:node-bootstrapper` (CSR create/get/list/watch), binding
    /// `kubeadm:kubelet-bootstrap`.
    pub node_bootstrapper: Vec<String>,
    /// Groups bound to `…:nodeclient` (auto-approval of a bootstrap CSR), binding
    /// `kubeadm:node-autoapprove-bootstrap`.
    pub nodeclient: Vec<String>,
    /// Groups bound to `…:selfnodeclient` (auto-approval of a node's renewal), binding
    /// `kubeadm:node-autoapprove-certificate-rotation`.
    pub selfnodeclient: Vec<String>,
    /// RoleBinding `kubeadm:bootstrap-signer-clusterinfo` in kube-public: `system:anonymous` may
    /// get the ConfigMap `cluster-info` (B01; nothing else, B02/B03).
    pub cluster_info_anonymous: bool,
}

impl Default for BootstrapRbac {
    fn default() -> Self {
        Self::kubeadm()
    }
}

/// A ClusterRole's name and the CSR (sub)resource and verbs it allows.
const NODE_BOOTSTRAPPER: (&str, &str, &[&str]) = (
    "system:node-bootstrapper",
    "certificatesigningrequests",
    &["create", "get", "list", "watch"],
);
const NODECLIENT: (&str, &str, &[&str]) = (
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
    "certificatesigningrequests/nodeclient",
    &["create"],
);
const SELFNODECLIENT: (&str, &str, &[&str]) = (
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    "certificatesigningrequests/selfnodeclient",
    &["create"],
);

impl BootstrapRbac {
    /// kubeadm's: bootstrapper and nodeclient for its token group, selfnodeclient for
    /// `system:nodes`, cluster-info for anonymous.
    pub fn kubeadm() -> Self {
        Self::for_token_group(KUBEADM_TOKEN_GROUP)
    }

    /// kubeadm's bindings with the token group `group` (the recordings' cluster used
    /// `system:bootstrappers:realk8s:default-node-token`).
    pub fn for_token_group(group: &str) -> Self {
        BootstrapRbac {
            node_bootstrapper: vec![group.to_string()],
            nodeclient: vec![group.to_string()],
            selfnodeclient: vec!["system:nodes".to_string()],
            cluster_info_anonymous: true,
        }
    }

    /// What `deploy/bootstrap-rbac.yaml` binds: every bootstrap token (`system:bootstrappers`)
    /// may send and get its CSR auto-approved, nodes may renew; no cluster-info binding.
    pub fn deploy_manifest() -> Self {
        BootstrapRbac {
            cluster_info_anonymous: false,
            ..Self::for_token_group("system:bootstrappers")
        }
    }

    /// No binding at all (a cluster that was not set up with kubeadm, e.g. k3s).
    pub fn none() -> Self {
        BootstrapRbac {
            node_bootstrapper: Vec::new(),
            nodeclient: Vec::new(),
            selfnodeclient: Vec::new(),
            cluster_info_anonymous: false,
        }
    }

    /// RBAC's reason when one of these bindings allows the request.
    fn allowed_by(&self, user: &User, a: &Attributes<'_>) -> Option<String> {
        if self.cluster_info_anonymous
            && user.name == "system:anonymous"
            && (a.group, a.resource, a.subresource, a.verb) == ("", "configmaps", "", "get")
            && (a.namespace, a.name) == ("kube-public", "cluster-info")
        {
            // guess: not recorded (B01 is allowed; RBAC's reason is not shown for a request).
            let name = "kubeadm:bootstrap-signer-clusterinfo";
            return Some(format!(
                "RBAC: allowed by RoleBinding \"{name}/kube-public\" of Role {name:?} to User \"system:anonymous\""
            ));
        }
        if a.group != "certificates.k8s.io" {
            return None;
        }
        let resource = if a.subresource.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let bindings = [
            (
                "kubeadm:kubelet-bootstrap",
                NODE_BOOTSTRAPPER,
                &self.node_bootstrapper,
            ),
            (
                "kubeadm:node-autoapprove-bootstrap",
                NODECLIENT,
                &self.nodeclient,
            ),
            (
                "kubeadm:node-autoapprove-certificate-rotation",
                SELFNODECLIENT,
                &self.selfnodeclient,
            ),
        ];
        bindings
            .iter()
            .filter(|(_, (_, res, verbs), _)| *res == resource && verbs.contains(&a.verb))
            .find_map(|(binding, (role, _, _), groups)| {
                let group = groups.iter().find(|g| user.groups.contains(g))?;
                // guess: not recorded; RBAC's wording for a group subject.
                Some(format!(
                    "RBAC: allowed by ClusterRoleBinding {binding:?} of ClusterRole {role:?} to Group {group:?}"
                ))
            })
    }
}

/// The text after `is forbidden: ` for an authorizer denial.
pub fn forbidden_message(user: &User, a: &Attributes<'_>, reason: &str) -> String {
    let msg = if a.resource.is_empty() {
        format!("User {:?} cannot {} path {:?}", user.name, a.verb, a.path)
    } else {
        let resource = if a.subresource.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        if a.namespace.is_empty() {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                user.name, a.verb, resource, a.group
            )
        } else {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                user.name, a.verb, resource, a.group, a.namespace
            )
        }
    };
    if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    }
}

/// Label keys a node may not set or change (NodeRestriction): `node-restriction.kubernetes.io/`
/// and any `kubernetes.io`/`k8s.io` label outside the kubelet's own set.
pub fn forbidden_node_labels(modified: &[String]) -> Vec<String> {
    const KUBELET_LABELS: [&str; 11] = [
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    ];
    let in_ns = |ns: &str, domain: &str| ns == domain || ns.ends_with(&format!(".{domain}"));
    let mut out: Vec<String> = modified
        .iter()
        .filter(|key| {
            let ns = key.split_once('/').map(|(p, _)| p).unwrap_or("");
            let restricted = in_ns(ns, "node-restriction.kubernetes.io");
            let k8s = in_ns(ns, "kubernetes.io") || in_ns(ns, "k8s.io");
            let kubelet = KUBELET_LABELS.contains(&key.as_str())
                || in_ns(ns, "kubelet.kubernetes.io")
                || in_ns(ns, "node.kubernetes.io");
            restricted || (k8s && !kubelet)
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs<'a>(verb: &'a str, resource: &'a str, name: &'a str) -> Attributes<'a> {
        Attributes {
            verb,
            group: "",
            resource,
            subresource: "",
            namespace: "",
            name,
            path: "",
        }
    }

    #[test]
    fn node_authorizer_reads_only_its_own_node() {
        let u = User::node("esp-node-01");
        let rbac = Rbac::default();
        assert!(authorize(&rbac, &u, &attrs("get", "nodes", "esp-node-01")).is_ok());
        let why = authorize(&rbac, &u, &attrs("get", "nodes", "some-other-node")).unwrap_err();
        assert_eq!(
            format!("{}", forbidden_message(&u, &attrs("get", "nodes", "some-other-node"), &why)),
            "User \"system:node:esp-node-01\" cannot get resource \"nodes\" in API group \"\" at the cluster scope: node 'esp-node-01' cannot read 'some-other-node', only its own Node object"
        );
        assert!(authorize(&rbac, &u, &attrs("delete", "nodes", "esp-node-01")).is_err());
        assert!(authorize(&rbac, &User::anonymous(), &attrs("get", "", "")).is_err());
    }

    #[test]
    fn node_restriction_label_keys() {
        let labels: Vec<String> = [
            "kubernetes.io/arch",
            "node-role.kubernetes.io/edge",
            "node.kubernetes.io/foo",
            "example.com/x",
            "node-restriction.kubernetes.io/a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            forbidden_node_labels(&labels),
            vec![
                "node-restriction.kubernetes.io/a",
                "node-role.kubernetes.io/edge"
            ]
        );
    }
}

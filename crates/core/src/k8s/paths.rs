//! Typed request targets and the method and Content-Type of each write.
//!
//! Node names are DNS-1123 subdomains ([`NodeName`]), so paths need no percent-encoding.
use core::fmt;

use crate::k8s::name::{NodeName, MAX_SUBDOMAIN_LEN};

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
const NODES: &str = "/api/v1/nodes";
const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
/// The only `dryRun` value the API server accepts (recorded-2 C55: `true` is a 422).
const DRY_RUN: &str = "?dryRun=All";

/// Longest path [`ApiPath::write_to`] writes (a lease of a 253-byte node).
pub const MAX_PATH_LEN: usize = LEASES.len() + 1 + MAX_SUBDOMAIN_LEN;

/// A request target on the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiPath<'a> {
    /// `/version`: anchors the wall clock from the `Date` header.
    Version,
    /// `/api/v1/nodes`: POST registers.
    Nodes,
    /// `/api/v1/nodes/{name}`: GET, label PATCH.
    Node(NodeName<'a>),
    /// `/api/v1/nodes/{name}/status`: the status PATCH.
    NodeStatus(NodeName<'a>),
    /// `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases`: POST creates.
    Leases,
    /// `…/leases/{name}`: GET, renewal PATCH, PUT.
    Lease(NodeName<'a>),
    /// `/api/v1/namespaces/default/events`: POST.
    Events,
    /// `/apis/authentication.k8s.io/v1/selfsubjectreviews`: POST asks who the credentials are
    /// (`picokubelet check`, and `run` at start).
    SelfSubjectReviews,
    /// `/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: POST asks whether a request
    /// would be allowed.
    SelfSubjectAccessReviews,
    /// `/api/v1/nodes?dryRun=All`: a registration the server checks (authorization, admission,
    /// validation) and does not store.
    NodesDryRun,
    /// `…/kube-node-lease/leases?dryRun=All`: the same for a Lease (the namespace must exist).
    LeasesDryRun,
    /// `/apis/certificates.k8s.io/v1/certificatesigningrequests`: POST asks for a client
    /// certificate (kubelet TLS bootstrap, see [`crate::k8s::csr`]).
    CertificateSigningRequests,
    /// `…/certificatesigningrequests/{name}`: GET polls one request. The name is a DNS
    /// subdomain, checked with the node-name rules.
    CertificateSigningRequest(NodeName<'a>),
    /// `/api/v1/namespaces/kube-public/configmaps/cluster-info`: GET, anonymously, for
    /// discovery (see [`crate::k8s::cluster_info`]).
    ClusterInfo,
    /// `/api/v1/namespaces/kube-system/secrets`: POST creates a `bootstrap-token-<id>` Secret
    /// (`picokubelet provision --mint-bootstrap-token`, on the host).
    KubeSystemSecrets,
}

/// The path did not fit the buffer; `needed` bytes would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathTooLong {
    pub needed: usize,
}

impl ApiPath<'_> {
    fn parts(&self) -> (&str, &str, &str) {
        match *self {
            ApiPath::Version => ("/version", "", ""),
            ApiPath::Nodes => (NODES, "", ""),
            ApiPath::Node(n) => (NODES, n.as_str(), ""),
            ApiPath::NodeStatus(n) => (NODES, n.as_str(), "/status"),
            ApiPath::Leases => (LEASES, "", ""),
            ApiPath::Lease(n) => (LEASES, n.as_str(), ""),
            ApiPath::Events => ("/api/v1/namespaces/default/events", "", ""),
            ApiPath::SelfSubjectReviews => {
                ("/apis/authentication.k8s.io/v1/selfsubjectreviews", "", "")
            }
            ApiPath::SelfSubjectAccessReviews => (
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                "",
                "",
            ),
            ApiPath::NodesDryRun => (NODES, "", DRY_RUN),
            ApiPath::LeasesDryRun => (LEASES, "", DRY_RUN),
            ApiPath::CertificateSigningRequests => (CSRS, "", ""),
            ApiPath::CertificateSigningRequest(n) => (CSRS, n.as_str(), ""),
            ApiPath::ClusterInfo => (
                "/api/v1/namespaces/kube-public/configmaps/cluster-info",
                "",
                "",
            ),
            ApiPath::KubeSystemSecrets => ("/api/v1/namespaces/kube-system/secrets", "", ""),
        }
    }

    /// Length of the path in bytes (at most [`MAX_PATH_LEN`]).
    pub fn len(&self) -> usize {
        let (base, name, tail) = self.parts();
        let slash = usize::from(!name.is_empty());
        base.len() + slash + name.len() + tail.len()
    }

    /// Always false: every path has at least `/version`'s length.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the path to the start of `out` and returns its length; writes nothing when it
    /// does not fit.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, PathTooLong> {
        let needed = self.len();
        let Some(dst) = out.get_mut(..needed) else {
            return Err(PathTooLong { needed });
        };
        let (base, name, tail) = self.parts();
        let slash: &str = if name.is_empty() { "" } else { "/" };
        let mut at = 0;
        for part in [base, slash, name, tail] {
            let end = at + part.len();
            if let Some(d) = dst.get_mut(at..end) {
                d.copy_from_slice(part.as_bytes());
            }
            at = end;
        }
        Ok(needed)
    }
}

impl fmt::Display for ApiPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (base, name, tail) = self.parts();
        f.write_str(base)?;
        if !name.is_empty() {
            f.write_str("/")?;
            f.write_str(name)?;
        }
        f.write_str(tail)
    }
}

pub use crate::http::request::{Accept, Method};

/// Request body media types. PATCH with `application/json` is 415 (recording 14f).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// POST and PUT of whole objects.
    Json,
    /// RFC 7386 JSON merge-patch: objects merge, lists are replaced.
    MergePatch,
    /// Kubernetes strategic merge: lists with a merge key (conditions by `type`) are merged.
    StrategicMergePatch,
}

impl ContentType {
    /// The `Content-Type` header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => "application/json",
            ContentType::MergePatch => "application/merge-patch+json",
            ContentType::StrategicMergePatch => "application/strategic-merge-patch+json",
        }
    }
}

/// Every write the agent makes: which builder's body goes where, with which method and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiWrite {
    /// `write_node_registration` → POST /api/v1/nodes.
    RegisterNode,
    /// `write_node_labels_patch` → PATCH /api/v1/nodes/{name}, merge-patch.
    PatchNodeLabels,
    /// `write_status_patch` → PATCH /api/v1/nodes/{name}/status, strategic merge.
    PatchNodeStatus,
    /// `write_lease_create` → POST …/kube-node-lease/leases.
    CreateLease,
    /// `write_lease_renewal` → PATCH …/kube-node-lease/leases/{name}, merge-patch.
    RenewLease,
    /// `write_node_event` → POST /api/v1/namespaces/default/events.
    PostEvent,
}

impl ApiWrite {
    pub const fn method(self) -> Method {
        match self {
            ApiWrite::RegisterNode | ApiWrite::CreateLease | ApiWrite::PostEvent => Method::Post,
            ApiWrite::PatchNodeLabels | ApiWrite::PatchNodeStatus | ApiWrite::RenewLease => {
                Method::Patch
            }
        }
    }

    pub const fn content_type(self) -> ContentType {
        match self {
            ApiWrite::RegisterNode | ApiWrite::CreateLease | ApiWrite::PostEvent => {
                ContentType::Json
            }
            ApiWrite::PatchNodeLabels | ApiWrite::RenewLease => ContentType::MergePatch,
            ApiWrite::PatchNodeStatus => ContentType::StrategicMergePatch,
        }
    }

    /// What the answer should be: protobuf where the agent does not read a successful answer
    /// (the renewal: 360 an hour, each 302 B smaller than in JSON, recorded-2 E11; the status
    /// push: only the Node's metadata), JSON where it does (the registration's uid, the rest
    /// are rare).
    pub const fn accept(self) -> Accept {
        match self {
            ApiWrite::RenewLease => Accept::Protobuf,
            ApiWrite::PatchNodeStatus => Accept::ProtobufMetadata,
            ApiWrite::RegisterNode
            | ApiWrite::PatchNodeLabels
            | ApiWrite::CreateLease
            | ApiWrite::PostEvent => Accept::Json,
        }
    }

    /// The target for the node `node`.
    pub const fn path(self, node: NodeName<'_>) -> ApiPath<'_> {
        match self {
            ApiWrite::RegisterNode => ApiPath::Nodes,
            ApiWrite::PatchNodeLabels => ApiPath::Node(node),
            ApiWrite::PatchNodeStatus => ApiPath::NodeStatus(node),
            ApiWrite::CreateLease => ApiPath::Leases,
            ApiWrite::RenewLease => ApiPath::Lease(node),
            ApiWrite::PostEvent => ApiPath::Events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn paths_render_and_overflow() {
        let n = NodeName::new("esp-node-01").unwrap();
        let cases = [
            (ApiPath::Version, "/version"),
            (ApiPath::Nodes, "/api/v1/nodes"),
            (ApiPath::Node(n), "/api/v1/nodes/esp-node-01"),
            (ApiPath::NodeStatus(n), "/api/v1/nodes/esp-node-01/status"),
            (
                ApiPath::Leases,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            ),
            (
                ApiPath::Lease(n),
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/esp-node-01",
            ),
            (ApiPath::Events, "/api/v1/namespaces/default/events"),
            (
                ApiPath::SelfSubjectReviews,
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            ),
            (
                ApiPath::SelfSubjectAccessReviews,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            ),
            (ApiPath::NodesDryRun, "/api/v1/nodes?dryRun=All"),
            (
                ApiPath::LeasesDryRun,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases?dryRun=All",
            ),
        ];
        for (path, text) in cases {
            assert_eq!(path.to_string(), text);
            assert_eq!(path.len(), text.len());
            let mut buf = [0u8; 128];
            let n = path.write_to(&mut buf).unwrap();
            assert_eq!(&buf[..n], text.as_bytes());
            let mut short = [0u8; 128];
            assert_eq!(
                path.write_to(&mut short[..text.len() - 1]),
                Err(PathTooLong { needed: text.len() })
            );
            assert!(short.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn longest_path_fits_max_path_len() {
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        let p = ApiPath::Lease(NodeName::new(&long).unwrap());
        assert_eq!(p.len(), MAX_PATH_LEN);
        let mut buf = [0u8; MAX_PATH_LEN];
        assert_eq!(p.write_to(&mut buf), Ok(MAX_PATH_LEN));
    }
}

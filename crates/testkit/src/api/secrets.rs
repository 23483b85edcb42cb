//! Secrets, of which the test server holds one kind: `kube-system/bootstrap-token-<id>`
//! (type `bootstrap.kubernetes.io/token`), the Secret `kubeadm token create` writes and the
//! bootstrap-token authenticator reads. A create makes the token authenticate (and sign
//! cluster-info when its Secret allows), as the real authenticator does from its informer.
//!
//! Not recorded: a Secret create (its 201 body, the 409) was never captured. The answers follow
//! the recorded create and AlreadyExists shapes of Nodes (recorded 04/05), marked `guess:`.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::auth::{authorize, forbidden_message, Attributes, User};
use crate::bootstrap::BootstrapToken;
use crate::clock::{format_time, parse_rfc3339};
use crate::json::parse;
use crate::message::{Request, Response};
use crate::state::State;
use crate::status::{self, ResourceName};

use super::respond::{flow_uids, Ctx};
use super::route;

const SECRETS: ResourceName<'static> = ResourceName {
    group: "",
    resource: "secrets",
};

/// The Secret type the bootstrap-token authenticator reads.
pub const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";

/// Answers `/api/v1/namespaces/<namespace>/secrets[/<name>]`.
pub(super) fn answer(
    state: &mut State,
    req: &Request,
    now: std::time::SystemTime,
    user: &User,
    (namespace, name): (&str, &str),
    ctx: &mut Ctx,
) -> Response {
    ctx.flow = Some(flow_uids(user, SECRETS.group, SECRETS.resource));
    let watch = matches!(req.query_param("watch").as_deref(), Some("true" | "1"));
    let Some(verb) = route::verb(&req.method, name.is_empty(), watch) else {
        return ctx.error(&status::method_not_allowed());
    };
    let attrs = Attributes {
        verb,
        group: SECRETS.group,
        resource: SECRETS.resource,
        subresource: "",
        namespace,
        name,
        path: &req.path,
    };
    if let Err(reason) = authorize(&state.rbac, user, &attrs) {
        let e = status::forbidden(SECRETS, name, &forbidden_message(user, &attrs, &reason));
        let nosniff = [("X-Content-Type-Options".to_string(), "nosniff".to_string())];
        return ctx.object(e.code, &e.body, &nosniff);
    }
    match verb {
        "create" => create(state, req, now, namespace, ctx),
        // guess: reads and other writes of Secrets are not emulated.
        _ => ctx.error(&status::method_not_allowed()),
    }
}

/// A create: 400 for a body that is no JSON object, 409 when the token's Secret exists, else
/// 201 with the stored object (`stringData` folded into `data`, as the apiserver does).
fn create(
    state: &mut State,
    req: &Request,
    now: std::time::SystemTime,
    namespace: &str,
    ctx: &Ctx,
) -> Response {
    let body = match parse(&req.body) {
        Ok(Value::Object(m)) => m,
        Ok(_) | Err(_) => {
            // guess: the decoder's wording for Nodes (recorded-compact 14c), for Secrets.
            return ctx.error(&status::bad_request(
                "the object provided is unrecognized (must be of type Secret): couldn't get version/kind; json parse error",
            ));
        }
    };
    let meta = body.get("metadata").cloned().unwrap_or(Value::Null);
    let name = meta["name"].as_str().unwrap_or("").to_string();
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    let data = match secret_data(&body) {
        Some(d) => d,
        // guess: the decoder refuses data that is not base64 with a 400.
        None => return ctx.error(&status::bad_request("illegal base64 data in Secret data")),
    };
    // guess: the test server holds bootstrap-token Secrets only; any other Secret is refused
    // rather than accepted and forgotten.
    let Some(id) = name.strip_prefix("bootstrap-token-") else {
        return ctx.error(&status::method_not_allowed());
    };
    if namespace != "kube-system" || kind != BOOTSTRAP_TOKEN_TYPE {
        return ctx.error(&status::method_not_allowed());
    }
    if state.bootstrap.get(id).is_some() {
        return ctx.error(&status::already_exists(SECRETS, &name));
    }
    // The authenticator ignores a Secret whose token-id is not its name's (it logs and skips
    // it), so such a Secret is stored by the real server but never authenticates: the test
    // server answers 201 and does not hold it (guess: a second create is then not a 409).
    if let Some(token) = token_of(id, &data) {
        state.bootstrap.add(token);
    }
    state.store.rv += 1;
    let uid = state.rng.uuid();
    let mut metadata = Map::new();
    metadata.insert("name".into(), name.clone().into());
    metadata.insert("namespace".into(), namespace.into());
    metadata.insert("uid".into(), uid.into());
    metadata.insert("resourceVersion".into(), state.store.rv.to_string().into());
    metadata.insert("creationTimestamp".into(), format_time(now).into());
    let encoded: Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                base64::engine::general_purpose::STANDARD.encode(v).into(),
            )
        })
        .collect();
    // guess: the 201 body is the stored object, as for Nodes (recorded-compact 01), without
    // managedFields (not recorded for Secrets).
    let stored = json!({
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": Value::Object(metadata),
        "data": Value::Object(encoded),
        "type": kind,
    });
    ctx.json(201, &stored, &[])
}

/// `data` (base64) with `stringData` over it; `None` when `data` holds something not base64.
fn secret_data(body: &Map<String, Value>) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(Value::Object(data)) = body.get("data") {
        for (k, v) in data {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str()?)
                .ok()?;
            out.push((k.clone(), bytes));
        }
    }
    if let Some(Value::Object(data)) = body.get("stringData") {
        for (k, v) in data {
            let bytes = v.as_str().unwrap_or("").as_bytes().to_vec();
            out.retain(|(key, _)| key != k);
            out.push((k.clone(), bytes));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Some(out)
}

/// The token a bootstrap-token Secret of `id` carries, as the authenticator reads it (A15's
/// Secret: token-id, token-secret, expiration, the two usages, auth-extra-groups).
fn token_of(id: &str, data: &[(String, Vec<u8>)]) -> Option<BootstrapToken> {
    let field = |key: &str| {
        data.iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    };
    if field("token-id")? != id {
        return None;
    }
    let mut token = BootstrapToken::parse(&format!("{id}.{}", field("token-secret")?))?;
    token.authentication = field("usage-bootstrap-authentication") == Some("true");
    token.signing = field("usage-bootstrap-signing") == Some("true");
    token.extra_groups = field("auth-extra-groups")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(at) = field("expiration") {
        // The authenticator refuses a token whose expiration does not parse.
        token.expiration = Some(parse_rfc3339(at).unwrap_or(std::time::UNIX_EPOCH));
    }
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_kubeadm_secret_becomes_a_token_with_its_usages_groups_and_expiry() {
        let t = token_of(
            "abcdef",
            &data(&[
                ("token-id", "abcdef"),
                ("token-secret", "0123456789abcdef"),
                ("usage-bootstrap-authentication", "true"),
                ("usage-bootstrap-signing", "true"),
                (
                    "auth-extra-groups",
                    "system:bootstrappers:kubeadm:default-node-token",
                ),
                ("expiration", "2026-12-02T14:30:58Z"),
            ]),
        )
        .unwrap();
        assert!(t.authentication && t.signing);
        assert_eq!(
            t.extra_groups,
            ["system:bootstrappers:kubeadm:default-node-token"]
        );
        assert_eq!(t.expiration, parse_rfc3339("2026-12-02T14:30:58Z"));
    }

    #[test]
    fn a_secret_named_for_another_id_or_without_a_usable_secret_is_no_token() {
        let ok = [("token-secret", "0123456789abcdef")];
        assert!(token_of("abcdef", &data(&[("token-id", "zzzzzz"), ok[0]])).is_none());
        assert!(token_of("abcdef", &data(&[("token-id", "abcdef")])).is_none());
        assert!(token_of(
            "abcdef",
            &data(&[("token-id", "abcdef"), ("token-secret", "SHOUTING")])
        )
        .is_none());
        // Without the usage, it is stored but does not authenticate.
        let t = token_of("abcdef", &data(&[("token-id", "abcdef"), ok[0]])).unwrap();
        assert!(!t.authentication && !t.signing);
        // An expiration that does not parse is already expired.
        let t = token_of(
            "abcdef",
            &data(&[("token-id", "abcdef"), ok[0], ("expiration", "tomorrow")]),
        )
        .unwrap();
        assert_eq!(t.expiration, Some(std::time::UNIX_EPOCH));
    }

    #[test]
    fn string_data_goes_over_data_and_bad_base64_is_refused() {
        let body = json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "z"}});
        let Value::Object(m) = body else { panic!() };
        assert_eq!(secret_data(&m).unwrap(), data(&[("a", "x"), ("b", "z")]));
        let body = json!({"data": {"a": "not base64!"}});
        let Value::Object(m) = body else { panic!() };
        assert_eq!(secret_data(&m), None);
    }
}

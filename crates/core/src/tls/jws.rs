//! The signature kube-controller-manager's bootstrap signer puts on `kube-public/cluster-info`:
//! one `jws-kubeconfig-<token id>` entry per signing bootstrap token, a compact JWS with a
//! detached payload (recorded-2 B05):
//!
//! `b64url({"alg":"HS256","kid":"<id>"}) + ".." + b64url(HMAC-SHA256(key = token secret,
//! b64url(header) + "." + b64url(kubeconfig bytes)))`
//!
//! As `kubeadm join` does, the expected JWS is rebuilt from the kubeconfig bytes and the token,
//! and compared whole (constant time): a matching signature proves the kubeconfig comes from
//! someone who knows the token's secret, i.e. the cluster. The payload is encoded straight into
//! the MAC, so no buffer grows with the kubeconfig.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::base64::{decode_url_no_pad, Alphabet, Encoder};

/// Length of a bootstrap token id (`[a-z0-9]{6}`).
pub const TOKEN_ID_LEN: usize = 6;
/// Length of a bootstrap token secret (`[a-z0-9]{16}`).
pub const TOKEN_SECRET_LEN: usize = 16;
/// The `data` key prefix of the signatures in cluster-info.
pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";

/// A bootstrap token `<id>.<secret>` (kubeadm's format: `[a-z0-9]{6}\.[a-z0-9]{16}`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BootstrapToken<'a> {
    whole: &'a str,
    id: &'a str,
    secret: &'a str,
}

impl core::fmt::Debug for BootstrapToken<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "BootstrapToken({}.<redacted>)", self.id)
    }
}

/// The text is not a bootstrap token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotABootstrapToken;

impl core::fmt::Display for NotABootstrapToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(
            "a bootstrap token is 6 and 16 characters of a-z and 0-9 joined by a dot, \
             e.g. abcdef.0123456789abcdef (`kubeadm token create` prints one)",
        )
    }
}

fn token_chars(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl<'a> BootstrapToken<'a> {
    /// Parses `<id>.<secret>`.
    pub fn parse(token: &'a str) -> Result<Self, NotABootstrapToken> {
        let (id, secret) = token.split_once('.').ok_or(NotABootstrapToken)?;
        if token_chars(id, TOKEN_ID_LEN) && token_chars(secret, TOKEN_SECRET_LEN) {
            Ok(BootstrapToken {
                whole: token,
                id,
                secret,
            })
        } else {
            Err(NotABootstrapToken)
        }
    }

    /// The public half: names the token in `system:bootstrap:<id>` and `jws-kubeconfig-<id>`.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The whole `<id>.<secret>`, as the bearer token it is sent as.
    pub fn expose(&self) -> &'a str {
        self.whole
    }

    /// The secret half: the HMAC key of the cluster-info signature.
    pub fn secret(&self) -> &'a str {
        self.secret
    }
}

/// Why a cluster-info signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwsError {
    /// Not `header..signature` (three parts, the middle one empty).
    Malformed,
    /// The header is not `{"alg":"HS256","kid":"<this token's id>"}` as the signer writes it.
    UnexpectedHeader,
    /// The signature does not match: the kubeconfig was altered, or it was signed with another
    /// secret (a token with the same id but a different secret).
    BadSignature,
}

impl core::fmt::Display for JwsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            JwsError::Malformed => "the cluster-info signature is not a detached JWS",
            JwsError::UnexpectedHeader => {
                "the cluster-info signature is not an HS256 JWS for this token id"
            }
            JwsError::BadSignature => {
                "the cluster-info signature does not match: the token's secret is wrong, or \
                 someone altered the cluster-info kubeconfig on the way"
            }
        })
    }
}

/// `{"alg":"HS256","kid":"<id>"}` in base64url, as the bootstrap signer writes it. An id is
/// 6 bytes, so the header is 30 bytes and its encoding 40.
fn expected_header(id: &str, out: &mut [u8; 40]) -> bool {
    let mut header = [0u8; 30];
    let parts: [&[u8]; 3] = [br#"{"alg":"HS256","kid":""#, id.as_bytes(), br#""}"#];
    let mut at = 0;
    for part in parts {
        let Some(dst) = header.get_mut(at..at + part.len()) else {
            return false;
        };
        dst.copy_from_slice(part);
        at += part.len();
    }
    at == header.len()
        && super::base64::encode_into(&header, Alphabet::UrlNoPad, out) == Ok(out.len())
}

/// Checks the detached JWS `jws` (the value of `jws-kubeconfig-<id>`) over `payload` (the
/// value of `kubeconfig`, exactly as stored) with `token`.
pub fn verify_detached(
    jws: &str,
    payload: &[u8],
    token: &BootstrapToken<'_>,
) -> Result<(), JwsError> {
    let mut parts = jws.split('.');
    let (Some(header), Some(""), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let mut want_header = [0u8; 40];
    if !expected_header(token.id(), &mut want_header) || header.as_bytes() != want_header {
        return Err(JwsError::UnexpectedHeader);
    }
    let mut presented = [0u8; 32];
    let presented = decode_url_no_pad(signature.as_bytes(), &mut presented)
        .filter(|s| s.len() == 32)
        .ok_or(JwsError::Malformed)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(token.secret().as_bytes())
        .map_err(|_| JwsError::BadSignature)?;
    mac.update(header.as_bytes());
    mac.update(b".");
    let mut enc = Encoder::new(Alphabet::UrlNoPad);
    enc.feed(payload, &mut |piece: &[u8]| mac.update(piece));
    enc.finish(&mut |piece: &[u8]| mac.update(piece));
    // verify_slice compares in constant time.
    mac.verify_slice(presented)
        .map_err(|_| JwsError::BadSignature)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// recorded-2 B01: `data.kubeconfig` of cluster-info, exactly as stored (1015 bytes).
    pub(crate) const RECORDED_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    server: https://127.0.0.1:7443\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJuVENDQVVPZ0F3SUJBZ0lVTGlVOUZDOTEzcUROVnJMRTU0ZVZtRi9JZnA0d0NnWUlLb1pJemowRUF3SXcKSERFYU1CZ0dBMVVFQXd3UmNtVmhiR3M0Y3kxelpYSjJaWEl0WTJFd0hoY05Nall4TWpBeU1UVXhOVEEyV2hjTgpNell4TVRJNU1UVXhOVEEyV2pBY01Sb3dHQVlEVlFRRERCRnlaV0ZzYXpoekxYTmxjblpsY2kxallUQlpNQk1HCkJ5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEEwSUFCRTlIYnFpRUV2cUhXNkFlTUtLckJ3SUJiZE9aaVNNcU9HbEQKYTQzSmp2Y1l0cW00RTZlaHFUVVZ2UmliMnZRMDdTMG5FeVgzdDZpeGVOTVUvdGdGRHFLall6QmhNQjBHQTFVZApEZ1FXQkJTVUVCRGVOSHhDdGI4TlEwZVl2TnM0UnlWemx6QWZCZ05WSFNNRUdEQVdnQlNVRUJEZU5IeEN0YjhOClEwZVl2TnM0UnlWemx6QVBCZ05WSFJNQkFmOEVCVEFEQVFIL01BNEdBMVVkRHdFQi93UUVBd0lCaGpBS0JnZ3EKaGtqT1BRUURBZ05JQURCRkFpQkE4UmFQeW1COFA5WjVaNWhWZXdjbk41QXhlc2piRmN1d01hTG9EeTdxMXdJaApBUEp5ZHZJWS9DbnhJYStjSm9lZVBybDJnZjNyci9PNitObEN0bkE0b2VtNwotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==\ncontexts: []\nusers: []\ncurrent-context: \"\"\npreferences: {}\n";
    /// B05's computed vector: the same kubeconfig signed with the made-up secret.
    pub(crate) const B05_VECTOR: &str =
        "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9..tdBUH1PdKDC3mjV2v0PmqXcL4IaSBDLpBsvhaIc4iSU";
    /// The signature the real server published (with the redacted secret).
    const RECORDED_JWS: &str =
        "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9..6h6VOKXTdJIO9fwtgsH77Pefgj7byIaRMi7xO-BNMx4";

    fn token() -> BootstrapToken<'static> {
        BootstrapToken::parse("9bc31e.abcdef0123456789").unwrap()
    }

    #[test]
    fn the_b05_vector_verifies() {
        assert_eq!(RECORDED_KUBECONFIG.len(), 1015);
        assert_eq!(
            verify_detached(B05_VECTOR, RECORDED_KUBECONFIG.as_bytes(), &token()),
            Ok(())
        );
    }

    #[test]
    fn another_secret_or_an_altered_kubeconfig_is_a_bad_signature() {
        // The real server's signature was made with the real (redacted) secret.
        assert_eq!(
            verify_detached(RECORDED_JWS, RECORDED_KUBECONFIG.as_bytes(), &token()),
            Err(JwsError::BadSignature)
        );
        let altered = RECORDED_KUBECONFIG.replace("127.0.0.1", "127.0.0.2");
        assert_eq!(
            verify_detached(B05_VECTOR, altered.as_bytes(), &token()),
            Err(JwsError::BadSignature)
        );
        let mut cut = RECORDED_KUBECONFIG.as_bytes().to_vec();
        cut.pop();
        assert_eq!(
            verify_detached(B05_VECTOR, &cut, &token()),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn another_token_id_or_algorithm_is_refused_by_the_header() {
        let other = BootstrapToken::parse("abcdef.abcdef0123456789").unwrap();
        assert_eq!(
            verify_detached(B05_VECTOR, RECORDED_KUBECONFIG.as_bytes(), &other),
            Err(JwsError::UnexpectedHeader)
        );
        // {"alg":"none","kid":"9bc31e"}
        let none =
            "eyJhbGciOiJub25lIiwia2lkIjoiOWJjMzFlIn0..tdBUH1PdKDC3mjV2v0PmqXcL4IaSBDLpBsvhaIc4iSU";
        assert_eq!(
            verify_detached(none, RECORDED_KUBECONFIG.as_bytes(), &token()),
            Err(JwsError::UnexpectedHeader)
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        let k = RECORDED_KUBECONFIG.as_bytes();
        for bad in [
            "",
            "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9",
            "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9.e30.tdBUH1PdKDC3mjV2v0PmqXcL4IaSBDLpBsvhaIc4iSU",
            "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9..tdBUH1PdKDC3mjV2v0PmqXcL4IaSBDLpBsvhaIc4iS",
            "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9..tdBUH1PdKDC3mjV2v0PmqXcL4IaSBDLpBsvhaIc4iSU.",
            "eyJhbGciOiJIUzI1NiIsImtpZCI6IjliYzMxZSJ9..tdBUH1PdKDC3mjV2v0PmqXcL4IaSBDLpBsvhaIc4iSU=",
        ] {
            assert_eq!(verify_detached(bad, k, &token()), Err(JwsError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn tokens_parse_as_kubeadm_writes_them() {
        let t = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!((t.id(), t.secret()), ("abcdef", "0123456789abcdef"));
        assert_eq!(std::format!("{t:?}"), "BootstrapToken(abcdef.<redacted>)");
        for bad in [
            "",
            "abcdef",
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcdef:0123456789abcdef",
            "abcdef.0123456789abcdef.x",
            "abcdefg.0123456789abcdef",
        ] {
            assert_eq!(
                BootstrapToken::parse(bad),
                Err(NotABootstrapToken),
                "{bad:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_values_never_panic(jws in "[ -~]{0,120}", payload: std::vec::Vec<u8>) {
            let _ = verify_detached(&jws, &payload, &token());
        }
    }
}

//! Bootstrap-token authentication against recorded-2 A14, A15a–f and C02: a wrong secret, an
//! expired token (refused at once, its Secret deleted by the tokencleaner), a token that expires
//! while in use (still accepted from the 10 s success cache, then refused), and who a bootstrap
//! token is. All on the simulated clock, at the recorded instants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bootstrap_kit;
mod common;

use std::time::Duration;

use bootstrap_kit::*;
use common::*;
use picokubelet_testkit::{parse_rfc3339, BootstrapToken, Clock};

const CSR: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-esp-boot-01";

fn with_recorded_csr() -> Harness {
    let h = recorded_cluster("2026-12-02T15:26:00Z");
    replay_csr(&h, "A01-post-csr-bootstrap-201", &As::Token(TOKEN));
    h
}

#[test]
fn a_wrong_secret_and_an_expired_token_get_the_plain_401() {
    let h = with_recorded_csr();
    let want = recorded("A14-bootstrap-wrong-secret-401.response.http");
    h.advance_to(want.date());
    let wrong = send(&h, &As::Token("9bc31e.0000000000000000"), "GET", CSR, "");
    assert_like("A14-bootstrap-wrong-secret-401", &wrong, &want);

    // A15: created with an expiration an hour ago, used at once; then after the cleanup.
    let now = h.clock.now();
    h.server.add_bootstrap_token(
        BootstrapToken::new("exp001", "0123456789abcdef")
            .expiring(now - Duration::from_secs(3600))
            .with_extra_groups(&[REALK8S_GROUP]),
    );
    let expired = As::Token("exp001.0123456789abcdef");
    for name in [
        "A15a-bootstrap-expired-token-401",
        "A15b-bootstrap-expired-token-after-cleanup-401",
    ] {
        let want = recorded(&format!("{name}.response.http"));
        h.advance_to(want.date());
        assert_like(name, &send(&h, &expired, "GET", CSR, ""), &want);
    }
    // The tokencleaner deleted its Secret: there is nothing left to remove.
    assert!(!h.server.remove_bootstrap_token("exp001"));
}

#[test]
fn a_token_expiring_in_use_is_accepted_from_the_cache_for_10_s_then_refused() {
    let h = with_recorded_csr();
    h.advance_to(parse_rfc3339("2026-12-02T15:31:14Z").unwrap());
    h.server.add_bootstrap_token(
        BootstrapToken::new("exp002", "0123456789abcdef")
            .expiring(parse_rfc3339("2026-12-02T15:31:19Z").unwrap())
            .with_extra_groups(&[REALK8S_GROUP]),
    );
    let token = As::Token("exp002.0123456789abcdef");
    for name in [
        "A15d-bootstrap-token-before-expiry-200",
        "A15e-bootstrap-token-2s-after-expiry-still-200",
    ] {
        let want = recorded(&format!("{name}.response.http"));
        h.advance_to(want.date());
        assert_csr_like(name, &send(&h, &token, "GET", CSR, ""), &want, false);
    }
    // By A15e the Secret is gone (the tokencleaner ran at expiry): only the cache answered.
    assert!(!h.server.remove_bootstrap_token("exp002"));
    let want = recorded("A15f-bootstrap-token-after-expiry-and-cache-401.response.http");
    h.advance_to(want.date());
    assert_like(
        "A15f-bootstrap-token-after-expiry-and-cache-401",
        &send(&h, &token, "GET", CSR, ""),
        &want,
    );
}

#[test]
fn a_deleted_token_is_refused_once_its_cached_success_lapses() {
    let h = with_recorded_csr();
    let token = As::Token(TOKEN);
    assert_eq!(send(&h, &token, "GET", CSR, "").status, 200);
    assert!(h.server.remove_bootstrap_token("9bc31e"));
    h.clock.advance(Duration::from_secs(9));
    assert_eq!(send(&h, &token, "GET", CSR, "").status, 200, "cached");
    h.clock.advance(Duration::from_secs(2));
    assert_eq!(send(&h, &token, "GET", CSR, "").status, 401);
}

#[test]
fn self_subject_review_of_a_bootstrap_token_as_recorded_c02() {
    let h = recorded_cluster("2026-12-02T15:32:00Z");
    let want = recorded("C02-ssr-bootstrap-token.response.http");
    h.advance_to(want.date());
    let (method, target, body) = recorded_request("C02-ssr-bootstrap-token.request.txt");
    let got = send(&h, &As::Token(TOKEN), &method, &target, &body);
    assert_like("C02-ssr-bootstrap-token", &got, &want);
}

//! Authentication: a bearer token (static, else bootstrap), else the verified client
//! certificate, else anonymous.

use std::time::SystemTime;

use crate::auth::User;
use crate::message::Request;
use crate::state::State;

/// The request's user; `Err` means 401 (an unknown token or a non-bearer scheme). A bootstrap
/// token's success is cached (see [`crate::bootstrap::AUTH_CACHE_TTL`]). guess: the apiserver's
/// cache covers static tokens too; here their revocation stays immediate (as tests expect).
pub(super) fn authenticate(state: &mut State, req: &Request, now: SystemTime) -> Result<User, ()> {
    match bearer(req)? {
        Some(token) => match state.tokens.lookup(token) {
            Some(user) => Ok(user.clone()),
            None => state.bootstrap.authenticate(token, now).flatten().ok_or(()),
        },
        None => Ok(req.client_user.clone().unwrap_or_else(User::anonymous)),
    }
}

/// Who the request is, for answers that bypass the pipeline (injected faults, stalled storage):
/// like [`authenticate`], without touching the token cache.
pub(super) fn identify(state: &State, req: &Request) -> Result<User, ()> {
    match bearer(req)? {
        Some(token) => match state.tokens.lookup(token) {
            Some(user) => Ok(user.clone()),
            None => state.bootstrap.peek(token).flatten().ok_or(()),
        },
        None => Ok(req.client_user.clone().unwrap_or_else(User::anonymous)),
    }
}

/// The bearer token, `None` without an Authorization header, `Err` for another scheme.
fn bearer(req: &Request) -> Result<Option<&str>, ()> {
    let Some(value) = req.header("Authorization") else {
        return Ok(None);
    };
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(());
    }
    Ok(Some(token.trim()))
}

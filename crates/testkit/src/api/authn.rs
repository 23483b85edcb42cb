//! Authentication: a bearer token, else the verified client certificate, else anonymous.

use crate::auth::User;
use crate::message::Request;
use crate::state::State;

/// The request's user; `Err` means 401 (an unknown token or a non-bearer scheme).
pub(super) fn authenticate(state: &State, req: &Request) -> Result<User, ()> {
    match req.header("Authorization") {
        Some(value) => {
            let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(());
            }
            state.tokens.lookup(token.trim()).cloned().ok_or(())
        }
        None => Ok(req.client_user.clone().unwrap_or_else(User::anonymous)),
    }
}

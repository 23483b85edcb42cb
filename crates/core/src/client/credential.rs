//! The bearer token a request carries: fixed for the life of the agent (flash, a static
//! kubeconfig), or fetched from a [`TokenSource`] each time a request head is written — a
//! host's exec credential plugin hands out tokens that expire. The source is the body's: the
//! core never runs a plugin, it only asks for the current token and says when the server
//! refused it (401), so the body can fetch a new one off the agent's path.
use core::fmt;

use crate::http::request::BearerToken;

/// A token that can change while the agent runs. `&self`: the body keeps it behind a lock
/// (a host shares one between the boards of a fleet).
pub trait TokenSource {
    /// Calls `use_token` once with the token to send now (`None`: send none).
    fn with_token(&self, use_token: &mut dyn FnMut(Option<BearerToken<'_>>));
    /// The server answered 401 to a request: the token may have expired or been revoked.
    /// Must not block; the next request takes whatever token the source has by then.
    fn rejected(&self);
}

/// A borrowed [`TokenSource`]; equal only to itself. `Debug` shows no token.
#[derive(Clone, Copy)]
pub struct SharedToken<'a>(pub &'a dyn TokenSource);

impl PartialEq for SharedToken<'_> {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::addr_eq(self.0, other.0)
    }
}

impl Eq for SharedToken<'_> {}

impl fmt::Debug for SharedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedToken(<redacted>)")
    }
}

/// Calls `f` with the token to send: the source's current one when there is a source, else
/// `fixed`. A source that never calls back sends no token.
pub fn with_token<R>(
    fixed: Option<BearerToken<'_>>,
    source: Option<SharedToken<'_>>,
    mut f: impl FnMut(Option<BearerToken<'_>>) -> R,
) -> R {
    let Some(SharedToken(source)) = source else {
        return f(fixed);
    };
    let mut out = None;
    source.with_token(&mut |token| {
        if out.is_none() {
            out = Some(f(token));
        }
    });
    match out {
        Some(r) => r,
        None => f(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;
    use std::string::String;

    struct Rotating {
        token: RefCell<String>,
    }

    impl TokenSource for Rotating {
        fn with_token(&self, use_token: &mut dyn FnMut(Option<BearerToken<'_>>)) {
            use_token(Some(BearerToken::new(&self.token.borrow())));
        }
        fn rejected(&self) {}
    }

    #[test]
    fn the_source_wins_over_the_fixed_token_and_is_read_each_time() {
        let source = Rotating {
            token: RefCell::new("first".into()),
        };
        let token = SharedToken(&source);
        let shared = Some(token);
        let read = |s| {
            with_token(Some(BearerToken::new("fixed")), s, |t| {
                t.map(|t| String::from(t.expose()))
            })
        };
        assert_eq!(read(shared).as_deref(), Some("first"));
        *source.token.borrow_mut() = "second".into();
        assert_eq!(read(shared).as_deref(), Some("second"));
        assert_eq!(read(None).as_deref(), Some("fixed"));
        assert_eq!(std::format!("{token:?}"), "SharedToken(<redacted>)");
    }

    #[test]
    fn a_source_that_never_calls_back_sends_no_token() {
        struct Silent;
        impl TokenSource for Silent {
            fn with_token(&self, _: &mut dyn FnMut(Option<BearerToken<'_>>)) {}
            fn rejected(&self) {}
        }
        let got = with_token(
            Some(BearerToken::new("fixed")),
            Some(SharedToken(&Silent)),
            |t| t.is_some(),
        );
        assert!(!got);
    }
}

//! The server side of the view's fault keys. Only a server this process embeds (`demo`) has
//! them; against a real cluster the view is given none and does not offer the keys.

/// Faults the view can inject into an API server this process runs. `demo` implements it with
/// the test API server's own hooks (`etcd_stall`, `restart`, `revoke_token`, `delete_node`).
///
/// Each method is called on the view's thread (the main thread's runtime) when its key is
/// pressed and must return at once: start anything long (a restart) in the background. An
/// `Err` is shown on the view's message line, so it says what failed.
pub trait ServerFaults {
    /// Shown in the header, e.g. `embedded API server https://127.0.0.1:6443`.
    fn describe(&self) -> String;
    /// Storage stalls (`true`: requests that need etcd hang, as in recorded-2 G1) or resumes.
    fn set_stalled(&self, stalled: bool) -> Result<(), String>;
    /// Restarts the server on the same address.
    fn restart(&self) -> Result<(), String>;
    /// Revokes the token the board `node` authenticates with (401 from then on).
    fn revoke_token(&self, node: &str) -> Result<(), String>;
    /// Deletes the Node object `node`, as `kubectl delete node` would.
    fn delete_node(&self, node: &str) -> Result<(), String>;
}

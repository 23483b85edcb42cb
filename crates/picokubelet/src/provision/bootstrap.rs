//! `--bootstrap-token-file`: the token every board of a fleet asks for its own certificate
//! with. Checked here (kubeadm's `ID.SECRET` format) so a typo fails on the desk, not at every
//! board's boot.

use std::path::Path;

use picokubelet_core::tls::jws::BootstrapToken;

use super::error::ProvisionError;
use crate::secret::Secret;

/// The token in `path` (one trailing newline, as `kubeadm token create > file` leaves,
/// is ignored). The error never shows the token.
pub fn read_token(path: &Path) -> Result<Secret, ProvisionError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ProvisionError::BootstrapTokenFile {
            path: path.to_owned(),
            source,
        })?;
    let token = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    BootstrapToken::parse(token).map_err(|e| ProvisionError::BadBootstrapToken {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Secret::new(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_read_with_its_newline_and_checked_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abcdef.0123456789abcdef\n").unwrap();
        assert_eq!(
            read_token(&path).unwrap().expose(),
            "abcdef.0123456789abcdef"
        );
        std::fs::write(&path, "abcdef.0123456789ABCDEF\n").unwrap();
        let err = read_token(&path).unwrap_err().to_string();
        assert!(err.contains("6 and 16 characters"), "{err}");
        assert!(!err.contains("0123456789ABCDEF"), "{err}");
        let err = read_token(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, ProvisionError::BootstrapTokenFile { .. }));
    }
}

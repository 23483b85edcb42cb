//! Writing the output file: owner-only (mode 0600, it holds the token and the Wi-Fi password),
//! and never over an existing file unless asked.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::ProvisionError;

/// Writes `bytes` to `path`. Without `force` an existing file is refused (atomically: the file
/// is created with `O_EXCL`). With `force` the bytes go to a fresh file next to it that then
/// replaces it, so the result has mode 0600 even when the old file had another mode.
pub fn write_private(path: &Path, bytes: &[u8], force: bool) -> Result<(), ProvisionError> {
    let write_err = |path: &Path, source| ProvisionError::Write {
        path: path.to_owned(),
        source,
    };
    if !force {
        let file = create_new_private(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                ProvisionError::OutExists(path.to_owned())
            } else {
                write_err(path, e)
            }
        })?;
        return fill(file, bytes).map_err(|e| {
            let _ = std::fs::remove_file(path);
            write_err(path, e)
        });
    }
    let temp = temp_path(path);
    let file = create_new_private(&temp).map_err(|e| write_err(&temp, e))?;
    fill(file, bytes)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            write_err(path, e)
        })
}

fn create_new_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn fill(mut file: File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// `<dir>/.<name>.tmp-<pid>`: same directory, so the rename stays on one filesystem.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pkconfig".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_existing_file_is_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pk.bin");
        std::fs::write(&path, b"old").unwrap();
        let err = write_private(&path, b"new", false).unwrap_err();
        assert!(matches!(err, ProvisionError::OutExists(_)), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        write_private(&path, b"new", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pk.bin");
        write_private(&path, b"secret", false).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_missing_directory_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/pk.bin");
        for force in [false, true] {
            let err = write_private(&path, b"x", force).unwrap_err();
            assert!(matches!(err, ProvisionError::Write { .. }), "{err}");
        }
    }
}

//! The node's issued client certificate and key on disk, as the kubelet keeps them: a directory
//! (mode 0700) with `kubelet-client-<unix seconds>.pem` files (mode 0600, certificate then key)
//! and the symlink `kubelet-client-current.pem` to the one in use, replaced atomically. One
//! directory per node, so a process running many boards keeps each board's identity apart.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use p256::ecdsa::SigningKey;
use p256::pkcs8::LineEnding;
use picokubelet_core::tls::csr::{NODE_ORGANIZATION, NODE_USER_PREFIX};
use picokubelet_core::tls::x509;

use crate::kubeconfig::{ClientCertificate, PemSource};
use crate::provision::ca::subject_common_name;

/// The link to the certificate in use (the kubelet's name).
pub const CURRENT: &str = "kubelet-client-current.pem";

/// A certificate+key pair from the directory, checked for this node.
#[derive(Clone, Debug)]
pub struct StoredIdentity {
    pub certificate: ClientCertificate,
    /// The PEM file it came from.
    pub path: PathBuf,
    /// notBefore / notAfter, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl StoredIdentity {
    /// Checks `pem` (certificate then key, in one text) for the node `node` at `now` (Unix
    /// seconds): the key matches, the subject is `system:node:<node>`, and it has not expired.
    pub fn check(pem: &[u8], path: &Path, node: &str, now: i64) -> Result<Self, String> {
        let source = PemSource::File(path.to_owned());
        let certificate = ClientCertificate::from_pem(pem, source.clone(), pem, source)
            .map_err(|e| e.to_string())?;
        let cert = x509::parse(&certificate.certificate_der)
            .map_err(|_| "not an X.509 v3 certificate".to_owned())?;
        let want = format!("{NODE_USER_PREFIX}{node}");
        match subject_common_name(&certificate.certificate_der) {
            Some(cn) if cn == want => {}
            Some(cn) => {
                return Err(format!(
                    "it is for {cn:?}, not {want:?} (another --node-name?)"
                ))
            }
            None => return Err("its subject has no common name".to_owned()),
        }
        if now >= cert.not_after {
            return Err(format!(
                "it expired {} ago",
                humantime::format_duration(std::time::Duration::from_secs(
                    u64::try_from(now - cert.not_after).unwrap_or(0)
                ))
            ));
        }
        Ok(StoredIdentity {
            not_before: cert.not_before,
            not_after: cert.not_after,
            certificate,
            path: path.to_owned(),
        })
    }

    /// Seconds until it expires (negative once it has).
    pub fn remaining(&self, now: i64) -> i64 {
        self.not_after - now
    }
}

/// The directory of one node's certificates.
#[derive(Clone, Debug)]
pub struct CertDir {
    path: PathBuf,
}

/// Seconds since the Unix epoch, this machine's clock.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl CertDir {
    /// Opens (creating it if needed, mode 0700) the directory `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(path).map_err(|e| {
            format!(
                "cannot create the certificate directory {}: {e}",
                path.display()
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot make {} private (mode 0700): {e}", path.display()))?;
        }
        Ok(CertDir {
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The link to the certificate in use.
    pub fn current_path(&self) -> PathBuf {
        self.path.join(CURRENT)
    }

    /// The current certificate and key, if there is one: `Ok(None)` when there is none yet,
    /// `Err(why)` when there is one that cannot be used for `node` now (then a new one is
    /// requested).
    pub fn load(&self, node: &str, now: i64) -> Result<Option<StoredIdentity>, String> {
        let path = self.current_path();
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read it: {e}")),
        };
        StoredIdentity::check(&pem, &path, node, now).map(Some)
    }

    /// Writes `certificate_pem` and `key` to a new file (0600) and points the current link at
    /// it; returns the stored identity as [`Self::load`] would read it.
    pub fn store(
        &self,
        certificate_pem: &[u8],
        key: &SigningKey,
        node: &str,
        now: i64,
    ) -> Result<StoredIdentity, String> {
        let key_pem = p256::SecretKey::from(key)
            .to_sec1_pem(LineEnding::LF)
            .map_err(|e| format!("cannot encode the key: {e}"))?;
        let mut pem = certificate_pem.to_vec();
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        pem.extend_from_slice(key_pem.as_bytes());
        let file = self.free_name(now);
        write_private(&file, &pem).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let identity = StoredIdentity::check(&pem, &file, node, now)?;
        self.point_current_at(&file)
            .map_err(|e| format!("cannot update {}: {e}", self.current_path().display()))?;
        Ok(StoredIdentity {
            path: self.current_path(),
            ..identity
        })
    }

    fn free_name(&self, now: i64) -> PathBuf {
        (0..)
            .map(|n| {
                let suffix = if n == 0 {
                    String::new()
                } else {
                    format!("-{n}")
                };
                self.path.join(format!("kubelet-client-{now}{suffix}.pem"))
            })
            .find(|p| !p.exists())
            .unwrap_or_else(|| self.path.join("kubelet-client.pem"))
    }

    #[cfg(unix)]
    fn point_current_at(&self, file: &Path) -> std::io::Result<()> {
        let target = file.file_name().map(PathBuf::from).unwrap_or_default();
        let tmp = self.path.join(format!(".{CURRENT}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp)?;
        std::fs::rename(&tmp, self.current_path())
    }

    #[cfg(not(unix))]
    fn point_current_at(&self, file: &Path) -> std::io::Result<()> {
        std::fs::copy(file, self.current_path()).map(|_| ())
    }
}

/// Creates `path` with mode 0600 (never readable by others, not even for a moment).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The subject a node's certificate request carries, for messages.
pub fn node_subject(node: &str) -> String {
    format!("O={NODE_ORGANIZATION}, CN={NODE_USER_PREFIX}{node}")
}

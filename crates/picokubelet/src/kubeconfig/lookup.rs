//! Which kubeconfig file(s) to read, in kubectl's order: `--kubeconfig`, else every existing
//! file named in `KUBECONFIG` (merged), else `~/.kube/config`.
//!
//! The environment is passed in ([`LookupEnv`]) rather than read inside, so tests need no global
//! state.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::error::KubeconfigError;

/// The parts of the process environment the lookup reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupEnv {
    /// `KUBECONFIG`.
    pub kubeconfig: Option<OsString>,
    /// `HOME` (on Windows `USERPROFILE`).
    pub home: Option<PathBuf>,
}

impl LookupEnv {
    /// Reads `KUBECONFIG` and the home directory from this process's environment.
    pub fn from_process() -> Self {
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        LookupEnv {
            kubeconfig: std::env::var_os("KUBECONFIG"),
            home,
        }
    }
}

/// Where the chosen files came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `--kubeconfig`.
    Flag,
    /// `KUBECONFIG`.
    Env,
    /// `~/.kube/config`.
    Home,
}

/// The kubeconfig files to read, in precedence order (the first to set a value wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub origin: Origin,
    /// Files that exist, in order.
    pub files: Vec<PathBuf>,
    /// Files named in `KUBECONFIG` that do not exist (kubectl skips them too).
    pub skipped: Vec<PathBuf>,
}

/// Finds the kubeconfig file(s). `explicit` is `--kubeconfig`; it must exist. Files named in
/// `KUBECONFIG` that do not exist are skipped, as kubectl does; when none exists the lookup
/// fails rather than falling back to `~/.kube/config` (kubectl does not fall back either).
pub fn locate(explicit: Option<&Path>, env: &LookupEnv) -> Result<Located, KubeconfigError> {
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(KubeconfigError::NotFound {
                tried: vec![path.to_owned()],
            });
        }
        return Ok(Located {
            origin: Origin::Flag,
            files: vec![path.to_owned()],
            skipped: Vec::new(),
        });
    }
    if let Some(list) = env.kubeconfig.as_ref().filter(|v| !v.is_empty()) {
        let (files, skipped): (Vec<PathBuf>, Vec<PathBuf>) = std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .partition(|p| p.exists());
        let mut unique = Vec::new();
        for f in files {
            if !unique.contains(&f) {
                unique.push(f);
            }
        }
        if unique.is_empty() {
            return Err(KubeconfigError::NotFound { tried: skipped });
        }
        return Ok(Located {
            origin: Origin::Env,
            files: unique,
            skipped,
        });
    }
    let home = env.home.as_ref().ok_or(KubeconfigError::NoHome)?;
    let path = home.join(".kube").join("config");
    if !path.exists() {
        return Err(KubeconfigError::NotFound { tried: vec![path] });
    }
    Ok(Located {
        origin: Origin::Home,
        files: vec![path],
        skipped: Vec::new(),
    })
}

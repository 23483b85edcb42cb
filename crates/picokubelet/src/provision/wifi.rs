//! The Wi-Fi credentials: the SSID from its flag, the password from a file or
//! `$PK_WIFI_PASSWORD` only (a flag value would show in `ps` and in shell history).

use std::ffi::OsString;
use std::path::Path;

use picokubelet_core::provision::{MAX_SSID_LEN, MAX_WIFI_PASSWORD_LEN, MIN_WIFI_PASSWORD_LEN};

use super::error::ProvisionError;
use crate::secret::Secret;

/// The environment variable the password may come from.
pub const PASSWORD_ENV: &str = "PK_WIFI_PASSWORD";

/// Where the password came from (for the summary, which never shows the password).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    File,
    Env,
    /// `--wifi-open`: no password.
    Open,
}

/// What the record's Wi-Fi entries get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WifiSetting {
    pub ssid: String,
    /// Empty for an open network.
    pub password: Secret,
    pub source: PasswordSource,
}

/// The Wi-Fi flags and the environment's password.
#[derive(Clone, Copy, Debug)]
pub struct WifiInputs<'a> {
    pub ssid: Option<&'a str>,
    pub password_file: Option<&'a Path>,
    pub open: bool,
    /// `$PK_WIFI_PASSWORD` (an empty value counts as unset).
    pub env_password: Option<&'a OsString>,
}

/// Checks the Wi-Fi flags; `None` without `--wifi-ssid` (a board on Ethernet). A password file
/// wins over the environment, as a flag wins over an environment variable elsewhere.
pub fn wifi(inputs: WifiInputs<'_>) -> Result<Option<WifiSetting>, ProvisionError> {
    let Some(ssid) = inputs.ssid else {
        return Ok(None);
    };
    if ssid.is_empty() || ssid.len() > MAX_SSID_LEN {
        return Err(ProvisionError::BadSsid(format!(
            "{} bytes; an SSID is 1 to {MAX_SSID_LEN} bytes",
            ssid.len()
        )));
    }
    let env = inputs.env_password.filter(|v| !v.is_empty());
    let (password, source) = match (inputs.password_file, env, inputs.open) {
        (Some(path), _, _) => (read_password_file(path)?, PasswordSource::File),
        (None, Some(_), true) => {
            return Err(ProvisionError::OpenWithPassword {
                source_name: "$PK_WIFI_PASSWORD",
            })
        }
        (None, Some(value), false) => {
            let text = value.to_str().ok_or(ProvisionError::BadPassword {
                source_name: "$PK_WIFI_PASSWORD",
                reason: "not UTF-8".into(),
            })?;
            (Secret::new(text), PasswordSource::Env)
        }
        (None, None, true) => (Secret::new(""), PasswordSource::Open),
        (None, None, false) => {
            return Err(ProvisionError::NoWifiPassword {
                ssid: ssid.to_owned(),
            })
        }
    };
    if source != PasswordSource::Open {
        check_password(&password, source)?;
    }
    Ok(Some(WifiSetting {
        ssid: ssid.to_owned(),
        password,
        source,
    }))
}

/// The file's text without one trailing newline (spaces are kept: a passphrase may end in one).
fn read_password_file(path: &Path) -> Result<Secret, ProvisionError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProvisionError::PasswordFile {
        path: path.to_owned(),
        source,
    })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(Secret::new(text))
}

/// A WPA2 passphrase: 8..=63 printable ASCII characters. The message never shows it.
fn check_password(password: &Secret, source: PasswordSource) -> Result<(), ProvisionError> {
    let source_name = match source {
        PasswordSource::File => "--wifi-password-file",
        PasswordSource::Env | PasswordSource::Open => "$PK_WIFI_PASSWORD",
    };
    let text = password.expose();
    let reason = if text.is_empty() {
        Some("it is empty (for an open network pass --wifi-open instead)".to_owned())
    } else if !(MIN_WIFI_PASSWORD_LEN..=MAX_WIFI_PASSWORD_LEN).contains(&text.len()) {
        Some(format!(
            "{} characters; a WPA2 passphrase has {MIN_WIFI_PASSWORD_LEN} to \
             {MAX_WIFI_PASSWORD_LEN}",
            text.len()
        ))
    } else if !text.bytes().all(|b| matches!(b, 0x20..=0x7e)) {
        Some("it holds a character outside printable ASCII".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProvisionError::BadPassword {
            source_name,
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse battery";

    fn inputs<'a>(ssid: Option<&'a str>, env: Option<&'a OsString>) -> WifiInputs<'a> {
        WifiInputs {
            ssid,
            password_file: None,
            open: false,
            env_password: env,
        }
    }

    #[test]
    fn no_ssid_means_no_wifi_even_with_a_password_in_the_environment() {
        let env = OsString::from(PASSWORD);
        assert_eq!(wifi(inputs(None, Some(&env))).unwrap(), None);
    }

    #[test]
    fn the_password_comes_from_the_environment() {
        let env = OsString::from(PASSWORD);
        let w = wifi(inputs(Some("lab"), Some(&env))).unwrap().unwrap();
        assert_eq!((w.ssid.as_str(), w.password.expose()), ("lab", PASSWORD));
        assert_eq!(w.source, PasswordSource::Env);
    }

    #[test]
    fn a_password_file_wins_and_loses_one_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("psk");
        std::fs::write(&path, " spaced passphrase \r\n").unwrap();
        let env = OsString::from(PASSWORD);
        let mut i = inputs(Some("lab"), Some(&env));
        i.password_file = Some(&path);
        let w = wifi(i).unwrap().unwrap();
        assert_eq!(w.password.expose(), " spaced passphrase ");
        assert_eq!(w.source, PasswordSource::File);
    }

    #[test]
    fn an_ssid_without_any_password_needs_wifi_open() {
        let empty = OsString::new();
        for env in [None, Some(&empty)] {
            let err = wifi(inputs(Some("lab"), env)).unwrap_err();
            assert!(
                matches!(err, ProvisionError::NoWifiPassword { .. }),
                "{err}"
            );
            assert!(err.to_string().contains("--wifi-open"), "{err}");
        }
        let mut open = inputs(Some("lab"), None);
        open.open = true;
        let w = wifi(open).unwrap().unwrap();
        assert_eq!((w.password.expose(), w.source), ("", PasswordSource::Open));
    }

    #[test]
    fn open_with_a_password_in_the_environment_is_a_contradiction() {
        let env = OsString::from(PASSWORD);
        let mut i = inputs(Some("lab"), Some(&env));
        i.open = true;
        assert!(matches!(
            wifi(i),
            Err(ProvisionError::OpenWithPassword { .. })
        ));
    }

    #[test]
    fn bad_passwords_and_ssids_are_refused_without_echoing_the_password() {
        for bad in ["short", &"x".repeat(64), "tab\there-123", "ünïcödé-pass"] {
            let env = OsString::from(bad);
            let err = wifi(inputs(Some("lab"), Some(&env))).unwrap_err();
            assert!(matches!(err, ProvisionError::BadPassword { .. }), "{err}");
            assert!(!err.to_string().contains(bad), "{err}");
        }
        let env = OsString::from(PASSWORD);
        for ssid in ["", &"s".repeat(33)] {
            let err = wifi(inputs(Some(ssid), Some(&env))).unwrap_err();
            assert!(matches!(err, ProvisionError::BadSsid(_)), "{err}");
        }
    }
}

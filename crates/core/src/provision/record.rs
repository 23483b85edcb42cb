//! The provisioning record: its types, [`parse`] and [`write()`]. The byte layout and the
//! forward-compatibility rule are documented in the module above ([`super`]).
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::crc32::crc32;
use crate::http::request::BearerToken;
use crate::k8s::chip::Chip;
use crate::k8s::label::{validate_node_label, LabelError};
use crate::k8s::name::{validate_dns_subdomain, NameError, NodeName};
use crate::k8s::node::MAX_EXTRA_LABELS;
use crate::tls::ca::CA_DER_MAX;
use crate::tls::jws::{BootstrapToken, TOKEN_ID_LEN, TOKEN_SECRET_LEN};
use crate::tls::opener::ServerTrust;
use crate::tls::pin::CaPin;

/// The four bytes every record starts with.
pub const MAGIC: [u8; 4] = *b"PKCF";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Magic, version, reserved byte, total length.
pub const HEADER_LEN: usize = 8;
/// The CRC-32 at the end.
pub const CRC_LEN: usize = 4;
/// Tag, length (u16 LE).
pub const ENTRY_HEAD_LEN: usize = 3;
/// Largest record accepted or written (total length, header and CRC included).
pub const MAX_RECORD_LEN: usize = 8192;
/// Tags with this bit set are optional: a reader that does not know them skips them.
pub const OPTIONAL_TAG_BIT: u8 = 0x80;

/// Longest Wi-Fi SSID (IEEE 802.11).
pub const MAX_SSID_LEN: usize = 32;
/// WPA2 passphrase length range (an empty password means an open network).
pub const MIN_WIFI_PASSWORD_LEN: usize = 8;
pub const MAX_WIFI_PASSWORD_LEN: usize = 63;
/// Longest API server host (a DNS name; IP literals are shorter).
pub const MAX_HOST_LEN: usize = 253;
/// Longest bearer token.
pub const MAX_TOKEN_LEN: usize = 2048;
/// Longest client certificate (DER). A kubelet client certificate is 500–1100 bytes (P-256 key,
/// an RSA-4096 CA's signature at most 512).
pub const MAX_CLIENT_CERT_LEN: usize = 2048;
/// A P-256 private key: the 32-byte big-endian scalar.
pub const CLIENT_KEY_LEN: usize = 32;
/// A bootstrap token `<6>.<16>`.
pub const BOOTSTRAP_TOKEN_LEN: usize = TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN;
/// The discovery CA hash: the SHA-256 of the CA's SubjectPublicKeyInfo, raw.
pub const CA_PIN_LEN: usize = 32;
/// Longest CA certificate (DER).
pub const MAX_CA_LEN: usize = CA_DER_MAX;
/// Longest label entry `key=value`: a 253-byte prefix, `/`, a 63-byte name, `=`, 63 bytes.
pub const MAX_LABEL_ENTRY_LEN: usize = 253 + 1 + 63 + 1 + 63;
/// Interval bounds in seconds (the agent checks their relations, e.g. renew < lease duration).
pub const MIN_INTERVAL_SECS: u32 = 1;
pub const MAX_INTERVAL_SECS: u32 = 24 * 60 * 60;
/// Memory-pressure threshold bounds in bytes (no ESP32 has more than 16 MiB of heap).
pub const MIN_MEMORY_PRESSURE_BYTES: u32 = 1;
pub const MAX_MEMORY_PRESSURE_BYTES: u32 = 16 * 1024 * 1024;
/// Port used when the record has none (kube-apiserver's default secure port).
pub const DEFAULT_API_PORT: u16 = 6443;

/// One field of the record; its discriminant is the tag on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    WifiSsid = 0x01,
    WifiPassword = 0x02,
    ApiHost = 0x03,
    ApiPort = 0x04,
    TlsServerName = 0x05,
    CaCertificate = 0x06,
    BearerToken = 0x07,
    NodeName = 0x08,
    Profile = 0x09,
    Label = 0x0A,
    LeaseRenewIntervalSecs = 0x0B,
    StatusIntervalSecs = 0x0C,
    MemoryPressureBelowBytes = 0x0D,
    InsecureSkipTlsVerify = 0x0E,
    ClientCertificate = 0x0F,
    ClientKey = 0x10,
    BootstrapToken = 0x11,
    DiscoveryCaCertHash = 0x12,
}

impl Field {
    /// Every field, in tag (and writing) order.
    pub const ALL: [Field; 18] = [
        Field::WifiSsid,
        Field::WifiPassword,
        Field::ApiHost,
        Field::ApiPort,
        Field::TlsServerName,
        Field::CaCertificate,
        Field::BearerToken,
        Field::NodeName,
        Field::Profile,
        Field::Label,
        Field::LeaseRenewIntervalSecs,
        Field::StatusIntervalSecs,
        Field::MemoryPressureBelowBytes,
        Field::InsecureSkipTlsVerify,
        Field::ClientCertificate,
        Field::ClientKey,
        Field::BootstrapToken,
        Field::DiscoveryCaCertHash,
    ];

    /// The tag byte.
    pub const fn tag(self) -> u8 {
        self as u8
    }

    /// The field a tag stands for, if this version knows it.
    pub fn from_tag(tag: u8) -> Option<Field> {
        Self::ALL.into_iter().find(|f| f.tag() == tag)
    }

    /// The name used in messages (and by the host's `provision` command).
    pub const fn name(self) -> &'static str {
        match self {
            Field::WifiSsid => "wifi-ssid",
            Field::WifiPassword => "wifi-password",
            Field::ApiHost => "api-host",
            Field::ApiPort => "api-port",
            Field::TlsServerName => "tls-server-name",
            Field::CaCertificate => "ca-certificate",
            Field::BearerToken => "token",
            Field::NodeName => "node-name",
            Field::Profile => "profile",
            Field::Label => "label",
            Field::LeaseRenewIntervalSecs => "lease-renew-interval",
            Field::StatusIntervalSecs => "status-interval",
            Field::MemoryPressureBelowBytes => "memory-pressure-below-bytes",
            Field::InsecureSkipTlsVerify => "insecure-skip-tls-verify",
            Field::ClientCertificate => "client-certificate",
            Field::ClientKey => "client-key",
            Field::BootstrapToken => "bootstrap-token",
            Field::DiscoveryCaCertHash => "discovery-token-ca-cert-hash",
        }
    }

    /// Inclusive value length range on the wire.
    pub const fn len_bounds(self) -> (usize, usize) {
        match self {
            Field::WifiSsid => (1, MAX_SSID_LEN),
            Field::WifiPassword => (0, MAX_WIFI_PASSWORD_LEN),
            Field::ApiHost | Field::TlsServerName | Field::NodeName => (1, MAX_HOST_LEN),
            Field::ApiPort => (2, 2),
            Field::CaCertificate => (1, MAX_CA_LEN),
            Field::BearerToken => (1, MAX_TOKEN_LEN),
            Field::ClientCertificate => (1, MAX_CLIENT_CERT_LEN),
            Field::ClientKey => (CLIENT_KEY_LEN, CLIENT_KEY_LEN),
            Field::BootstrapToken => (BOOTSTRAP_TOKEN_LEN, BOOTSTRAP_TOKEN_LEN),
            Field::DiscoveryCaCertHash => (CA_PIN_LEN, CA_PIN_LEN),
            Field::Profile | Field::InsecureSkipTlsVerify => (1, 1),
            Field::Label => (2, MAX_LABEL_ENTRY_LEN),
            Field::LeaseRenewIntervalSecs
            | Field::StatusIntervalSecs
            | Field::MemoryPressureBelowBytes => (4, 4),
        }
    }
}

/// Wi-Fi credentials. `Debug` never shows the password.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WifiCredentials<'a> {
    /// 1..=32 bytes of UTF-8.
    pub ssid: &'a str,
    /// Empty (open network) or 8..=63 printable ASCII characters (WPA2 passphrase).
    pub password: &'a str,
}

impl fmt::Debug for WifiCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WifiCredentials")
            .field("ssid", &self.ssid)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The board's own identity: a client certificate and its ECDSA P-256 key (the board signs
/// with P-256 only). `Debug` never shows the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientCertificate<'a> {
    /// The certificate (leaf), DER.
    pub certificate_der: &'a [u8],
    /// The private scalar, big-endian.
    pub key: &'a [u8; CLIENT_KEY_LEN],
}

impl fmt::Debug for ClientCertificate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("certificate_der_len", &self.certificate_der.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ClientCertificate<'_> {
    /// The signing key (checked by [`ProvisionRecord::validate`]).
    pub fn signing_key(&self) -> Option<p256::ecdsa::SigningKey> {
        p256::ecdsa::SigningKey::from_bytes(self.key.into()).ok()
    }
}

/// How the board checks the API server: as the TLS opener does (a CA, or the explicit insecure
/// flag), or kubeadm-join style from a CA hash: the CA comes from `kube-public/cluster-info`,
/// whose JWS the bootstrap token checks and whose CA key must have this hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordTrust<'a> {
    Server(ServerTrust<'a>),
    /// Only with a bootstrap token (the token signs what cluster-info says).
    Discovery(CaPin),
}

impl<'a> RecordTrust<'a> {
    /// The trust the TLS opener takes; `None` until discovery has found the CA.
    pub const fn server(&self) -> Option<ServerTrust<'a>> {
        match *self {
            RecordTrust::Server(t) => Some(t),
            RecordTrust::Discovery(_) => None,
        }
    }
}

impl<'a> From<ServerTrust<'a>> for RecordTrust<'a> {
    fn from(t: ServerTrust<'a>) -> Self {
        RecordTrust::Server(t)
    }
}

impl<'a> PartialEq<ServerTrust<'a>> for RecordTrust<'a> {
    fn eq(&self, other: &ServerTrust<'a>) -> bool {
        self.server() == Some(*other)
    }
}

/// Up to [`MAX_EXTRA_LABELS`] extra node labels, in record order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Labels<'a> {
    entries: [(&'a str, &'a str); MAX_EXTRA_LABELS],
    len: usize,
}

impl<'a> Labels<'a> {
    /// No labels.
    pub const EMPTY: Labels<'static> = Labels {
        entries: [("", ""); MAX_EXTRA_LABELS],
        len: 0,
    };

    /// Appends a label; `false` (and nothing stored) when all slots are taken.
    pub fn push(&mut self, key: &'a str, value: &'a str) -> bool {
        match self.entries.get_mut(self.len) {
            Some(slot) => {
                *slot = (key, value);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The labels as the node profile takes them.
    pub fn as_slice(&self) -> &[(&'a str, &'a str)] {
        self.entries.get(..self.len).unwrap_or(&[])
    }
}

impl Default for Labels<'_> {
    fn default() -> Self {
        Labels::EMPTY
    }
}

/// A parsed (or to-be-written) provisioning record. Every text and byte field borrows from the
/// record buffer. Only the `Option` fields, `port` and `labels` may be left at their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProvisionRecord<'a> {
    /// Absent on boards that use Ethernet only.
    pub wifi: Option<WifiCredentials<'a>>,
    /// API server: a lowercase DNS name, an IPv4 literal or an IPv6 literal (no brackets).
    pub host: &'a str,
    /// API server port; [`DEFAULT_API_PORT`] when the record has none.
    pub port: u16,
    /// The name the server certificate must carry when it differs from `host`.
    pub tls_server_name: Option<&'a str>,
    /// CA certificate (DER) or the explicit insecure flag, never both; or a CA hash
    /// (discovery, with a bootstrap token only).
    pub trust: RecordTrust<'a>,
    /// Visible ASCII, 1..=2048 bytes. Exactly one of `token`, `client_certificate` and
    /// `bootstrap_token`.
    pub token: Option<BearerToken<'a>>,
    /// The board's client certificate and key, instead of a token.
    pub client_certificate: Option<ClientCertificate<'a>>,
    /// kubelet TLS bootstrap: the token that asks for the board's own certificate (kept in
    /// the board's identity store, not in the record), so one record serves a whole fleet.
    pub bootstrap_token: Option<BootstrapToken<'a>>,
    /// When `None` the firmware derives a name from the MAC ([`super::derive_node_name`]).
    pub node_name: Option<NodeName<'a>>,
    /// When `None` the firmware uses the board it was built for.
    pub profile: Option<Chip>,
    pub labels: Labels<'a>,
    pub lease_renew_interval_secs: Option<u32>,
    pub status_interval_secs: Option<u32>,
    pub memory_pressure_below_bytes: Option<u32>,
}

impl<'a> ProvisionRecord<'a> {
    /// A record with the required fields and every optional one left out.
    pub const fn new(host: &'a str, trust: ServerTrust<'a>, token: BearerToken<'a>) -> Self {
        ProvisionRecord {
            wifi: None,
            host,
            port: DEFAULT_API_PORT,
            tls_server_name: None,
            trust: RecordTrust::Server(trust),
            token: Some(token),
            client_certificate: None,
            bootstrap_token: None,
            node_name: None,
            profile: None,
            labels: Labels::EMPTY,
            lease_renew_interval_secs: None,
            status_interval_secs: None,
            memory_pressure_below_bytes: None,
        }
    }

    /// Checks every field as [`parse`] does; [`write()`] calls it first.
    pub fn validate(&self) -> Result<(), RecordError> {
        if let Some(w) = self.wifi {
            check_len(Field::WifiSsid, w.ssid.len())?;
            check_len(Field::WifiPassword, w.password.len())?;
            check_wifi_password(w.password)?;
        }
        check_len(Field::ApiHost, self.host.len())?;
        check_host(Field::ApiHost, self.host)?;
        if self.port == 0 {
            return Err(invalid(Field::ApiPort, Problem::OutOfRange));
        }
        if let Some(name) = self.tls_server_name {
            check_len(Field::TlsServerName, name.len())?;
            check_host(Field::TlsServerName, name)?;
        }
        if let RecordTrust::Server(ServerTrust::Ca(der)) = self.trust {
            check_len(Field::CaCertificate, der.len())?;
            check_ca_shape(der)?;
        }
        match (self.token, self.client_certificate, self.bootstrap_token) {
            (Some(token), None, None) => {
                check_len(Field::BearerToken, token.expose().len())?;
                check_token(token.expose())?;
            }
            (None, Some(client), None) => check_client_certificate(client)?,
            (None, None, Some(token)) => {
                // A hand-built token is checked as parse checks the field.
                BootstrapToken::parse(token.expose())
                    .map_err(|_| invalid(Field::BootstrapToken, Problem::NotABootstrapToken))?;
            }
            (None, None, None) => return Err(RecordError::Missing(Field::BearerToken)),
            _ => return Err(RecordError::TwoIdentities),
        }
        if matches!(self.trust, RecordTrust::Discovery(_)) && self.bootstrap_token.is_none() {
            return Err(RecordError::DiscoveryWithoutBootstrapToken);
        }
        if let Some(name) = self.node_name {
            check_len(Field::NodeName, name.len())?;
            validate_dns_subdomain(name.as_str())
                .map_err(|e| invalid(Field::NodeName, Problem::Name(e)))?;
        }
        for (i, &(key, value)) in self.labels.as_slice().iter().enumerate() {
            let entry_len = key.len().saturating_add(1).saturating_add(value.len());
            check_len(Field::Label, entry_len)?;
            validate_node_label(key, value)
                .map_err(|e| invalid(Field::Label, Problem::Label { index: i, error: e }))?;
            let earlier = self.labels.as_slice().iter().take(i);
            if earlier.into_iter().any(|&(k, _)| k == key) {
                return Err(invalid(
                    Field::Label,
                    Problem::DuplicateLabelKey { index: i },
                ));
            }
        }
        for (field, v) in [
            (
                Field::LeaseRenewIntervalSecs,
                self.lease_renew_interval_secs,
            ),
            (Field::StatusIntervalSecs, self.status_interval_secs),
        ] {
            if v.is_some_and(|s| !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&s)) {
                return Err(invalid(field, Problem::OutOfRange));
            }
        }
        if self
            .memory_pressure_below_bytes
            .is_some_and(|b| !(MIN_MEMORY_PRESSURE_BYTES..=MAX_MEMORY_PRESSURE_BYTES).contains(&b))
        {
            return Err(invalid(
                Field::MemoryPressureBelowBytes,
                Problem::OutOfRange,
            ));
        }
        Ok(())
    }
}

/// What is wrong with one field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The value length is outside the field's range.
    Length { len: usize, min: usize, max: usize },
    /// A text field is not UTF-8.
    Utf8,
    /// A text field holds a character the field does not allow (a space or control byte in a
    /// token, non-printable ASCII in a Wi-Fi password).
    Char,
    /// Not a DNS name, an IPv4 literal or an IPv6 literal.
    Host(NameError),
    /// A node name that breaks the DNS-1123 rules.
    Name(NameError),
    /// The `index`th label (0-based, record order) is malformed or forbidden by NodeRestriction.
    Label { index: usize, error: LabelError },
    /// A label entry without `=` between key and value.
    LabelWithoutEquals { index: usize },
    /// The `index`th label repeats an earlier key.
    DuplicateLabelKey { index: usize },
    /// A number outside the field's range, a port of 0, a profile byte this version does not
    /// know, or an insecure flag other than 1.
    OutOfRange,
    /// The CA or client certificate is not a DER SEQUENCE (or not an X.509 certificate).
    NotDer,
    /// The client key is not a P-256 private key (zero, or not below the group order).
    NotAKey,
    /// The client certificate is not for the client key (another public key, or not P-256).
    KeyMismatch,
    /// Not `[a-z0-9]{6}.[a-z0-9]{16}` (kubeadm's bootstrap token format).
    NotABootstrapToken,
}

/// A [`Problem`] in its derived `Debug` shape, with the node name's and the label's own
/// sentences, written out by hand: the firmware's derived `Debug` is shallow (names only;
/// BENCHMARKS.md "Firmware size") and a board prints this when it refuses its record.
struct ProblemText(Problem);

impl fmt::Debug for ProblemText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Problem::Length { len, min, max } => f
                .debug_struct("Length")
                .field("len", &len)
                .field("min", &min)
                .field("max", &max)
                .finish(),
            Problem::Host(e) => write!(f, "Host({e})"),
            Problem::Name(e) => write!(f, "Name({e})"),
            Problem::Label { index, error } => {
                write!(f, "Label {{ index: {index}, error: {error} }}")
            }
            Problem::LabelWithoutEquals { index } => f
                .debug_struct("LabelWithoutEquals")
                .field("index", &index)
                .finish(),
            Problem::DuplicateLabelKey { index } => f
                .debug_struct("DuplicateLabelKey")
                .field("index", &index)
                .finish(),
            // No fields: the derived name is whole even when shallow.
            problem => fmt::Debug::fmt(&problem, f),
        }
    }
}

/// Why a record was refused (or could not be written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes than the header or the header's total length ask for.
    Truncated { needed: usize, available: usize },
    /// The first four bytes are not [`MAGIC`] (an erased partition reads `FF FF FF FF`).
    BadMagic,
    /// A format version this code does not read.
    UnsupportedVersion(u8),
    /// The reserved header byte is not 0.
    ReservedByte(u8),
    /// The total length is below the header plus CRC or above [`MAX_RECORD_LEN`].
    BadLength(usize),
    /// The CRC-32 over the record does not match the stored one.
    Crc { stored: u32, computed: u32 },
    /// The entry at `offset` runs past the end of the entries.
    EntryOverrun { offset: usize },
    /// A mandatory tag (high bit clear) this version does not know, at `offset`: written by a
    /// newer writer whose record this firmware cannot honour.
    UnknownMandatoryTag { tag: u8, offset: usize },
    /// A field appears twice (only [`Field::Label`] may repeat).
    Duplicate(Field),
    /// More than [`MAX_EXTRA_LABELS`] labels.
    TooManyLabels,
    /// A required field is absent ([`Field::CaCertificate`] stands for "CA or insecure flag").
    Missing(Field),
    /// A field's value is wrong.
    Invalid { field: Field, problem: Problem },
    /// A Wi-Fi password without an SSID.
    PasswordWithoutSsid,
    /// A CA and `insecure-skip-tls-verify` together: the user must pick one.
    CaWithInsecure,
    /// Two of token, client certificate and bootstrap token: a board has one identity.
    TwoIdentities,
    /// A CA hash together with a CA or the insecure flag: the user must pick one.
    CaHashWithCa,
    /// A CA hash without a bootstrap token: only the token can check what cluster-info says.
    DiscoveryWithoutBootstrapToken,
    /// The output buffer of [`write()`] is too small; `needed` bytes would do.
    BufferTooSmall { needed: usize },
    /// The record would exceed [`MAX_RECORD_LEN`].
    TooLarge { len: usize },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecordError::Truncated { needed, available } => {
                write!(f, "record truncated: {available} bytes, {needed} needed")
            }
            RecordError::BadMagic => f.write_str("no provisioning record (bad magic)"),
            RecordError::UnsupportedVersion(v) => {
                write!(f, "record format version {v} is not supported")
            }
            RecordError::ReservedByte(b) => write!(f, "reserved header byte is {b:#04x}, not 0"),
            RecordError::BadLength(l) => write!(f, "record length {l} is out of range"),
            RecordError::Crc { stored, computed } => {
                write!(
                    f,
                    "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            RecordError::EntryOverrun { offset } => {
                write!(f, "entry at {offset} runs past the end")
            }
            RecordError::UnknownMandatoryTag { tag, offset } => {
                write!(
                    f,
                    "unknown mandatory tag {tag:#04x} at {offset} (newer writer?)"
                )
            }
            RecordError::Duplicate(field) => write!(f, "{} appears twice", field.name()),
            RecordError::TooManyLabels => write!(f, "more than {MAX_EXTRA_LABELS} labels"),
            RecordError::Missing(Field::CaCertificate) => f.write_str(
                "none of ca-certificate, discovery-token-ca-cert-hash and \
                 insecure-skip-tls-verify is set",
            ),
            RecordError::Missing(Field::BearerToken) => {
                f.write_str("none of token, client-certificate and bootstrap-token is set")
            }
            RecordError::Missing(field) => write!(f, "{} is required", field.name()),
            RecordError::Invalid { field, problem } => {
                write!(f, "{}: {:?}", field.name(), ProblemText(problem))
            }
            RecordError::PasswordWithoutSsid => f.write_str("wifi-password without wifi-ssid"),
            RecordError::CaWithInsecure => {
                f.write_str("ca-certificate and insecure-skip-tls-verify exclude each other")
            }
            RecordError::TwoIdentities => f.write_str(
                "token, client-certificate and bootstrap-token exclude each other: a board has \
                 one identity",
            ),
            RecordError::CaHashWithCa => f.write_str(
                "discovery-token-ca-cert-hash excludes ca-certificate and \
                 insecure-skip-tls-verify: give the CA or its hash",
            ),
            RecordError::DiscoveryWithoutBootstrapToken => f.write_str(
                "discovery-token-ca-cert-hash needs a bootstrap-token, which signs the \
                 cluster-info it checks",
            ),
            RecordError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            RecordError::TooLarge { len } => {
                write!(f, "record of {len} bytes exceeds {MAX_RECORD_LEN}")
            }
        }
    }
}

const fn invalid(field: Field, problem: Problem) -> RecordError {
    RecordError::Invalid { field, problem }
}

fn check_len(field: Field, len: usize) -> Result<(), RecordError> {
    let (min, max) = field.len_bounds();
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(invalid(field, Problem::Length { len, min, max }))
    }
}

fn check_wifi_password(p: &str) -> Result<(), RecordError> {
    if p.is_empty() {
        return Ok(());
    }
    if p.len() < MIN_WIFI_PASSWORD_LEN {
        return Err(invalid(
            Field::WifiPassword,
            Problem::Length {
                len: p.len(),
                min: MIN_WIFI_PASSWORD_LEN,
                max: MAX_WIFI_PASSWORD_LEN,
            },
        ));
    }
    if !p.bytes().all(|b| matches!(b, 0x20..=0x7e)) {
        return Err(invalid(Field::WifiPassword, Problem::Char));
    }
    Ok(())
}

fn check_host(field: Field, host: &str) -> Result<(), RecordError> {
    if host.parse::<Ipv4Addr>().is_ok() || host.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    validate_dns_subdomain(host).map_err(|e| invalid(field, Problem::Host(e)))
}

fn check_token(token: &str) -> Result<(), RecordError> {
    if token.bytes().all(|b| matches!(b, 0x21..=0x7e)) {
        Ok(())
    } else {
        Err(invalid(Field::BearerToken, Problem::Char))
    }
}

/// A shape check only (the verifier parses the certificate when it uses it): a DER SEQUENCE.
fn check_ca_shape(der: &[u8]) -> Result<(), RecordError> {
    if der.first() == Some(&0x30) {
        Ok(())
    } else {
        Err(invalid(Field::CaCertificate, Problem::NotDer))
    }
}

/// The key is a P-256 scalar and the certificate is for its public key.
fn check_client_certificate(client: ClientCertificate<'_>) -> Result<(), RecordError> {
    check_len(Field::ClientCertificate, client.certificate_der.len())?;
    let key = client
        .signing_key()
        .ok_or(invalid(Field::ClientKey, Problem::NotAKey))?;
    let cert = crate::tls::x509::parse(client.certificate_der)
        .map_err(|_| invalid(Field::ClientCertificate, Problem::NotDer))?;
    match cert.key {
        crate::tls::x509::PublicKey::P256(point)
            if key.verifying_key().to_encoded_point(false).as_bytes() == point =>
        {
            Ok(())
        }
        _ => Err(invalid(Field::ClientCertificate, Problem::KeyMismatch)),
    }
}

fn text(field: Field, value: &[u8]) -> Result<&str, RecordError> {
    core::str::from_utf8(value).map_err(|_| invalid(field, Problem::Utf8))
}

fn u32_le(field: Field, value: &[u8]) -> Result<u32, RecordError> {
    let arr: [u8; 4] = value.try_into().map_err(|_| {
        invalid(
            field,
            Problem::Length {
                len: value.len(),
                min: 4,
                max: 4,
            },
        )
    })?;
    Ok(u32::from_le_bytes(arr))
}

fn u16_le(bytes: &[u8], at: usize) -> Option<u16> {
    let lo = *bytes.get(at)?;
    let hi = *bytes.get(at.checked_add(1)?)?;
    Some(u16::from_le_bytes([lo, hi]))
}

/// Parses and checks a record. `bytes` may be longer than the record (a flash partition read
/// whole): only the header's total length is used. Zero-copy: the result borrows `bytes`.
pub fn parse(bytes: &[u8]) -> Result<ProvisionRecord<'_>, RecordError> {
    let available = bytes.len();
    let head = bytes.get(..HEADER_LEN).ok_or(RecordError::Truncated {
        needed: HEADER_LEN,
        available,
    })?;
    if head.get(..4) != Some(&MAGIC[..]) {
        return Err(RecordError::BadMagic);
    }
    let version = head.get(4).copied().unwrap_or(0);
    if version != FORMAT_VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    let reserved = head.get(5).copied().unwrap_or(0);
    if reserved != 0 {
        return Err(RecordError::ReservedByte(reserved));
    }
    let total = usize::from(u16_le(head, 6).unwrap_or(0));
    if !(HEADER_LEN + CRC_LEN..=MAX_RECORD_LEN).contains(&total) {
        return Err(RecordError::BadLength(total));
    }
    let record = bytes.get(..total).ok_or(RecordError::Truncated {
        needed: total,
        available,
    })?;
    let body_end = total - CRC_LEN;
    let (covered, crc_bytes) = record.split_at(body_end);
    let stored = crc_bytes.try_into().map(u32::from_le_bytes).unwrap_or(0);
    let computed = crc32(covered);
    if stored != computed {
        return Err(RecordError::Crc { stored, computed });
    }
    let entries = covered.get(HEADER_LEN..).unwrap_or(&[]);
    parse_entries(entries)
}

/// What the entries said, before the required-field checks.
#[derive(Default)]
struct Seen<'a> {
    ssid: Option<&'a str>,
    password: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<u16>,
    tls_server_name: Option<&'a str>,
    ca: Option<&'a [u8]>,
    insecure: bool,
    token: Option<&'a str>,
    client_cert: Option<&'a [u8]>,
    client_key: Option<&'a [u8; CLIENT_KEY_LEN]>,
    bootstrap_token: Option<BootstrapToken<'a>>,
    ca_pin: Option<CaPin>,
    node_name: Option<NodeName<'a>>,
    profile: Option<Chip>,
    labels: Labels<'a>,
    lease_renew: Option<u32>,
    status: Option<u32>,
    memory: Option<u32>,
}

fn set_once<T>(slot: &mut Option<T>, field: Field, value: T) -> Result<(), RecordError> {
    if slot.is_some() {
        return Err(RecordError::Duplicate(field));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_entries(entries: &[u8]) -> Result<ProvisionRecord<'_>, RecordError> {
    let mut seen = Seen::default();
    let mut at = 0usize;
    while at < entries.len() {
        let offset = HEADER_LEN.saturating_add(at);
        let overrun = RecordError::EntryOverrun { offset };
        let tag = *entries.get(at).ok_or(overrun)?;
        let len = usize::from(u16_le(entries, at.saturating_add(1)).ok_or(overrun)?);
        let start = at.saturating_add(ENTRY_HEAD_LEN);
        let end = start.saturating_add(len);
        let value = entries.get(start..end).ok_or(overrun)?;
        at = end;
        let Some(field) = Field::from_tag(tag) else {
            if tag & OPTIONAL_TAG_BIT != 0 {
                continue;
            }
            return Err(RecordError::UnknownMandatoryTag { tag, offset });
        };
        check_len(field, value.len())?;
        read_field(&mut seen, field, value)?;
    }
    finish(seen)
}

fn read_field<'a>(seen: &mut Seen<'a>, field: Field, value: &'a [u8]) -> Result<(), RecordError> {
    match field {
        Field::WifiSsid => set_once(&mut seen.ssid, field, text(field, value)?),
        Field::WifiPassword => set_once(&mut seen.password, field, text(field, value)?),
        Field::ApiHost => set_once(&mut seen.host, field, text(field, value)?),
        Field::ApiPort => set_once(&mut seen.port, field, u16_le(value, 0).unwrap_or(0)),
        Field::TlsServerName => set_once(&mut seen.tls_server_name, field, text(field, value)?),
        Field::CaCertificate => set_once(&mut seen.ca, field, value),
        Field::BearerToken => set_once(&mut seen.token, field, text(field, value)?),
        Field::ClientCertificate => set_once(&mut seen.client_cert, field, value),
        Field::ClientKey => {
            let key = <&[u8; CLIENT_KEY_LEN]>::try_from(value).map_err(|_| {
                invalid(
                    field,
                    Problem::Length {
                        len: value.len(),
                        min: CLIENT_KEY_LEN,
                        max: CLIENT_KEY_LEN,
                    },
                )
            })?;
            set_once(&mut seen.client_key, field, key)
        }
        Field::BootstrapToken => {
            let token = BootstrapToken::parse(text(field, value)?)
                .map_err(|_| invalid(field, Problem::NotABootstrapToken))?;
            set_once(&mut seen.bootstrap_token, field, token)
        }
        Field::DiscoveryCaCertHash => {
            let hash = <[u8; CA_PIN_LEN]>::try_from(value).map_err(|_| {
                invalid(
                    field,
                    Problem::Length {
                        len: value.len(),
                        min: CA_PIN_LEN,
                        max: CA_PIN_LEN,
                    },
                )
            })?;
            set_once(&mut seen.ca_pin, field, CaPin(hash))
        }
        Field::NodeName => {
            let name =
                NodeName::new(text(field, value)?).map_err(|e| invalid(field, Problem::Name(e)))?;
            set_once(&mut seen.node_name, field, name)
        }
        Field::Profile => {
            let p = value
                .first()
                .and_then(|&b| Chip::from_record_byte(b))
                .ok_or(invalid(field, Problem::OutOfRange))?;
            set_once(&mut seen.profile, field, p)
        }
        Field::Label => {
            let index = seen.labels.as_slice().len();
            let entry = text(field, value)?;
            let (key, val) = entry
                .split_once('=')
                .ok_or(invalid(field, Problem::LabelWithoutEquals { index }))?;
            if seen.labels.push(key, val) {
                Ok(())
            } else {
                Err(RecordError::TooManyLabels)
            }
        }
        Field::LeaseRenewIntervalSecs => {
            set_once(&mut seen.lease_renew, field, u32_le(field, value)?)
        }
        Field::StatusIntervalSecs => set_once(&mut seen.status, field, u32_le(field, value)?),
        Field::MemoryPressureBelowBytes => set_once(&mut seen.memory, field, u32_le(field, value)?),
        Field::InsecureSkipTlsVerify => {
            if seen.insecure {
                return Err(RecordError::Duplicate(field));
            }
            if value != [1] {
                return Err(invalid(field, Problem::OutOfRange));
            }
            seen.insecure = true;
            Ok(())
        }
    }
}

fn finish(seen: Seen<'_>) -> Result<ProvisionRecord<'_>, RecordError> {
    let host = seen.host.ok_or(RecordError::Missing(Field::ApiHost))?;
    let client_certificate = match (seen.client_cert, seen.client_key) {
        (Some(certificate_der), Some(key)) => Some(ClientCertificate {
            certificate_der,
            key,
        }),
        (Some(_), None) => return Err(RecordError::Missing(Field::ClientKey)),
        (None, Some(_)) => return Err(RecordError::Missing(Field::ClientCertificate)),
        (None, None) => None,
    };
    let trust = match (seen.ca, seen.insecure, seen.ca_pin) {
        (Some(_), true, _) => return Err(RecordError::CaWithInsecure),
        (Some(_), false, Some(_)) | (None, true, Some(_)) => return Err(RecordError::CaHashWithCa),
        (Some(der), false, None) => RecordTrust::Server(ServerTrust::Ca(der)),
        (None, true, None) => RecordTrust::Server(ServerTrust::InsecureSkipVerify),
        (None, false, Some(pin)) => RecordTrust::Discovery(pin),
        (None, false, None) => return Err(RecordError::Missing(Field::CaCertificate)),
    };
    let wifi = match (seen.ssid, seen.password) {
        (Some(ssid), password) => Some(WifiCredentials {
            ssid,
            password: password.unwrap_or(""),
        }),
        (None, Some(_)) => return Err(RecordError::PasswordWithoutSsid),
        (None, None) => None,
    };
    let record = ProvisionRecord {
        wifi,
        host,
        port: seen.port.unwrap_or(DEFAULT_API_PORT),
        tls_server_name: seen.tls_server_name,
        trust,
        token: seen.token.map(BearerToken::new),
        client_certificate,
        bootstrap_token: seen.bootstrap_token,
        node_name: seen.node_name,
        profile: seen.profile,
        labels: seen.labels,
        lease_renew_interval_secs: seen.lease_renew,
        status_interval_secs: seen.status,
        memory_pressure_below_bytes: seen.memory,
    };
    record.validate()?;
    Ok(record)
}

/// Appends entries to a buffer, counting what it would need when the buffer is too small.
struct Out<'o> {
    buf: &'o mut [u8],
    len: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    fn entry(&mut self, field: Field, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        // Bounded by validate(): every value is at most MAX_CA_LEN / MAX_TOKEN_LEN bytes.
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        self.put(&[field.tag()]);
        self.put(&len16.to_le_bytes());
        for p in parts {
            self.put(p);
        }
    }
}

/// Validates `record` and writes it into `out` in canonical order (tags ascending, labels in
/// order, the port left out when it is [`DEFAULT_API_PORT`]). Returns the record length.
pub fn write(record: &ProvisionRecord<'_>, out: &mut [u8]) -> Result<usize, RecordError> {
    record.validate()?;
    let mut o = Out {
        buf: out,
        len: HEADER_LEN,
    };
    if let Some(w) = record.wifi {
        o.entry(Field::WifiSsid, &[w.ssid.as_bytes()]);
        if !w.password.is_empty() {
            o.entry(Field::WifiPassword, &[w.password.as_bytes()]);
        }
    }
    o.entry(Field::ApiHost, &[record.host.as_bytes()]);
    if record.port != DEFAULT_API_PORT {
        o.entry(Field::ApiPort, &[&record.port.to_le_bytes()]);
    }
    if let Some(name) = record.tls_server_name {
        o.entry(Field::TlsServerName, &[name.as_bytes()]);
    }
    if let RecordTrust::Server(ServerTrust::Ca(der)) = record.trust {
        o.entry(Field::CaCertificate, &[der]);
    }
    if let Some(token) = record.token {
        o.entry(Field::BearerToken, &[token.expose().as_bytes()]);
    }
    if let Some(name) = record.node_name {
        o.entry(Field::NodeName, &[name.as_str().as_bytes()]);
    }
    if let Some(p) = record.profile {
        o.entry(Field::Profile, &[&[p.record_byte()]]);
    }
    for &(key, value) in record.labels.as_slice() {
        o.entry(Field::Label, &[key.as_bytes(), b"=", value.as_bytes()]);
    }
    for (field, v) in [
        (
            Field::LeaseRenewIntervalSecs,
            record.lease_renew_interval_secs,
        ),
        (Field::StatusIntervalSecs, record.status_interval_secs),
        (
            Field::MemoryPressureBelowBytes,
            record.memory_pressure_below_bytes,
        ),
    ] {
        if let Some(v) = v {
            o.entry(field, &[&v.to_le_bytes()]);
        }
    }
    if record.trust == RecordTrust::Server(ServerTrust::InsecureSkipVerify) {
        o.entry(Field::InsecureSkipTlsVerify, &[&[1]]);
    }
    if let Some(client) = record.client_certificate {
        o.entry(Field::ClientCertificate, &[client.certificate_der]);
        o.entry(Field::ClientKey, &[client.key]);
    }
    if let Some(token) = record.bootstrap_token {
        o.entry(Field::BootstrapToken, &[token.expose().as_bytes()]);
    }
    if let RecordTrust::Discovery(pin) = record.trust {
        o.entry(Field::DiscoveryCaCertHash, &[&pin.0]);
    }
    let total = o.len.saturating_add(CRC_LEN);
    if total > MAX_RECORD_LEN {
        return Err(RecordError::TooLarge { len: total });
    }
    if total > o.buf.len() {
        return Err(RecordError::BufferTooSmall { needed: total });
    }
    let total16 = u16::try_from(total).map_err(|_| RecordError::TooLarge { len: total })?;
    let mut header = [0u8; HEADER_LEN];
    if let Some(m) = header.get_mut(..4) {
        m.copy_from_slice(&MAGIC);
    }
    if let Some(v) = header.get_mut(4) {
        *v = FORMAT_VERSION;
    }
    if let Some(l) = header.get_mut(6..8) {
        l.copy_from_slice(&total16.to_le_bytes());
    }
    o.len = 0;
    o.put(&header);
    let body_end = total - CRC_LEN;
    let crc = crc32(o.buf.get(..body_end).unwrap_or(&[]));
    o.len = body_end;
    o.put(&crc.to_le_bytes());
    Ok(total)
}

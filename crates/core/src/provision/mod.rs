//! The provisioning record: the board's runtime configuration, stored in a flash partition (or a
//! file) so one firmware image serves every board. The host's `picokubelet provision` writes it
//! with [`write()`]; the firmware reads it with [`parse`] and turns it into an
//! [`AgentConfig`](crate::agent::config::AgentConfig) with [`ProvisionRecord::agent_config`].
//!
//! # Byte layout (version 1; all integers little-endian)
//!
//! | offset    | size | content                                                        |
//! |-----------|------|----------------------------------------------------------------|
//! | 0         | 4    | magic `PKCF`                                                   |
//! | 4         | 1    | format version, 1                                              |
//! | 5         | 1    | reserved, 0                                                    |
//! | 6         | 2    | total length `T` of the record, header and CRC included        |
//! | 8         | …    | entries: tag (u8), value length `L` (u16), `L` bytes of value  |
//! | `T` − 4   | 4    | CRC-32 (IEEE, as zlib) of bytes `0..T-4`                       |
//!
//! `T` is 12..=[`MAX_RECORD_LEN`] (8192). Bytes after `T` are ignored (the rest of a flash
//! partition). Every known field at its maximum gives 6 584 bytes (tested; token and client
//! certificate exclude each other, so the larger identity counts), which leaves 1 608 bytes for
//! optional fields of newer writers. Entries, with their value lengths:
//!
//! | tag  | field                          | value                                              |
//! |------|--------------------------------|----------------------------------------------------|
//! | 0x01 | wifi-ssid                      | UTF-8, 1..=32                                      |
//! | 0x02 | wifi-password                  | printable ASCII, 8..=63 (absent or empty: open)    |
//! | 0x03 | api-host **(required)**        | lowercase DNS name, IPv4 or IPv6 literal, ≤ 253    |
//! | 0x04 | api-port                       | u16, not 0 (absent: 6443)                          |
//! | 0x05 | tls-server-name                | as api-host                                        |
//! | 0x06 | ca-certificate                 | DER (starts with 0x30), 1..=2048                   |
//! | 0x07 | token                          | visible ASCII, 1..=2048                            |
//! | 0x08 | node-name                      | DNS-1123 subdomain, ≤ 253 (absent: `<chip>-<mac>`) |
//! | 0x09 | profile (a `k8s::chip::Chip`)  | u8: 0 esp32s3, 1 esp32c6, 2 esp32c3                |
//! | 0x0A | label (repeatable, ≤ 4)        | `key=value`, ≤ 381, NodeRestriction-allowed key    |
//! | 0x0B | lease-renew-interval           | u32 seconds, 1..=86400                             |
//! | 0x0C | status-interval                | u32 seconds, 1..=86400                             |
//! | 0x0D | memory-pressure-below-bytes    | u32, 1..=16 MiB                                    |
//! | 0x0E | insecure-skip-tls-verify       | u8, exactly 1                                      |
//! | 0x0F | client-certificate             | DER X.509 for the client-key's P-256 key, 1..=2048 |
//! | 0x10 | client-key                     | P-256 private scalar, big-endian, exactly 32       |
//! | 0x11 | bootstrap-token                | `[a-z0-9]{6}.[a-z0-9]{16}`, exactly 23             |
//! | 0x12 | discovery-token-ca-cert-hash   | SHA-256 of the CA's SubjectPublicKeyInfo, 32       |
//!
//! Exactly one of ca-certificate, insecure-skip-tls-verify and discovery-token-ca-cert-hash
//! is required (the hash only with a bootstrap token: kubeadm-join style, the CA comes from
//! `kube-public/cluster-info`, whose signature the token checks), and exactly one identity:
//! token, client-certificate with client-key, or bootstrap-token (kubelet TLS bootstrap: the
//! board asks for its own certificate and keeps it in its identity store, so one record serves
//! a fleet). These tags came in the same format version: they are mandatory, so a firmware
//! that predates them refuses such a record instead of running without an identity; every
//! older record reads as before. Every field but
//! label appears at most once. Entries may come in any order; [`write()`] writes them by tag.
//!
//! # Forward compatibility
//!
//! A newer writer may add tags. Tags with the high bit set (0x80..=0xFF) are **optional**: a
//! reader that does not know them skips them (a nicety such as an LED colour). Unknown tags
//! below 0x80 are **mandatory** and refuse the record
//! ([`RecordError::UnknownMandatoryTag`]): the board must not run with a setting it cannot
//! honour (a second CA, a client certificate). A change of the header or of an existing
//! field's meaning bumps the format version, which older readers refuse.
//!
//! The CRC is `crc32` below, a bitwise table-free implementation (no dependency).
mod agent;
mod crc32;
mod partition;
mod record;

pub use agent::{
    derive_node_name, AgentParts, AgentStrings, Cadence, HostHeaderBuf, NodeNameBuf,
    MAX_HOST_HEADER_LEN,
};
pub use crc32::crc32;
pub use partition::{
    IDENTITY_PARTITION_NAME, IDENTITY_PARTITION_OFFSET, IDENTITY_PARTITION_SIZE, PARTITION_NAME,
    PARTITION_OFFSET, PARTITION_SIZE,
};
pub use record::*;

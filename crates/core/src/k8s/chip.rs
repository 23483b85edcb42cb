//! The chips the agent runs on, and what each one makes the Node say: the one table of chip
//! facts (the record's profile byte, the host's `--profile`, the firmware's board profiles and
//! the Node's `kubernetes.io/arch` / `node.kubernetes.io/instance-type` all read it).

/// An ESP32 chip the agent supports. The discriminant is the provisioning record's profile byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chip {
    /// ESP32-S3 (Xtensa LX7), e.g. the Waveshare ESP32-S3-ETH.
    Esp32s3 = 0,
    /// ESP32-C6 (RISC-V).
    Esp32c6 = 1,
    /// ESP32-C3 (RISC-V).
    Esp32c3 = 2,
}

impl Chip {
    /// Every chip, in record-byte order.
    pub const ALL: [Chip; 3] = [Chip::Esp32s3, Chip::Esp32c6, Chip::Esp32c3];

    /// The chip's name: `node.kubernetes.io/instance-type`, the prefix of a node name derived
    /// from the MAC (`<chip>-<mac>`), and the host's `--profile` value.
    pub const fn name(self) -> &'static str {
        match self {
            Chip::Esp32s3 => "esp32s3",
            Chip::Esp32c6 => "esp32c6",
            Chip::Esp32c3 => "esp32c3",
        }
    }

    /// `kubernetes.io/arch` and `nodeInfo.architecture`.
    pub const fn architecture(self) -> &'static str {
        match self {
            Chip::Esp32s3 => "xtensa",
            Chip::Esp32c6 | Chip::Esp32c3 => "riscv32",
        }
    }

    /// One line for help texts.
    pub const fn description(self) -> &'static str {
        match self {
            Chip::Esp32s3 => "ESP32-S3 (Xtensa), e.g. Waveshare ESP32-S3-ETH",
            Chip::Esp32c6 => "ESP32-C6 (RISC-V)",
            Chip::Esp32c3 => "ESP32-C3 (RISC-V)",
        }
    }

    /// The provisioning record's profile byte.
    pub const fn record_byte(self) -> u8 {
        self as u8
    }

    /// The chip a record's profile byte names, if this version knows it.
    pub fn from_record_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.record_byte() == b)
    }

    /// The chip called `name` (see [`Chip::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::Chip;

    #[test]
    fn bytes_and_names_round_trip() {
        for chip in Chip::ALL {
            assert_eq!(Chip::from_record_byte(chip.record_byte()), Some(chip));
            assert_eq!(Chip::from_name(chip.name()), Some(chip));
        }
        assert_eq!(Chip::from_record_byte(3), None);
        assert_eq!(Chip::from_name("esp32"), None);
        assert_eq!(
            Chip::ALL.map(Chip::architecture),
            ["xtensa", "riscv32", "riscv32"]
        );
    }
}

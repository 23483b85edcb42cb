//! The error every body builder returns, and the label slot it names.
use core::fmt;

use crate::conditions::ConditionType;
use crate::json::writer::JsonError;
use crate::k8s::label::LabelError;

/// Which label of a Node body an error is about.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LabelSlot {
    /// `kubernetes.io/arch` (from the profile's architecture).
    Arch,
    /// `kubernetes.io/os`.
    Os,
    /// `node.kubernetes.io/instance-type`.
    InstanceType,
    /// The profile's taint (key and value follow label rules).
    Taint,
    /// `extra_labels[i]`.
    Extra(usize),
}

// By hand, in the derived shape: the firmware's derived `Debug` is shallow (BENCHMARKS.md
// "Firmware size") and would drop the index `BodyError`'s sentence names.
impl fmt::Debug for LabelSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            LabelSlot::Extra(i) => return f.debug_tuple("Extra").field(i).finish(),
            LabelSlot::Arch => "Arch",
            LabelSlot::Os => "Os",
            LabelSlot::InstanceType => "InstanceType",
            LabelSlot::Taint => "Taint",
        };
        f.write_str(name)
    }
}

/// Why a body builder wrote nothing usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The buffer is too small, or (a bug) the builder wrote unbalanced JSON.
    Json(JsonError),
    /// A label (or the taint) is malformed or forbidden for a node.
    Label { slot: LabelSlot, error: LabelError },
    /// Two labels have the same key (the server would keep only one).
    DuplicateLabel { slot: LabelSlot },
    /// More extra labels than the builder's stated maximum.
    TooManyLabels { count: usize, max: usize },
    /// A text field is longer (JSON-escaped) than the builder allows; `field` is its JSON path.
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// Two conditions of one type (the list is keyed by `type`).
    DuplicateCondition(ConditionType),
    /// A resource quantity (capacity/allocatable) is not a Kubernetes quantity.
    InvalidQuantity { field: &'static str },
    /// A number outside what the field accepts (e.g. leaseDurationSeconds of 0).
    OutOfRange { field: &'static str },
    /// A text field that must hold a name or UID does not (e.g. an empty owner UID).
    Invalid { field: &'static str },
}

impl From<JsonError> for BodyError {
    fn from(e: JsonError) -> Self {
        BodyError::Json(e)
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Json(e) => write!(f, "{e}"),
            BodyError::Label { slot, error } => write!(f, "label {slot:?}: {error}"),
            BodyError::DuplicateLabel { slot } => write!(f, "label {slot:?} repeats a key"),
            BodyError::TooManyLabels { count, max } => {
                write!(f, "{count} extra labels, at most {max} allowed")
            }
            BodyError::TooLong { field, len, max } => {
                write!(f, "{field} is {len} bytes (escaped), at most {max} allowed")
            }
            BodyError::DuplicateCondition(t) => {
                write!(f, "condition {} appears twice", t.as_str())
            }
            BodyError::InvalidQuantity { field } => write!(f, "{field} is not a quantity"),
            BodyError::OutOfRange { field } => write!(f, "{field} is out of range"),
            BodyError::Invalid { field } => write!(f, "{field} is not valid"),
        }
    }
}

/// Fails with [`BodyError::TooLong`] when `s`, JSON-escaped, is longer than `max` bytes.
pub(crate) fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), BodyError> {
    let len = crate::json::writer::escaped_len(s);
    if len > max {
        Err(BodyError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}

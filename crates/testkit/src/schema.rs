//! The Go types behind the objects this server stores, as far as their JSON form shows.
//!
//! The apiserver decodes a body into Go structs and encodes the struct again, so what a client gets
//! back has the struct's field order, drops unknown fields, omits `omitempty` zero values, prints
//! non-`omitempty` zero values (`"Port":0`, empty `nodeInfo` strings, `"eventTime":null`), sorts map
//! keys, truncates `metav1.Time` to seconds, prints `MicroTime` with six digits and canonicalises
//! quantities. [`normalize`] reproduces that from these tables. The tables also carry what the
//! strategic merge patch and the managed-fields tracker need: list types and merge keys.

use serde_json::{Map, Number, Value};

use crate::clock::{format_micro_time, format_time, parse_rfc3339};

/// The JSON-visible type of a field.
#[derive(Debug)]
pub enum Ty {
    /// `string`
    Str,
    /// `int32`/`int64`
    Int,
    /// `bool`
    Bool,
    /// `metav1.Time`: RFC 3339, seconds.
    Time,
    /// `metav1.MicroTime`: RFC 3339, microseconds.
    MicroTime,
    /// `map[string]string`
    StrMap,
    /// `v1.ResourceList` (`map[ResourceName]resource.Quantity`)
    QtyMap,
    /// A struct.
    Struct(&'static StructDef),
    /// A slice.
    List(&'static Ty, ListKind),
    /// Anything this server does not model: kept as sent.
    Raw,
}

/// `x-kubernetes-list-type` plus the strategic-merge strategy.
#[derive(Debug, Clone, Copy)]
pub enum ListKind {
    /// Replaced as a whole.
    Atomic,
    /// Associative list keyed by these fields; merged by the first key in strategic merge patches.
    Map(&'static [&'static str]),
    /// A set of scalars, merged in strategic merge patches.
    Set,
}

/// Go's JSON tag semantics for a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Presence {
    /// No `omitempty` on a value type: the zero value is printed.
    Always,
    /// `omitempty` on a value type: omitted when zero (structs and `metav1.Time` are never omitted).
    OmitEmpty,
    /// A pointer with `omitempty`: printed exactly when set.
    Optional,
}

/// One struct field.
#[derive(Debug)]
pub struct Field {
    /// JSON name.
    pub name: &'static str,
    /// Type.
    pub ty: Ty,
    /// Tag semantics.
    pub presence: Presence,
}

/// A Go struct.
#[derive(Debug)]
pub struct StructDef {
    /// Go type name, for decode error messages.
    pub go_name: &'static str,
    /// Fields in declaration order (the order they are printed in).
    pub fields: &'static [Field],
    /// `+structType=atomic`: owned and replaced as a whole.
    pub atomic: bool,
}

impl StructDef {
    /// Looks a field up by JSON name.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn f(name: &'static str, ty: Ty, presence: Presence) -> Field {
    Field { name, ty, presence }
}

use Presence::{Always, OmitEmpty, Optional};

/// `metav1.OwnerReference`
pub static OWNER_REFERENCE: StructDef = StructDef {
    go_name: "OwnerReference",
    atomic: true,
    fields: &[
        f("apiVersion", Ty::Str, Always),
        f("kind", Ty::Str, Always),
        f("name", Ty::Str, Always),
        f("uid", Ty::Str, Always),
        f("controller", Ty::Bool, Optional),
        f("blockOwnerDeletion", Ty::Bool, Optional),
    ],
};

/// `metav1.ObjectMeta`
pub static OBJECT_META: StructDef = StructDef {
    go_name: "ObjectMeta",
    atomic: false,
    fields: &[
        f("name", Ty::Str, OmitEmpty),
        f("generateName", Ty::Str, OmitEmpty),
        f("namespace", Ty::Str, OmitEmpty),
        f("selfLink", Ty::Str, OmitEmpty),
        f("uid", Ty::Str, OmitEmpty),
        f("resourceVersion", Ty::Str, OmitEmpty),
        f("generation", Ty::Int, OmitEmpty),
        f("creationTimestamp", Ty::Time, OmitEmpty),
        f("deletionTimestamp", Ty::Time, Optional),
        f("deletionGracePeriodSeconds", Ty::Int, Optional),
        f("labels", Ty::StrMap, OmitEmpty),
        f("annotations", Ty::StrMap, OmitEmpty),
        f(
            "ownerReferences",
            Ty::List(&Ty::Struct(&OWNER_REFERENCE), ListKind::Map(&["uid"])),
            OmitEmpty,
        ),
        f("finalizers", Ty::List(&Ty::Str, ListKind::Set), OmitEmpty),
        f(
            "managedFields",
            Ty::List(&Ty::Raw, ListKind::Atomic),
            OmitEmpty,
        ),
    ],
};

static TAINT: StructDef = StructDef {
    go_name: "Taint",
    atomic: false,
    fields: &[
        f("key", Ty::Str, Always),
        f("value", Ty::Str, OmitEmpty),
        f("effect", Ty::Str, Always),
        f("timeAdded", Ty::Time, Optional),
    ],
};

static NODE_SPEC: StructDef = StructDef {
    go_name: "NodeSpec",
    atomic: false,
    fields: &[
        f("podCIDR", Ty::Str, OmitEmpty),
        f("podCIDRs", Ty::List(&Ty::Str, ListKind::Set), OmitEmpty),
        f("providerID", Ty::Str, OmitEmpty),
        f("unschedulable", Ty::Bool, OmitEmpty),
        f(
            "taints",
            Ty::List(&Ty::Struct(&TAINT), ListKind::Atomic),
            OmitEmpty,
        ),
        f("configSource", Ty::Raw, Optional),
        f("externalID", Ty::Str, OmitEmpty),
    ],
};

static NODE_CONDITION: StructDef = StructDef {
    go_name: "NodeCondition",
    atomic: false,
    fields: &[
        f("type", Ty::Str, Always),
        f("status", Ty::Str, Always),
        f("lastHeartbeatTime", Ty::Time, OmitEmpty),
        f("lastTransitionTime", Ty::Time, OmitEmpty),
        f("reason", Ty::Str, OmitEmpty),
        f("message", Ty::Str, OmitEmpty),
    ],
};

static NODE_ADDRESS: StructDef = StructDef {
    go_name: "NodeAddress",
    atomic: false,
    fields: &[f("type", Ty::Str, Always), f("address", Ty::Str, Always)],
};

static DAEMON_ENDPOINT: StructDef = StructDef {
    go_name: "DaemonEndpoint",
    atomic: false,
    fields: &[f("Port", Ty::Int, Always)],
};

static NODE_DAEMON_ENDPOINTS: StructDef = StructDef {
    go_name: "NodeDaemonEndpoints",
    atomic: false,
    fields: &[f(
        "kubeletEndpoint",
        Ty::Struct(&DAEMON_ENDPOINT),
        OmitEmpty,
    )],
};

static NODE_SYSTEM_INFO: StructDef = StructDef {
    go_name: "NodeSystemInfo",
    atomic: false,
    fields: &[
        f("machineID", Ty::Str, Always),
        f("systemUUID", Ty::Str, Always),
        f("bootID", Ty::Str, Always),
        f("kernelVersion", Ty::Str, Always),
        f("osImage", Ty::Str, Always),
        f("containerRuntimeVersion", Ty::Str, Always),
        f("kubeletVersion", Ty::Str, Always),
        f("kubeProxyVersion", Ty::Str, Always),
        f("operatingSystem", Ty::Str, Always),
        f("architecture", Ty::Str, Always),
        f("swap", Ty::Raw, Optional),
    ],
};

static NODE_STATUS: StructDef = StructDef {
    go_name: "NodeStatus",
    atomic: false,
    fields: &[
        f("capacity", Ty::QtyMap, OmitEmpty),
        f("allocatable", Ty::QtyMap, OmitEmpty),
        f("phase", Ty::Str, OmitEmpty),
        f(
            "conditions",
            Ty::List(&Ty::Struct(&NODE_CONDITION), ListKind::Map(&["type"])),
            OmitEmpty,
        ),
        f(
            "addresses",
            Ty::List(&Ty::Struct(&NODE_ADDRESS), ListKind::Map(&["type"])),
            OmitEmpty,
        ),
        f(
            "daemonEndpoints",
            Ty::Struct(&NODE_DAEMON_ENDPOINTS),
            OmitEmpty,
        ),
        f("nodeInfo", Ty::Struct(&NODE_SYSTEM_INFO), OmitEmpty),
        f("images", Ty::List(&Ty::Raw, ListKind::Atomic), OmitEmpty),
        f(
            "volumesInUse",
            Ty::List(&Ty::Str, ListKind::Atomic),
            OmitEmpty,
        ),
        f(
            "volumesAttached",
            Ty::List(&Ty::Raw, ListKind::Atomic),
            OmitEmpty,
        ),
        f("config", Ty::Raw, Optional),
        f(
            "runtimeHandlers",
            Ty::List(&Ty::Raw, ListKind::Atomic),
            OmitEmpty,
        ),
        f("features", Ty::Raw, Optional),
        f(
            "declaredFeatures",
            Ty::List(&Ty::Str, ListKind::Atomic),
            OmitEmpty,
        ),
    ],
};

/// `core/v1.Node` (without `kind`/`apiVersion`, which the server writes itself).
pub static NODE: StructDef = StructDef {
    go_name: "Node",
    atomic: false,
    fields: &[
        f("metadata", Ty::Struct(&OBJECT_META), OmitEmpty),
        f("spec", Ty::Struct(&NODE_SPEC), OmitEmpty),
        f("status", Ty::Struct(&NODE_STATUS), OmitEmpty),
    ],
};

static LEASE_SPEC: StructDef = StructDef {
    go_name: "LeaseSpec",
    atomic: false,
    fields: &[
        f("holderIdentity", Ty::Str, Optional),
        f("leaseDurationSeconds", Ty::Int, Optional),
        f("acquireTime", Ty::MicroTime, Optional),
        f("renewTime", Ty::MicroTime, Optional),
        f("leaseTransitions", Ty::Int, Optional),
        f("strategy", Ty::Str, Optional),
        f("preferredHolder", Ty::Str, Optional),
    ],
};

/// `coordination.k8s.io/v1.Lease`
pub static LEASE: StructDef = StructDef {
    go_name: "Lease",
    atomic: false,
    fields: &[
        f("metadata", Ty::Struct(&OBJECT_META), OmitEmpty),
        f("spec", Ty::Struct(&LEASE_SPEC), OmitEmpty),
    ],
};

static OBJECT_REFERENCE: StructDef = StructDef {
    go_name: "ObjectReference",
    atomic: true,
    fields: &[
        f("kind", Ty::Str, OmitEmpty),
        f("namespace", Ty::Str, OmitEmpty),
        f("name", Ty::Str, OmitEmpty),
        f("uid", Ty::Str, OmitEmpty),
        f("apiVersion", Ty::Str, OmitEmpty),
        f("resourceVersion", Ty::Str, OmitEmpty),
        f("fieldPath", Ty::Str, OmitEmpty),
    ],
};

static EVENT_SOURCE: StructDef = StructDef {
    go_name: "EventSource",
    atomic: false,
    fields: &[
        f("component", Ty::Str, OmitEmpty),
        f("host", Ty::Str, OmitEmpty),
    ],
};

static EVENT_SERIES: StructDef = StructDef {
    go_name: "EventSeries",
    atomic: false,
    fields: &[
        f("count", Ty::Int, OmitEmpty),
        f("lastObservedTime", Ty::MicroTime, OmitEmpty),
    ],
};

/// `core/v1.Event`
pub static CORE_EVENT: StructDef = StructDef {
    go_name: "Event",
    atomic: false,
    fields: &[
        f("metadata", Ty::Struct(&OBJECT_META), Always),
        f("involvedObject", Ty::Struct(&OBJECT_REFERENCE), Always),
        f("reason", Ty::Str, OmitEmpty),
        f("message", Ty::Str, OmitEmpty),
        f("source", Ty::Struct(&EVENT_SOURCE), OmitEmpty),
        f("firstTimestamp", Ty::Time, OmitEmpty),
        f("lastTimestamp", Ty::Time, OmitEmpty),
        f("count", Ty::Int, OmitEmpty),
        f("type", Ty::Str, OmitEmpty),
        f("eventTime", Ty::MicroTime, OmitEmpty),
        f("series", Ty::Struct(&EVENT_SERIES), Optional),
        f("action", Ty::Str, OmitEmpty),
        f("related", Ty::Struct(&OBJECT_REFERENCE), Optional),
        f("reportingComponent", Ty::Str, Always),
        f("reportingInstance", Ty::Str, Always),
    ],
};

static EVENT_SERIES_V1: StructDef = StructDef {
    go_name: "EventSeries",
    atomic: false,
    fields: &[
        f("count", Ty::Int, Always),
        f("lastObservedTime", Ty::MicroTime, Always),
    ],
};

/// `events.k8s.io/v1.Event`
pub static EVENTS_V1_EVENT: StructDef = StructDef {
    go_name: "Event",
    atomic: false,
    fields: &[
        f("metadata", Ty::Struct(&OBJECT_META), OmitEmpty),
        f("eventTime", Ty::MicroTime, Always),
        f("series", Ty::Struct(&EVENT_SERIES_V1), Optional),
        f("reportingController", Ty::Str, OmitEmpty),
        f("reportingInstance", Ty::Str, OmitEmpty),
        f("action", Ty::Str, OmitEmpty),
        f("reason", Ty::Str, OmitEmpty),
        f("regarding", Ty::Struct(&OBJECT_REFERENCE), OmitEmpty),
        f("related", Ty::Struct(&OBJECT_REFERENCE), Optional),
        f("note", Ty::Str, OmitEmpty),
        f("type", Ty::Str, OmitEmpty),
        f("deprecatedSource", Ty::Struct(&EVENT_SOURCE), OmitEmpty),
        f("deprecatedFirstTimestamp", Ty::Time, OmitEmpty),
        f("deprecatedLastTimestamp", Ty::Time, OmitEmpty),
        f("deprecatedCount", Ty::Int, OmitEmpty),
    ],
};

/// A decode failure, worded like Go's `json: cannot unmarshal …` or the field's own parser.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(pub String);

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn go_type(ty: &Ty) -> String {
    match ty {
        Ty::Str => "string".into(),
        Ty::Int => "int32".into(),
        Ty::Bool => "bool".into(),
        Ty::Time | Ty::MicroTime => "string".into(),
        Ty::StrMap => "map[string]string".into(),
        Ty::QtyMap => "v1.ResourceList".into(),
        Ty::Struct(def) => format!("v1.{}", def.go_name),
        Ty::List(elem, _) => format!("[]{}", go_type(elem)),
        Ty::Raw => "interface {}".into(),
    }
}

struct Ctx<'a> {
    struct_name: &'a str,
    path: &'a str,
}

fn mismatch(v: &Value, ty: &Ty, ctx: &Ctx<'_>) -> DecodeError {
    let what = match v {
        Value::Number(n) => format!("number {n}"),
        other => json_kind(other).to_string(),
    };
    DecodeError(format!(
        "json: cannot unmarshal {what} into Go struct field {}.{} of type {}",
        ctx.struct_name,
        ctx.path,
        go_type(ty)
    ))
}

/// Decodes `v` as the struct `def` and encodes it again (see the module docs).
pub fn normalize(v: &Value, def: &'static StructDef) -> Result<Value, DecodeError> {
    let ctx = Ctx {
        struct_name: def.go_name,
        path: "",
    };
    match v {
        Value::Object(_) => normalize_struct(Some(v), def, &ctx),
        other => Err(DecodeError(format!(
            "json: cannot unmarshal {} into Go value of type v1.{}",
            json_kind(other),
            def.go_name
        ))),
    }
}

/// The encoding of the Go zero value of `def` (what the field manager compares a create against).
pub fn zero(def: &'static StructDef) -> Value {
    normalize_struct(
        None,
        def,
        &Ctx {
            struct_name: def.go_name,
            path: "",
        },
    )
    .unwrap_or(Value::Object(Map::new()))
}

fn normalize_struct(
    v: Option<&Value>,
    def: &'static StructDef,
    ctx: &Ctx<'_>,
) -> Result<Value, DecodeError> {
    let empty = Map::new();
    let input = match v {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => return Err(mismatch(other, &Ty::Struct(def), ctx)),
    };
    let mut out = Map::new();
    for field in def.fields {
        let path = if ctx.path.is_empty() {
            field.name.to_string()
        } else {
            format!("{}.{}", ctx.path, field.name)
        };
        let sub = Ctx {
            struct_name: def.go_name,
            path: &path,
        };
        let given = input.get(field.name).filter(|x| !x.is_null());
        if let Some(value) = normalize_field(given, &field.ty, field.presence, &sub)? {
            out.insert(field.name.to_string(), value);
        }
    }
    Ok(Value::Object(out))
}

fn normalize_field(
    v: Option<&Value>,
    ty: &Ty,
    presence: Presence,
    ctx: &Ctx<'_>,
) -> Result<Option<Value>, DecodeError> {
    let keep = |is_zero: bool, value: Value| -> Option<Value> {
        match presence {
            Presence::OmitEmpty if is_zero => None,
            _ => Some(value),
        }
    };
    match (ty, v) {
        (Ty::Struct(def), _) => {
            if v.is_none() && presence == Presence::Optional {
                return Ok(None);
            }
            Ok(Some(normalize_struct(v, def, ctx)?))
        }
        (Ty::Time | Ty::MicroTime, None) => Ok(match presence {
            Presence::Optional => None,
            _ => Some(Value::Null),
        }),
        (_, None) => Ok(match presence {
            Presence::Always => Some(zero_of(ty)),
            _ => None,
        }),
        (_, Some(value)) => {
            let (is_zero, out) = normalize_value(value, ty, ctx)?;
            Ok(match presence {
                Presence::Optional => Some(out),
                _ => keep(is_zero, out),
            })
        }
    }
}

fn zero_of(ty: &Ty) -> Value {
    match ty {
        Ty::Str => Value::String(String::new()),
        Ty::Int => Value::Number(0.into()),
        Ty::Bool => Value::Bool(false),
        _ => Value::Null,
    }
}

/// Returns (is the Go zero value, encoding).
fn normalize_value(v: &Value, ty: &Ty, ctx: &Ctx<'_>) -> Result<(bool, Value), DecodeError> {
    match ty {
        Ty::Str => match v {
            Value::String(s) => Ok((s.is_empty(), v.clone())),
            _ => Err(mismatch(v, ty, ctx)),
        },
        Ty::Int => match v {
            Value::Number(n) if n.is_i64() => {
                let i = n.as_i64().unwrap_or(0);
                Ok((i == 0, Value::Number(Number::from(i))))
            }
            _ => Err(mismatch(v, ty, ctx)),
        },
        Ty::Bool => match v {
            Value::Bool(b) => Ok((!b, v.clone())),
            _ => Err(mismatch(v, ty, ctx)),
        },
        Ty::Time | Ty::MicroTime => match v {
            Value::String(s) if s.is_empty() => Ok((true, Value::Null)),
            Value::String(s) => {
                let t = parse_rfc3339(s).ok_or_else(|| {
                    DecodeError(format!(
                        "parsing time \"{s}\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"{s}\" as \"2006\""
                    ))
                })?;
                let text = if matches!(ty, Ty::Time) {
                    format_time(t)
                } else {
                    format_micro_time(t)
                };
                Ok((false, Value::String(text)))
            }
            _ => Err(mismatch(v, ty, ctx)),
        },
        Ty::StrMap => match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    match &m[k] {
                        Value::String(s) => {
                            out.insert(k.clone(), Value::String(s.clone()));
                        }
                        Value::Null => {
                            out.insert(k.clone(), Value::String(String::new()));
                        }
                        other => return Err(mismatch(other, &Ty::Str, ctx)),
                    }
                }
                Ok((out.is_empty(), Value::Object(out)))
            }
            _ => Err(mismatch(v, ty, ctx)),
        },
        Ty::QtyMap => match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    let raw = match &m[k] {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        other => return Err(mismatch(other, &Ty::Str, ctx)),
                    };
                    let canonical = canonical_quantity(raw.trim()).ok_or_else(|| {
                        DecodeError(
                            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
                                .to_string(),
                        )
                    })?;
                    out.insert(k.clone(), Value::String(canonical));
                }
                Ok((out.is_empty(), Value::Object(out)))
            }
            _ => Err(mismatch(v, ty, ctx)),
        },
        Ty::Struct(def) => Ok((false, normalize_struct(Some(v), def, ctx)?)),
        Ty::List(elem, _) => match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let value = match item {
                        Value::Null => match elem {
                            Ty::Struct(def) => normalize_struct(None, def, ctx)?,
                            other => zero_of(other),
                        },
                        _ => normalize_value(item, elem, ctx)?.1,
                    };
                    out.push(value);
                }
                Ok((out.is_empty(), Value::Array(out)))
            }
            _ => Err(mismatch(v, ty, ctx)),
        },
        Ty::Raw => Ok((false, v.clone())),
    }
}

// ---------------------------------------------------------------------------------------------
// resource.Quantity

#[derive(Clone, Copy, PartialEq)]
enum QtyFormat {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// Parses a quantity and prints it the way `resource.Quantity` canonicalises it
/// (`1000m` → `1`, `0.5` → `500m`, `1024Ki` → `1Mi`, `2000` → `2k`). Precision is nano units,
/// rounded up as Kubernetes does. Returns `None` for text Kubernetes rejects.
pub fn canonical_quantity(s: &str) -> Option<String> {
    let (nanos, format) = parse_quantity(s)?;
    Some(format_quantity(nanos, format))
}

fn parse_quantity(s: &str) -> Option<(i128, QtyFormat)> {
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let num_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    let number = &s[num_start..i];
    if number.is_empty() || number.matches('.').count() > 1 || number == "." {
        return None;
    }
    let suffix = &s[i..];
    let (int_part, frac_part) = match number.split_once('.') {
        Some((a, b)) => (a, b),
        None => (number, ""),
    };
    // value = digits × 10^(exp10) × 1024^(exp2)
    let digits: String = format!("{int_part}{frac_part}");
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut exp2: u32 = 0;
    let format = match suffix {
        "" => QtyFormat::DecimalSI,
        "n" => {
            exp10 -= 9;
            QtyFormat::DecimalSI
        }
        "u" => {
            exp10 -= 6;
            QtyFormat::DecimalSI
        }
        "m" => {
            exp10 -= 3;
            QtyFormat::DecimalSI
        }
        "k" => {
            exp10 += 3;
            QtyFormat::DecimalSI
        }
        "M" => {
            exp10 += 6;
            QtyFormat::DecimalSI
        }
        "G" => {
            exp10 += 9;
            QtyFormat::DecimalSI
        }
        "T" => {
            exp10 += 12;
            QtyFormat::DecimalSI
        }
        "P" => {
            exp10 += 15;
            QtyFormat::DecimalSI
        }
        "E" => {
            exp10 += 18;
            QtyFormat::DecimalSI
        }
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            exp2 = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            QtyFormat::BinarySI
        }
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let exp: i32 = rest.parse().ok()?;
            if rest.is_empty() || exp.unsigned_abs() > 60 {
                return None;
            }
            exp10 += exp;
            QtyFormat::DecimalExponent
        }
    };
    // Scale to nano units, rounding any finer remainder up (away from zero, as Kubernetes does).
    let mut mantissa: i128 = 0;
    for d in digits.bytes() {
        mantissa = mantissa.checked_mul(10)?.checked_add((d - b'0') as i128)?;
    }
    let mut shift = exp10 + 9;
    let mut nanos = mantissa;
    while shift > 0 {
        nanos = nanos.checked_mul(10)?;
        shift -= 1;
    }
    if shift < 0 {
        let div = 10i128.checked_pow(shift.unsigned_abs())?;
        let q = nanos / div;
        nanos = if nanos % div != 0 { q + 1 } else { q };
    }
    for _ in 0..exp2 {
        nanos = nanos.checked_mul(1024)?;
    }
    Some((if negative { -nanos } else { nanos }, format))
}

fn format_quantity(nanos: i128, format: QtyFormat) -> String {
    const NANO: i128 = 1_000_000_000;
    if nanos == 0 {
        return "0".to_string();
    }
    if format == QtyFormat::BinarySI && nanos % NANO == 0 && nanos.abs() >= 1024 * NANO {
        let mut v = nanos / NANO;
        let mut exp = 0;
        while exp < 6 && v % 1024 == 0 {
            v /= 1024;
            exp += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
        return format!("{v}{suffix}");
    }
    let mut m = nanos;
    let mut e: i32 = -9;
    while m % 1000 == 0 && e < 18 {
        m /= 1000;
        e += 3;
    }
    if format == QtyFormat::DecimalExponent {
        return if e == 0 {
            format!("{m}")
        } else {
            format!("{m}e{e}")
        };
    }
    let suffix = match e {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        _ => "E",
    };
    format!("{m}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_canonicalise_like_kubernetes() {
        let c = |s: &str| canonical_quantity(s).unwrap();
        assert_eq!(c("240m"), "240m");
        assert_eq!(c("320Ki"), "320Ki");
        assert_eq!(c("0"), "0");
        assert_eq!(c("1000m"), "1");
        assert_eq!(c("0.5"), "500m");
        assert_eq!(c("1024Ki"), "1Mi");
        assert_eq!(c("1536Ki"), "1536Ki");
        assert_eq!(c("0.5Ki"), "512");
        assert_eq!(c("2000"), "2k");
        assert_eq!(c("1500"), "1500");
        assert_eq!(c("12e6"), "12e6");
        assert_eq!(c("1n"), "1n");
        assert_eq!(c("0.1n"), "1n");
        assert!(canonical_quantity("abc").is_none());
        assert!(canonical_quantity("1.2.3").is_none());
        assert!(canonical_quantity("1Zi").is_none());
    }

    #[test]
    fn node_create_defaults_match_recorded_04() {
        // recorded/04: a Node posted with only metadata comes back with spec {} and zeroed
        // daemonEndpoints/nodeInfo.
        let body = json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"n","labels":{"b":"2","a":"1"}},"spec":{}});
        let n = normalize(&body, &NODE).unwrap();
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"metadata":{"name":"n","creationTimestamp":null,"labels":{"a":"1","b":"2"}},"spec":{},"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}"#
        );
    }

    #[test]
    fn field_order_times_and_type_errors() {
        let cond = json!({"status":{"conditions":[{"message":"m","reason":"r","lastTransitionTime":"2026-11-24T13:04:15.9Z","type":"Ready","status":"True","extra":1}]}});
        let n = normalize(&cond, &NODE).unwrap();
        assert_eq!(
            serde_json::to_string(&n["status"]["conditions"]).unwrap(),
            r#"[{"type":"Ready","status":"True","lastHeartbeatTime":null,"lastTransitionTime":"2026-11-24T13:04:15Z","reason":"r","message":"m"}]"#
        );
        let bad = json!({"spec":{"unschedulable":"yes"}});
        assert_eq!(
            normalize(&bad, &NODE).unwrap_err().0,
            "json: cannot unmarshal string into Go struct field NodeSpec.spec.unschedulable of type bool"
        );
        let lease = json!({"spec":{"renewTime":"2026-11-24T13:04:13.5Z","leaseDurationSeconds":0}});
        let l = normalize(&lease, &LEASE).unwrap();
        assert_eq!(
            serde_json::to_string(&l["spec"]).unwrap(),
            r#"{"leaseDurationSeconds":0,"renewTime":"2026-11-24T13:04:13.500000Z"}"#
        );
    }
}

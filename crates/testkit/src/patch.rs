//! The three PATCH formats the apiserver accepts (server-side apply is not emulated).
//!
//! * JSON merge patch (RFC 7386): maps merge, `null` deletes, lists are REPLACED — so a
//!   merge-patch of `status.conditions` drops every condition not in the patch (recorded/10).
//! * Strategic merge patch: like merge patch, but lists with a merge key (`conditions` and
//!   `addresses` by `type`, `ownerReferences` by `uid`) merge element by element, new elements are
//!   appended, and the directives `$patch`, `$retainKeys`, `$setElementOrder/…` and
//!   `$deleteFromPrimitiveList/…` are honoured.
//! * JSON patch (RFC 6902): add, remove, replace, move, copy, test.

use serde_json::{Map, Value};

use crate::schema::{ListKind, StructDef, Ty};

/// RFC 7386 merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            for (k, pv) in p {
                if pv.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), pv);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Strategic merge patch of `original` (an encoded object of type `def`) with `patch`.
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    def: &'static StructDef,
) -> Result<Value, String> {
    let Value::Object(p) = patch else {
        return Err("unable to find api field in struct for the patch".to_string());
    };
    let orig = match original {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    Ok(merge_map(orig, p, Schema::Struct(def))?.map_or(Value::Null, Value::Object))
}

#[derive(Clone, Copy)]
enum Schema {
    Struct(&'static StructDef),
    /// A map whose values are scalars (labels, capacity, …).
    ScalarMap,
    /// Unknown: merge-patch semantics.
    Unknown,
}

fn schema_of(ty: &'static Ty) -> Schema {
    match ty {
        Ty::Struct(def) => Schema::Struct(def),
        Ty::StrMap | Ty::QtyMap => Schema::ScalarMap,
        _ => Schema::Unknown,
    }
}

fn field_ty(schema: Schema, key: &str) -> Option<&'static Ty> {
    match schema {
        Schema::Struct(def) => def.field(key).map(|f| &f.ty),
        _ => None,
    }
}

/// Removes directives from a value that is inserted without merging.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Returns `None` when the patch deletes the whole map (`$patch: delete`).
fn merge_map(
    mut orig: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Schema,
) -> Result<Option<Map<String, Value>>, String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(None),
        Some("replace") => {
            if let Value::Object(m) = strip_directives(&Value::Object(patch.clone())) {
                return Ok(Some(m));
            }
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other}")),
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        orig.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, pv) in patch {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            orig.remove(k);
            continue;
        }
        let ty = field_ty(schema, k);
        let merged = match (orig.get(k), pv) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                let sub = match (schema, ty) {
                    (_, Some(t)) => schema_of(t),
                    (Schema::Struct(_), None) => Schema::Unknown,
                    (s, None) => s,
                };
                match merge_map(o.clone(), p, sub)? {
                    Some(m) => Value::Object(m),
                    None => {
                        orig.remove(k);
                        continue;
                    }
                }
            }
            (Some(Value::Array(o)), Value::Array(p)) => match ty {
                Some(Ty::List(elem, kind)) => merge_list(o, p, elem, *kind)?,
                _ => strip_directives(pv),
            },
            _ => strip_directives(pv),
        };
        orig.insert(k.clone(), merged);
    }
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(del)) = (orig.get_mut(field), pv) {
                items.retain(|i| !del.contains(i));
            }
        }
    }
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            if let (Some(Ty::List(_, kind)), Some(Value::Array(items)), Value::Array(order)) =
                (field_ty(schema, field), orig.get(field).cloned(), pv)
            {
                orig.insert(
                    field.to_string(),
                    Value::Array(reorder(items, order, *kind)),
                );
            }
        }
    }
    Ok(Some(orig))
}

fn merge_key(kind: ListKind) -> Option<&'static str> {
    match kind {
        ListKind::Map(keys) => keys.first().copied(),
        _ => None,
    }
}

fn merge_list(
    orig: &[Value],
    patch: &[Value],
    elem: &'static Ty,
    kind: ListKind,
) -> Result<Value, String> {
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(strip_directives(&Value::Array(patch.to_vec())));
    }
    match kind {
        ListKind::Atomic => Ok(strip_directives(&Value::Array(patch.to_vec()))),
        ListKind::Set => {
            let mut out = orig.to_vec();
            for p in patch {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListKind::Map(_) => {
            let key = merge_key(kind).unwrap_or("name");
            let mut out = orig.to_vec();
            for p in patch {
                let Value::Object(pm) = p else {
                    return Err(format!("{p} is not a map, cannot merge by key {key}"));
                };
                let Some(kv) = pm.get(key) else {
                    return Err(format!(
                        "map: {} does not contain declared merge key: {key}",
                        Value::Object(pm.clone())
                    ));
                };
                let pos = out.iter().position(|o| o.get(key) == Some(kv));
                let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        let base = match &out[i] {
                            Value::Object(m) => m.clone(),
                            _ => Map::new(),
                        };
                        match merge_map(base, pm, schema_of(elem))? {
                            Some(m) => out[i] = Value::Object(m),
                            None => {
                                out.remove(i);
                            }
                        }
                    }
                    (None, false) => out.push(strip_directives(p)),
                }
            }
            Ok(Value::Array(out))
        }
    }
}

/// `$setElementOrder`: listed elements first, in that order; the rest keep their order after them.
fn reorder(items: Vec<Value>, order: &[Value], kind: ListKind) -> Vec<Value> {
    let matches = |item: &Value, o: &Value| match merge_key(kind) {
        Some(key) => item.get(key).is_some() && item.get(key) == o.get(key),
        None => item == o,
    };
    let mut rest = items;
    let mut out = Vec::with_capacity(rest.len());
    for o in order {
        if let Some(i) = rest.iter().position(|item| matches(item, o)) {
            out.push(rest.remove(i));
        }
    }
    out.extend(rest);
    out
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, String> {
    let Value::Array(ops) = ops else {
        return Err("json: cannot unmarshal object into Go value of type jsonpatch.Patch".into());
    };
    let mut doc = target.clone();
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        match name {
            "add" => pointer_add(&mut doc, path, value_of(op)?)?,
            "remove" => {
                pointer_remove(&mut doc, path)?;
            }
            "replace" => {
                pointer_remove(&mut doc, path)?;
                pointer_add(&mut doc, path, value_of(op)?)?;
            }
            "move" | "copy" => {
                let from = op.get("from").and_then(Value::as_str).unwrap_or("");
                let v = if name == "move" {
                    pointer_remove(&mut doc, from)?
                } else {
                    doc.pointer(from)
                        .cloned()
                        .ok_or_else(|| missing(name, from))?
                };
                pointer_add(&mut doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value_of(op)?) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(doc)
}

fn value_of(op: &Value) -> Result<Value, String> {
    op.get("value")
        .cloned()
        .ok_or_else(|| "missing value".to_string())
}

fn missing(op: &str, path: &str) -> String {
    format!("{op} operation does not apply: doc is missing path: \"{path}\": missing value")
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let idx = path
        .rfind('/')
        .ok_or_else(|| format!("invalid path {path}"))?;
    let last = path[idx + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..idx].to_string(), last))
}

fn pointer_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>().map_err(|_| missing("add", path))?
            };
            if i > a.len() {
                return Err(missing("add", path));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(missing("add", path)),
    }
}

fn pointer_remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => m.shift_remove(&last).ok_or_else(|| missing("remove", path)),
        Some(Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => Ok(a.remove(i)),
            _ => Err(missing("remove", path)),
        },
        _ => Err(missing("remove", path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::NODE;
    use serde_json::json;

    fn node() -> Value {
        json!({"metadata":{"name":"n","annotations":{"a":"1"}},"status":{"conditions":[
            {"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"False"}],
            "addresses":[{"type":"InternalIP","address":"1.2.3.4"}]}})
    }

    #[test]
    fn merge_patch_replaces_lists_and_deletes_nulls() {
        let out = merge_patch(
            &node(),
            &json!({"metadata":{"annotations":{"a":null,"b":"2"}},"status":{"conditions":[{"type":"Ready","status":"True"}]}}),
        );
        assert_eq!(out["metadata"]["annotations"], json!({"b":"2"}));
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type":"Ready","status":"True"}])
        );
    }

    #[test]
    fn strategic_merge_merges_by_type_and_appends() {
        let out = strategic_merge(
            &node(),
            &json!({"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Vibes","status":"True"}]}}),
            &NODE,
        )
        .unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"},{"type":"Vibes","status":"True"}])
        );
        assert_eq!(out["status"]["addresses"][0]["address"], "1.2.3.4");
    }

    #[test]
    fn strategic_merge_directives() {
        let out = strategic_merge(
            &node(),
            &json!({"status":{"$setElementOrder/conditions":[{"type":"Ready"},{"type":"MemoryPressure"}],
                "conditions":[{"type":"MemoryPressure","$patch":"delete"}]}}),
            &NODE,
        )
        .unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type":"Ready","status":"False"}])
        );
        let missing_key = strategic_merge(
            &node(),
            &json!({"status":{"conditions":[{"status":"True"}]}}),
            &NODE,
        );
        assert!(missing_key
            .unwrap_err()
            .contains("does not contain declared merge key: type"));
    }

    #[test]
    fn json_patch_ops() {
        let out = json_patch(
            &node(),
            &json!([{"op":"add","path":"/metadata/labels","value":{"x":"y"}},
                    {"op":"replace","path":"/status/conditions/1/status","value":"True"},
                    {"op":"remove","path":"/metadata/annotations/a"}]),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"]["x"], "y");
        assert_eq!(out["status"]["conditions"][1]["status"], "True");
        assert_eq!(out["metadata"]["annotations"], json!({}));
        assert!(json_patch(&node(), &json!([{"op":"remove","path":"/nope/x"}])).is_err());
    }
}

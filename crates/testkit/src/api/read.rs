//! get and list (with field selectors).

use serde_json::{json, Value};

use crate::message::Request;
use crate::state::State;
use crate::status;
use crate::store::render;

use super::op::{Answer, Op};
use super::selector::LabelSelector;

impl Op<'_> {
    pub(super) fn get(&self, state: &mut State) -> Answer {
        let stored = state
            .store
            .get(self.kind.coll(), &self.key())
            .ok_or_else(|| status::not_found(self.kind.resource(), self.name))?;
        Ok((200, render(stored, self.kind, true)))
    }

    pub(super) fn list(&self, state: &mut State, req: &Request) -> Answer {
        let selector = req.query_param("fieldSelector").unwrap_or_default();
        let terms: Vec<(String, bool, String)> = selector
            .split(',')
            .filter(|t| !t.is_empty())
            .filter_map(|t| {
                if let Some((k, v)) = t.split_once("!=") {
                    Some((k.to_string(), false, v.to_string()))
                } else {
                    let (k, v) = t.split_once('=')?;
                    Some((k.to_string(), true, v.trim_start_matches('=').to_string()))
                }
            })
            .collect();
        let labels = LabelSelector::parse(&req.query_param("labelSelector").unwrap_or_default())
            // guess: not recorded (the apiserver's parse errors are 400s too).
            .map_err(|e| status::bad_request(&e))?;
        let prefix = if self.kind.namespaced() && !self.namespace.is_empty() {
            format!("{}/", self.namespace)
        } else {
            String::new()
        };
        let items: Vec<Value> = state
            .store
            .all(self.kind.coll())
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, s)| render(s, self.kind, false))
            .filter(|item| labels.matches(&item["metadata"]["labels"]))
            .filter(|item| {
                terms.iter().all(|(path, eq, want)| {
                    let pointer = format!("/{}", path.replace('.', "/"));
                    let got = match item.pointer(&pointer) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    (got == *want) == *eq
                })
            })
            .collect();
        Ok((
            200,
            json!({
                "kind": format!("{}List", self.kind.kind()),
                "apiVersion": self.kind.api_version(),
                "metadata": {"resourceVersion": state.store.rv.to_string()},
                "items": items,
            }),
        ))
    }
}

//! create, update (create-on-update for Events), patch (merge, strategic merge, JSON patch) and
//! delete, with admission, resourceVersion preconditions, validation and the controller's
//! notification in the apiserver's order.

use serde_json::Value;

use crate::json::parse;
use crate::message::Request;
use crate::patch::{json_patch, merge_patch, strategic_merge};
use crate::schema::normalize;
use crate::state::State;
use crate::status;
use crate::store::{self, key, meta_str, render, set_meta, view, Kind};

use super::admission::add_not_ready_taint;
use super::decode::{media_type, strip_managed};
use super::op::{Answer, Op};

impl Op<'_> {
    pub(super) fn create(&self, state: &mut State, req: &Request) -> Answer {
        let mut body = self.decode_body(req)?;
        self.check_namespace(&mut body)?;
        let mut name = meta_str(&body, "name").to_string();
        let generate = meta_str(&body, "generateName").to_string();
        if name.is_empty() && !generate.is_empty() {
            const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
            let suffix: String = (0..5)
                .map(|_| ALPHABET[(state.rng.next_u64() % ALPHABET.len() as u64) as usize] as char)
                .collect();
            name = format!("{generate}{suffix}");
            set_meta(&mut body, "name", Value::String(name.clone()));
        }
        for f in ["uid", "resourceVersion", "creationTimestamp"] {
            if let Some(Value::Object(m)) = body.get_mut("metadata") {
                m.shift_remove(f);
            }
        }
        let body = normalize(&body, self.kind.def()).unwrap_or(body);
        let managed = store::managed_for_create(self.kind, &body, &self.writer);
        let mut body = body;
        match self.kind {
            Kind::Node => {
                self.admit_node(&name, &body, None)?;
                add_not_ready_taint(&mut body);
            }
            Kind::Lease => self.admit_lease(&name)?,
            _ => {}
        }
        self.validate(&name, &body)?;
        let k = key(self.namespace, &name);
        if state.store.get(self.kind.coll(), &k).is_some() {
            return Err(status::already_exists(self.kind.resource(), &name));
        }
        let body = normalize(&body, self.kind.def()).unwrap_or(body);
        let uid = state.rng.uuid();
        if self.dry_run {
            let preview = store::preview(self.kind, body, managed, uid, self.writer.now);
            return Ok((201, render(&preview, self.kind, true)));
        }
        store::create(
            &mut state.store,
            self.kind,
            &k,
            body,
            managed,
            uid,
            self.writer.now,
        );
        if self.kind == Kind::Node {
            state.controller.node_changed(&name, self.writer.now);
        }
        let stored = state
            .store
            .get(self.kind.coll(), &k)
            .ok_or_else(|| status::not_found(self.kind.resource(), &name))?;
        Ok((201, render(stored, self.kind, true)))
    }

    pub(super) fn update(&self, state: &mut State, req: &Request) -> Answer {
        let mut body = self.decode_body(req)?;
        let body_name = meta_str(&body, "name").to_string();
        if !body_name.is_empty() && body_name != self.name {
            return Err(status::bad_request(&format!(
                "the name of the object ({body_name}) does not match the name on the URL ({})",
                self.name
            )));
        }
        set_meta(&mut body, "name", Value::String(self.name.to_string()));
        self.check_namespace(&mut body)?;
        if state.store.get(self.kind.coll(), &self.key()).is_none() {
            if matches!(self.kind, Kind::Event | Kind::EventV1) {
                // Events allow create-on-update.
                let mut created = req.clone();
                created.body = serde_json::to_vec(&body).unwrap_or_default();
                return self.create(state, &created).map(|(_, v)| (201, v));
            }
            return Err(status::not_found(self.kind.resource(), self.name));
        }
        self.write(state, body)
    }

    pub(super) fn patch(&self, state: &mut State, req: &Request) -> Answer {
        let ct = media_type(req);
        let stored = state
            .store
            .get(self.kind.coll(), &self.key())
            .ok_or_else(|| status::not_found(self.kind.resource(), self.name))?;
        let current = render(stored, self.kind, true);
        let patched = match ct.as_str() {
            "application/merge-patch+json" => {
                let p = parse(&req.body)
                    .map_err(|e| status::bad_request(&format!("error decoding patch: {e}")))?;
                merge_patch(&current, &p)
            }
            "application/strategic-merge-patch+json" => {
                let p = parse(&req.body).map_err(|e| status::bad_request(&e))?;
                strategic_merge(&current, &p, self.kind.def())
                    .map_err(|e| status::bad_request(&e))?
            }
            "application/json-patch+json" => {
                let p = parse(&req.body)
                    .map_err(|e| status::bad_request(&format!("error decoding patch: {e}")))?;
                json_patch(&current, &p).map_err(|e| {
                    let mut err = status::invalid(
                        self.kind.kind(),
                        self.kind.resource().group,
                        self.name,
                        &[],
                    );
                    err.body["message"] = Value::String(e);
                    err
                })?
            }
            _ => return Err(status::unsupported_patch_type()),
        };
        let mut body =
            normalize(&patched, self.kind.def()).map_err(|e| status::bad_request(&e.0))?;
        strip_managed(&mut body);
        set_meta(&mut body, "name", Value::String(self.name.to_string()));
        if self.kind.namespaced() {
            set_meta(
                &mut body,
                "namespace",
                Value::String(self.namespace.to_string()),
            );
        }
        self.write(state, body)
    }

    /// The shared end of PUT and PATCH: admission, precondition, strategy, validation, store.
    fn write(&self, state: &mut State, mut body: Value) -> Answer {
        let k = self.key();
        let stored = state
            .store
            .get(self.kind.coll(), &k)
            .ok_or_else(|| status::not_found(self.kind.resource(), self.name))?;
        let old = view(stored, self.kind);
        match self.kind {
            Kind::Node => self.admit_node(self.name, &body, Some(&old))?,
            Kind::Lease => self.admit_lease(self.name)?,
            _ => {}
        }
        let wanted_rv = meta_str(&body, "resourceVersion");
        if !wanted_rv.is_empty() && wanted_rv != stored.meta("resourceVersion") {
            return Err(status::conflict(self.kind.resource(), self.name));
        }
        if let Some(reset) = self.kind.reset_field(self.subresource) {
            match old.get(reset) {
                Some(v) => body[reset] = v.clone(),
                None => {
                    if let Some(m) = body.as_object_mut() {
                        m.shift_remove(reset);
                    }
                }
            }
        }
        self.validate(self.name, &body)?;
        let changed = store::update(&mut state.store, self.kind, &k, body, &self.writer);
        if changed && self.kind == Kind::Node {
            state.controller.node_changed(self.name, self.writer.now);
        }
        let stored = state
            .store
            .get(self.kind.coll(), &k)
            .ok_or_else(|| status::not_found(self.kind.resource(), self.name))?;
        Ok((200, render(stored, self.kind, true)))
    }

    pub(super) fn delete(&self, state: &mut State) -> Answer {
        let k = self.key();
        if state.store.get(self.kind.coll(), &k).is_none() {
            return Err(status::not_found(self.kind.resource(), self.name));
        }
        if self.kind == Kind::Lease {
            self.admit_lease(self.name)?;
        }
        let uid = match self.kind {
            Kind::Node => state
                .delete_node(self.name, self.writer.now)
                .unwrap_or_default(),
            _ => state
                .store
                .remove(self.kind.coll(), &k)
                .map(|s| s.meta("uid").to_string())
                .unwrap_or_default(),
        };
        Ok((200, status::deleted(self.kind.resource(), self.name, &uid)))
    }
}

//! Lookups in the scenario table and in the filter state the guest set.

use super::{Facts, Node, Properties, RESERVED, Value, owned};
use crate::abi::Status;
use crate::pairs;

impl Properties {
    /// The answer from the scenario table: an entry for the path, or for a prefix to walk into.
    pub(super) fn table_answer(&self, path: &[&str]) -> Option<Result<Vec<u8>, Status>> {
        let key = owned(path);
        if let Some(value) = self.table.get(&key) {
            return Some(Ok(self.encode_entry(&key, value)));
        }
        (1..path.len()).rev().find_map(|n| {
            let value = self.table.get(key.get(..n)?)?;
            Some(Node::Value(value.clone()).walk(path.get(n..)?))
        })
    }

    /// A map entry includes the entries set below it (`xds.node.metadata` plus
    /// `xds.node.metadata.NUM`), each encoded by its own type, as Envoy serializes a map.
    fn encode_entry(&self, key: &[String], value: &Value) -> Vec<u8> {
        let Value::Map(entries) = value else { return value.encode() };
        let children = self.children(key);
        if children.is_empty() {
            return value.encode();
        }
        let mut merged: Vec<(Vec<u8>, Vec<u8>)> = entries
            .iter()
            .filter(|(k, _)| !children.iter().any(|(c, _)| c == k))
            .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
            .collect();
        merged.extend(children.into_iter().map(|(k, v)| (k.into_bytes(), v.encode())));
        pairs::encode(&merged)
    }

    /// Entries exactly one segment below `key`, by name.
    pub(super) fn children(&self, key: &[String]) -> Vec<(String, &Value)> {
        self.table
            .range(key.to_vec()..)
            .take_while(|(k, _)| k.starts_with(key))
            .filter(|(k, _)| k.len() == key.len() + 1)
            .filter_map(|(k, v)| Some((k.last()?.clone(), v)))
            .collect()
    }

    /// Whether entries exist below `key` although `key` itself has none.
    pub(super) fn is_interior(&self, key: &[String]) -> bool {
        self.table.range(key.to_vec()..).next().is_some_and(|(k, _)| k.len() > key.len() && k.starts_with(key))
    }

    /// A table value by exact path.
    pub(super) fn table_value(&self, path: &[&str]) -> Option<&Value> {
        self.table.get(&owned(path))
    }

    /// Filter state the guest set: `name` for one-segment names Envoy does not resolve itself,
    /// `filter_state.wasm.<name>` for any, `filter_state` alone is not serializable.
    pub(super) fn guest_value(&self, path: &[&str], facts: &Facts<'_>) -> Option<Result<Vec<u8>, Status>> {
        facts.stream?;
        let found = |name: &str, rest: &[&str]| {
            let value = self.guest.get(name.as_bytes()).ok_or(Status::NotFound)?;
            if rest.is_empty() { Ok(value.clone()) } else { Err(Status::NotFound) }
        };
        match path {
            ["filter_state"] => Some(Err(Status::SerializationFailure)),
            ["filter_state", key, rest @ ..] => {
                Some(key.strip_prefix("wasm.").map_or(Err(Status::NotFound), |name| found(name, rest)))
            }
            [first, rest @ ..] if !RESERVED.contains(first) && self.guest.contains_key(first.as_bytes()) => {
                Some(found(first, rest))
            }
            _ => None,
        }
    }
}

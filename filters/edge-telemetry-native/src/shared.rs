//! Data every worker of one filter config shares: proxy-wasm shared data, kept in the module.
//!
//! The Wasm module's workers are separate VMs and share data through Envoy's `proxy_get/
//! set_shared_data`; the dynamic module's workers are threads of one process, so the store is
//! a map behind a mutex, with the same compare-and-swap rule as Envoy's (`source/extensions/
//! common/wasm/context.cc`, `SharedData::set`): a token that is not the key's current one is a
//! mismatch, and a key that was never set accepts any token.
//!
//! Like a Wasm VM id, the filter name (`DynamicModuleFilter.filter_name`) names the store: the
//! filter configs of every listener that use one name share one store, as the Wasm module's
//! listeners share data through one `vm_id` (the `/meshlens/metrics` listener reads what the
//! traffic listener's workers wrote). The stores live as long as the process, as Envoy's do.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// Every store, by filter name.
static STORES: LazyLock<Mutex<HashMap<String, Arc<SharedData>>>> = LazyLock::new(Mutex::default);

/// The store of a filter name, created on first use.
pub fn store(filter_name: &str) -> Arc<SharedData> {
    let mut stores = STORES.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(stores.entry(filter_name.to_owned()).or_default())
}

/// Key -> (value, compare-and-swap token).
#[derive(Debug, Default)]
pub struct SharedData {
    entries: Mutex<HashMap<String, (Vec<u8>, u32)>>,
}

impl SharedData {
    /// A key's value and token.
    pub fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    /// Sets a key unless `cas` names a token that is no longer current; whether it was set.
    pub fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let token = match entries.get(key) {
            Some((_, current)) if cas.is_some_and(|c| c != 0 && c != *current) => return false,
            Some((_, current)) => current.wrapping_add(1).max(1),
            None => 1,
        };
        entries.insert(key.to_owned(), (value.to_vec(), token));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_token_is_a_mismatch_and_a_current_one_sets() {
        let data = SharedData::default();
        assert!(data.set("k", b"a", Some(7)));
        let (_, token) = data.get("k").unwrap();
        assert!(data.set("k", b"b", Some(token)));
        assert!(!data.set("k", b"c", Some(token)));
        assert_eq!(data.get("k").unwrap().0, b"b");
        assert!(data.set("k", b"d", None));
    }
}

//! Calling into the guest: start-up, plugin start, and every callback, with traps turned into
//! errors and Envoy's deferred "after VM call" actions applied when a callback returns.

use wasmtime::{Val, WasmBacktrace};

use super::Host;
use crate::abi::LogLevel;
use crate::error::Error;
use crate::state::Phase;

impl Host {
    /// Runs the module's start function: `_initialize` (WASI reactor, then `main` if exported)
    /// or `_start`, with Envoy's start-up restrictions on hostcalls.
    pub(super) fn start(&mut self) -> Result<(), Error> {
        let Some(instance) = self.instances.get(self.starting).copied() else { return Ok(()) };
        let has = |host: &mut Host, name: &str| instance.get_func(&mut host.store, name).is_some();
        if has(self, "_initialize") {
            self.invoke("_initialize", 0, &[], Phase::Start)?;
            if has(self, "main") {
                self.invoke("main", 0, &[Val::I32(0), Val::I32(0)], Phase::Start)?;
            }
        } else if has(self, "_start") {
            self.invoke("_start", 0, &[], Phase::Start)?;
        }
        Ok(())
    }

    /// Creates, starts and configures one plugin's root context.
    pub(super) fn start_plugin(&mut self, root: u32) -> Result<(), Error> {
        self.callback("proxy_on_context_create", root, &[i(root), Val::I32(0)])?;
        let vm_config_len = self.store.data().vm_config.len();
        if self.callback("proxy_on_vm_start", root, &[i(root), len(vm_config_len)])? == Some(0) {
            return Err(self.rejected("proxy_on_vm_start"));
        }
        let config_len = self.store.data().plugins.get(&root).map_or(0, |p| p.configuration.len());
        self.store.data_mut().configuring = Some(root);
        let configured = self.callback("proxy_on_configure", root, &[i(root), len(config_len)]);
        self.store.data_mut().configuring = None;
        if configured? == Some(0) {
            return Err(self.rejected("proxy_on_configure"));
        }
        Ok(())
    }

    fn rejected(&self, callback: &str) -> Error {
        let logs =
            self.store.data().logs.iter().filter(|l| l.level >= LogLevel::Warn).map(|l| l.message.clone()).collect();
        Error::Rejected { callback: callback.to_owned(), logs }
    }

    /// Calls a guest export for context `context`, then applies deferred actions. Returns the
    /// export's i32 result, or `None` when it returns nothing or the module does not export it
    /// (a missing callback behaves like the SDK default: nothing happens).
    ///
    /// Under a failure policy a trap does not end the scenario: it is recorded, the stream it
    /// happened on is answered 503 (Envoy's answer to the request that trapped), and every later
    /// callback is skipped (the VM is dead), as if it returned nothing.
    pub(super) fn callback(&mut self, name: &str, context: u32, args: &[Val]) -> Result<Option<i32>, Error> {
        let filterless = self.store.data().streams.get(&context).is_some_and(|s| s.root_id == 0);
        if filterless || (self.failed_at(context) && self.failure_policy.is_some()) {
            self.after_callback()?;
            return Ok(None);
        }
        let result = match self.invoke(name, context, args, Phase::Callback) {
            Err(e @ Error::Trap { .. }) if self.failure_policy.is_some() => {
                self.trapped(e, name, context);
                None
            }
            other => other?,
        };
        self.share_maps(context);
        self.mark_chained(context);
        self.after_callback()?;
        self.forward_chains()?;
        Ok(result)
    }

    /// Records a trap under a failure policy and answers its stream 503.
    fn trapped(&mut self, error: Error, callback: &str, context: u32) {
        let at_unix_nanos = self.store.data().clock.realtime;
        self.traps.push(super::TrapRecord {
            error: error.to_string(),
            callback: callback.to_owned(),
            context_id: context,
            at_unix_nanos,
        });
        self.fail_stream(context);
    }

    /// Answers a stream 503 without the filter (Envoy, for a request its failed VM cannot serve).
    pub(super) fn fail_stream(&mut self, context: u32) {
        let state = self.store.data_mut();
        let Some(stream) = state.streams.get_mut(&context) else { return };
        if stream.local_reply.is_none() && !stream.complete && stream.response_headers.is_none() {
            stream.pending_local_reply = Some(crate::stream::LocalReply {
                status: 503,
                details: String::new(),
                body: Vec::new(),
                headers: Vec::new(),
                grpc_status: None,
            });
            state.pending_actions.push(context);
        }
    }

    /// `proxy_on_done` then `proxy_on_delete` on a root context.
    pub(super) fn callback_root_done(&mut self, root: u32) -> Result<(), Error> {
        let done = self.callback("proxy_on_done", root, &[i(root)])?;
        if let Some(p) = self.store.data_mut().plugins.get_mut(&root).filter(|_| done == Some(0)) {
            p.done_pending = true;
        }
        self.callback("proxy_on_delete", root, &[i(root)])?;
        Ok(())
    }

    fn invoke(&mut self, name: &str, context: u32, args: &[Val], phase: Phase) -> Result<Option<i32>, Error> {
        let worker = self.worker_of(context);
        if self.failed.get(worker).copied().unwrap_or(true) {
            return Err(Error::VmFailed);
        }
        let Some(instance) = self.instances.get(worker).copied() else { return Err(Error::VmFailed) };
        let Some(func) = instance.get_func(&mut self.store, name) else { return Ok(None) };
        let results_len = func.ty(&self.store).results().len();
        let mut results = vec![Val::I32(0); results_len];
        if let Some(fuel) = self.fuel_per_call {
            let left = self.store.get_fuel().unwrap_or(self.fuel_set);
            self.fuel_used += self.fuel_set.saturating_sub(left);
            self.store.set_fuel(fuel).map_err(|e| Error::Usage(e.to_string()))?;
            self.fuel_set = fuel;
        }
        if self.module.deadline() {
            self.store.set_epoch_deadline(self.epoch_ticks_per_call.unwrap_or(crate::module::NO_EPOCH_DEADLINE));
        }
        let logs_before = self.store.data().logs.len();
        {
            let state = self.store.data_mut();
            state.current = context;
            state.phase = phase;
        }
        let outcome = func.call(&mut self.store, args, &mut results);
        {
            let state = self.store.data_mut();
            state.phase = Phase::Idle;
            state.current = 0;
        }
        match outcome {
            Ok(()) => Ok(results.first().and_then(Val::i32)),
            Err(e) => {
                if let Some(failed) = self.failed.get_mut(worker) {
                    *failed = true;
                }
                let backtrace = e.downcast_ref::<WasmBacktrace>().map(|b| format!("{b}")).unwrap_or_default();
                let panic = self.store.data().logs.get(logs_before..).unwrap_or_default().iter().rev().find_map(|l| {
                    (l.level == LogLevel::Critical || l.message.contains("panicked at")).then(|| l.message.clone())
                });
                // A guest trap is a `Trap`; a host function's refusal is the root cause's message.
                let message = match e.downcast_ref::<wasmtime::Trap>() {
                    Some(wasmtime::Trap::Interrupt) => format!(
                        "ran longer than the limit of {} per callback (an endless loop?)",
                        crate::module::show_epoch_ticks(self.epoch_ticks_per_call.unwrap_or(0))
                    ),
                    Some(wasmtime::Trap::OutOfFuel) => format!(
                        "used up its fuel, {} Wasm instructions per callback (an endless loop?)",
                        self.fuel_per_call.unwrap_or(0)
                    ),
                    Some(trap) => trap.to_string(),
                    None => e.root_cause().to_string(),
                };
                Err(Error::Trap { callback: name.to_owned(), message, panic, backtrace })
            }
        }
    }

    /// Envoy's `addAfterVmCallAction`s: local replies, continued streams, and callout answers
    /// (never delivered re-entrantly, always after the callback that caused them).
    fn after_callback(&mut self) -> Result<(), Error> {
        loop {
            let mut replies = std::mem::take(&mut self.store.data_mut().pending_actions);
            replies.dedup();
            for id in &replies {
                self.apply_stream_actions(*id)?;
            }
            let deferred = std::mem::take(&mut self.store.data_mut().callouts.deferred);
            for (token, answer) in &deferred {
                self.deliver_http(*token, answer.clone(), false)?;
            }
            let answered = self.deliver_due_answers()?;
            if replies.is_empty() && deferred.is_empty() && !answered {
                return Ok(());
            }
        }
    }
}

pub(super) fn i(v: u32) -> Val {
    Val::I32(v as i32)
}

pub(super) fn len(v: usize) -> Val {
    Val::I32(i32::try_from(v).unwrap_or(i32::MAX))
}

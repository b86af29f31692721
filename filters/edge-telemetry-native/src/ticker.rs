//! The tick: a thread of the module's that asks Envoy, every tick period, to run the config's
//! scheduled hook on the main thread.
//!
//! The HTTP-filter ABI has no timer (only bootstrap extensions have one); its config scheduler
//! can be committed from any thread, "including the ones managed by the module" (`abi.h`,
//! `envoy_dynamic_module_callback_http_filter_config_scheduler_new`). The period is the one the
//! pipeline asked for with `set_tick_period_ms`; until it asks, the thread only waits.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::abi::Scheduler;
use crate::plugin::EVENT_TICK;

/// How long the thread waits while no period is set.
const IDLE: Duration = Duration::from_millis(200);

/// The running tick thread.
#[derive(Debug)]
pub struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts ticking through `scheduler` every `period_ms` (read again before every wait).
    pub fn start(scheduler: Arc<Scheduler>, period_ms: Arc<AtomicU32>) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(String::from("meshlens-tick"))
            .spawn(move || {
                let (stopped, wake) = &*flag;
                let mut guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    let ms = period_ms.load(Ordering::Relaxed);
                    let wait = if ms == 0 { IDLE } else { Duration::from_millis(u64::from(ms)) };
                    guard = wake.wait_timeout(guard, wait).unwrap_or_else(PoisonError::into_inner).0;
                    if *guard {
                        return;
                    }
                    if ms != 0 {
                        scheduler.commit(EVENT_TICK);
                    }
                }
            })
            .ok();
        Self { stop, thread }
    }

    /// Stops the thread and waits for it: no commit can follow.
    pub fn stop(mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

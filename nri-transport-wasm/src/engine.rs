//! The wasmtime engine all WASM plugins of a transport share, and the clock
//! that interrupts running guests so their deadlines are checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Cache, Config, Engine};

use crate::error::LoadError;

/// An engine with its epoch clock: a thread that advances the engine's
/// epoch every tick, for as long as the engine is in use.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    stop: Arc<AtomicBool>,
    clock: Option<JoinHandle<()>>,
}

impl Runtime {
    pub(crate) fn new(tick: Duration, cache: Option<Cache>) -> Result<Runtime, LoadError> {
        let mut config = Config::new();
        config.cache(cache);
        // Calls run as futures: a guest yields to the executor at every
        // epoch tick, so a looping guest never holds a thread for more than
        // one tick, and dropping the call's future ends it.
        config.async_support(true);
        config.epoch_interruption(true);
        // Deep recursion traps instead of exhausting the host stack.
        config.max_wasm_stack(1 << 20);
        config.async_stack_size(2 << 20);
        let engine = Engine::new(&config).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let tick = tick.max(Duration::from_millis(1));
        let stop = Arc::new(AtomicBool::new(false));
        let clock = {
            let (engine, stop) = (engine.clone(), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("nri-wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(LoadError::Read)?
        };
        Ok(Runtime {
            engine,
            stop,
            clock: Some(clock),
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(clock) = self.clock.take() {
            clock.thread().unpark();
            let _ = clock.join();
        }
    }
}

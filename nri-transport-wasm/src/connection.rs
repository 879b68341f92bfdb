//! The runtime's end of a WASM plugin: calls become calls into the guest.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nri_core::transport::{
    CallError, CloseReason, Origin, PluginConnection, PluginRequestRef, PluginResponse, RuntimeCall,
};
use tokio::sync::mpsc;

use crate::guest::Guest;

/// A loaded WASM plugin as a [`PluginConnection`]. Calls run one at a time
/// on the plugin's instance. A crash (see [`crate::GuestError::is_crash`]) drops
/// the instance and ends the connection's call stream, so nri-core removes
/// the plugin as it does one whose process died.
pub(crate) struct WasmConnection {
    label: Arc<str>,
    guest: tokio::sync::Mutex<Option<Guest>>,
    state: Mutex<State>,
}

struct State {
    /// Why the connection ended, once it has.
    ended: Option<CloseReason>,
    /// Held while the plugin is alive: dropping it ends the stream of the
    /// plugin's Runtime-service calls.
    calls: Option<mpsc::Sender<RuntimeCall>>,
}

impl WasmConnection {
    pub(crate) fn new(label: Arc<str>, guest: Guest, calls: mpsc::Sender<RuntimeCall>) -> Self {
        WasmConnection {
            label,
            guest: tokio::sync::Mutex::new(Some(guest)),
            state: Mutex::new(State {
                ended: None,
                calls: Some(calls),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the connection for `reason` unless it already ended.
    fn end(&self, reason: CloseReason) {
        let mut state = self.state();
        if state.ended.is_none() {
            state.ended = Some(reason);
        }
        state.calls = None;
    }

    fn ended(&self) -> Option<CloseReason> {
        self.state().ended.clone()
    }
}

#[async_trait::async_trait]
impl PluginConnection for WasmConnection {
    async fn call(
        &self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, CallError> {
        // nri-core calls a plugin one event at a time, so the lock is
        // nearly always free: take it without building the queued
        // acquisition `lock()` needs.
        let mut slot = match self.guest.try_lock() {
            Ok(slot) => slot,
            Err(_) => self.guest.lock().await,
        };
        if let Some(reason) = self.ended() {
            *slot = None;
            return Err(CallError::Closed { reason });
        }
        let Some(guest) = slot.as_mut() else {
            return Err(CallError::Closed {
                reason: CloseReason::ClosedHere("plugin unloaded".into()),
            });
        };
        let outcome = guest.call(request, timeout).await;
        match outcome {
            Ok(response) => Ok(response),
            Err(error) if error.is_crash() => {
                tracing::warn!(plugin = %self.label, %error, "WASM plugin crashed, unloading it");
                *slot = None;
                self.end(CloseReason::Failed(error.to_string()));
                Err(error.into_call_error())
            }
            Err(error) => Err(error.into_call_error()),
        }
    }

    async fn close(&self) {
        self.end(CloseReason::ClosedHere("connection closed".into()));
        // A running call drops the instance when it returns.
        if let Ok(mut slot) = self.guest.try_lock() {
            *slot = None;
        }
    }

    fn origin(&self) -> Origin {
        Origin::Launched { pid: None }
    }
}

//! **Test only**: the relay guest and the host import it calls, so that a
//! test's plugin written in Rust can answer calls that went through the
//! whole WASM path (encoding, guest memory, the ABI's packed results,
//! deadlines, traps).
//!
//! `guests/relay.wat` is a module of upstream's ABI whose every
//! `plugin_<method>` export calls the host import `nri_test.call(method,
//! ptr, size) -> u64`. That import exists only in the linker of
//! [`WasmTransport::load_test_relay`](crate::WasmTransport::load_test_relay):
//! plugins loaded from the plugin directory are linked without it, so a
//! module importing it does not load there, and no real module can reach a
//! [`TestRelay`].
//!
//! The import reads the request from guest memory, awaits the relay's
//! answer (up to the call's deadline: a relay that never answers is a guest
//! that timed out), writes the answer into memory the guest's `malloc`
//! gives and returns its packed location. A relay's `Err` traps the guest,
//! which the transport treats as a crash.

use std::sync::Arc;
use std::time::Instant;

use nri_core::transport::{METHODS, Method};
use wasmtime::{Caller, Extern, Linker};

use crate::guest::{DeadlineExceeded, ERROR_BIT};
use crate::host::GuestState;

/// The relay guest, compiled from `guests/relay.wat`. Test only.
#[doc(hidden)]
pub const RELAY_GUEST: &[u8] = include_bytes!("../guests/relay.wasm");

/// What answers the relay guest's calls. **Test only**, see
/// [`WasmTransport::load_test_relay`](crate::WasmTransport::load_test_relay).
#[doc(hidden)]
#[async_trait::async_trait]
pub trait TestRelay: Send + Sync + 'static {
    /// Answers one call: `Ok(Ok(bytes))` is the encoded reply,
    /// `Ok(Err(message))` the guest's error string (bit 31), `Err(reason)`
    /// traps the guest (the plugin crashes).
    async fn call(
        &self,
        method: Method,
        request: Vec<u8>,
    ) -> Result<Result<Vec<u8>, String>, String>;
}

/// Adds `nri_test.call` to a linker used only for relay guests.
pub(crate) fn add_test_module(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "nri_test",
        "call",
        |mut caller: Caller<'_, GuestState>, (method, ptr, size): (u32, u32, u32)| {
            Box::new(async move { relay_call(&mut caller, method, ptr, size).await })
        },
    )?;
    Ok(())
}

async fn relay_call(
    caller: &mut Caller<'_, GuestState>,
    method: u32,
    ptr: u32,
    size: u32,
) -> wasmtime::Result<u64> {
    let fail = |message: String| wasmtime::Error::msg(format!("nri_test.call: {message}"));
    let method = usize::try_from(method)
        .ok()
        .and_then(|i| METHODS.get(i).copied())
        .ok_or_else(|| fail(format!("no method number {method}")))?;
    let relay = caller
        .data()
        .relay
        .clone()
        .ok_or_else(|| fail("no relay in this store".into()))?;
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(fail("the module exports no memory".into()));
    };
    let request = memory
        .data(&*caller)
        .get(ptr as usize..(ptr as usize).saturating_add(size as usize))
        .ok_or_else(|| fail(format!("{size} bytes at {ptr:#x} lie outside memory")))?
        .to_vec();
    let answer = relay.call(method, request);
    let answer = match caller.data().deadline {
        Some(deadline) => {
            let deadline = tokio::time::Instant::from_std(deadline.max(Instant::now()));
            tokio::time::timeout_at(deadline, answer)
                .await
                .map_err(|_| wasmtime::Error::new(DeadlineExceeded))?
        }
        None => answer.await,
    };
    let (bytes, error_bit) = match answer.map_err(fail)? {
        Ok(bytes) => (bytes, 0),
        Err(message) => (message.into_bytes(), ERROR_BIT),
    };
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&len| len & ERROR_BIT == 0)
        .ok_or_else(|| fail(format!("a {} byte reply is too large", bytes.len())))?;
    if len == 0 {
        return Ok(u64::from(error_bit));
    }
    let malloc = caller
        .get_export("malloc")
        .and_then(Extern::into_func)
        .ok_or_else(|| fail("the module exports no malloc".into()))?
        .typed::<u32, u32>(&*caller)?;
    let at = malloc.call_async(&mut *caller, len).await?;
    memory
        .data_mut(&mut *caller)
        .get_mut(at as usize..(at as usize).saturating_add(bytes.len()))
        .ok_or_else(|| fail(format!("malloc gave {at:#x}, outside memory")))?
        .copy_from_slice(&bytes);
    Ok(u64::from(at) << 32 | u64::from(len | error_bit))
}

/// A relay as a store holds it.
pub(crate) type SharedRelay = Arc<dyn TestRelay>;

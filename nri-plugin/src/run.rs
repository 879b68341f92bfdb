//! Running a plugin until its runtime or a signal stops it.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use nri_core::stub::{Plugin, Stub, StubBuilder, StubError};

use crate::connect::{RuntimeAddress, connector};

/// Waits for SIGINT or SIGTERM (forever if they cannot be watched).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Runs `stub` until the runtime stops the plugin (Shutdown, then the
/// connection's end: `Ok`), SIGINT or SIGTERM (`Ok`, after closing the
/// connection), or the connection ends otherwise or cannot be made (the
/// error). Must run inside a tokio runtime with I/O and time enabled.
pub async fn run<P: Plugin>(stub: &Stub<P>) -> Result<(), StubError> {
    stub.run_until(shutdown_signal()).await
}

/// A plugin's whole `main()`: [`main_at`] the default address (upstream's
/// socket, over ttrpc, for a plugin no runtime launched).
pub fn main<P: Plugin>(builder: StubBuilder<P>) -> ExitCode {
    main_at(builder, &RuntimeAddress::default())
}

/// Builds the stub with the [`connector`] for `address`, runs it as
/// [`run`] does on a single-threaded tokio runtime, and returns the exit
/// status: success when the runtime or a signal stopped the plugin,
/// failure otherwise, with the reason on standard error (prefixed with the
/// program's name).
pub fn main_at<P: Plugin>(builder: StubBuilder<P>, address: &RuntimeAddress) -> ExitCode {
    main_with(builder, address, |_| {})
}

/// [`main_at`], calling `built` with the stub once it is built and before
/// it runs (to hand its [`Stopper`](nri_core::stub::Stopper) to the
/// plugin, say).
pub fn main_with<P: Plugin>(
    builder: StubBuilder<P>,
    address: &RuntimeAddress,
    built: impl FnOnce(&Stub<P>),
) -> ExitCode {
    let program = program_name(std::env::args_os().next());
    let fail = |error: &dyn std::fmt::Display| {
        eprintln!("{program}: {error}");
        ExitCode::FAILURE
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let connector = match connector(address) {
        Ok(connector) => connector,
        Err(error) => return fail(&error),
    };
    let stub = match builder.build(connector) {
        Ok(stub) => stub,
        Err(error) => return fail(&error),
    };
    built(&stub);
    match runtime.block_on(run(&stub)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// The executable's file name, for messages.
fn program_name(argv0: Option<OsString>) -> String {
    argv0
        .as_deref()
        .and_then(|path| Path::new(path).file_name())
        .map_or_else(
            || "nri-plugin".to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
}

//! `nri-echo-plugin`: the echo sample plugin
//! ([`nri_testkit::echo_plugin`]) as a plugin process speaking the upstream
//! NRI wire protocol.
//!
//! Launched by a runtime (`NRI_PLUGIN_SOCKET` set), it adopts its socket
//! and registers under `NRI_PLUGIN_IDX`-`NRI_PLUGIN_NAME`. Started by hand,
//! it dials the socket given as its first argument (default
//! `/var/run/nri/nri.sock`) and registers as `10-echo`, or under the index
//! and name given as the second and third arguments. It runs until the
//! runtime closes the connection; it exits with status 1, saying why on
//! standard error, when it cannot connect or register.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use nri_core::proto::api::RegisterPluginRequest;
use nri_core::transport::RuntimeRequest;
use nri_testkit::echo_plugin::EchoPlugin;
use nri_transport_ttrpc::runtime::{ENV_PLUGIN_IDX, ENV_PLUGIN_NAME};
use nri_transport_ttrpc::{DEFAULT_SOCKET_PATH, RuntimeConnection};

/// How long registration may take (upstream's default).
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("nri-echo-plugin: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nri-echo-plugin: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let handler = Arc::new(EchoPlugin);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (connection, index, name) = match RuntimeConnection::from_environment(handler.clone())
        .map_err(|error| error.to_string())?
    {
        Some(connection) => (
            connection,
            std::env::var(ENV_PLUGIN_IDX).unwrap_or_default(),
            std::env::var(ENV_PLUGIN_NAME).unwrap_or_default(),
        ),
        None => {
            let path = args.first().map_or(DEFAULT_SOCKET_PATH, String::as_str);
            let connection = RuntimeConnection::connect(path, handler)
                .await
                .map_err(|error| error.to_string())?;
            let index = args.get(1).cloned().unwrap_or_else(|| "10".into());
            let name = args.get(2).cloned().unwrap_or_else(|| "echo".into());
            (connection, index, name)
        }
    };
    let register = RegisterPluginRequest {
        plugin_name: name,
        plugin_idx: index,
        nri_version: "v0.12.2".into(),
    };
    connection
        .call(
            RuntimeRequest::RegisterPlugin(register),
            Some(REGISTRATION_TIMEOUT),
        )
        .await
        .map_err(|error| format!("cannot register: {error}"))?;
    connection.closed().await;
    Ok(())
}

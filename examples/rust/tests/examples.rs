#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The examples run: the plugin against the runtime, as an external plugin
//! and launched by it, and the plugin ending on SIGTERM. Real processes,
//! real unix sockets.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nri_testkit::conformance::{TtrpcHarness, options, start, state};
use nri_testkit::domain::FakeDomain;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const RUNTIME: &str = env!("CARGO_BIN_EXE_example-runtime");
const PLUGIN: &str = env!("CARGO_BIN_EXE_example-plugin");

/// A watchdog over each step: nothing waits for it to pass.
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("watchdog: {what} took longer than 30 s"))
}

/// Starts the example runtime; returns it and its output lines.
fn runtime(args: &[&std::path::Path]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(RUNTIME)
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Checks the rest of the runtime's output: `plugin` registered, its
/// adjustment, the stop; and that the runtime exits with success.
async fn runs_the_lifecycle_with(
    runtime: &mut Child,
    lines: &mut Lines<BufReader<ChildStdout>>,
    plugin: &str,
) {
    let mut output = Vec::new();
    while let Some(line) = within("runtime output", lines.next_line()).await.unwrap() {
        output.push(line);
    }
    assert_eq!(
        output,
        [
            format!("plugin {plugin} registered"),
            "adjusted env POD_NAME=web".to_string(),
            "stopped".to_string()
        ]
    );
    let status = within("runtime exit", runtime.wait()).await.unwrap();
    assert!(status.success(), "the runtime exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_adjusts_the_runtimes_container_and_ends_cleanly_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nri.sock");
    let (mut runtime, mut lines) = runtime(&[&socket]);
    let first = within("listening", lines.next_line()).await.unwrap();
    assert_eq!(
        first.as_deref(),
        Some(&*format!("listening on {}", socket.display()))
    );

    let mut plugin = Command::new(PLUGIN)
        .arg(&socket)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    runs_the_lifecycle_with(&mut runtime, &mut lines, "10-pod-name").await;
    // The runtime sent Shutdown and closed: a clean stop, status 0.
    let status = within("plugin exit", plugin.wait()).await.unwrap();
    assert!(status.success(), "the plugin exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_launches_the_plugin_which_connects_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nri.sock");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    // Launched as 20-launched: the runtime's identity wins over the
    // plugin's own options.
    std::os::unix::fs::symlink(PLUGIN, plugins.join("20-launched")).unwrap();
    let (mut runtime, mut lines) = runtime(&[&socket, &plugins]);
    within("listening", lines.next_line()).await.unwrap();
    runs_the_lifecycle_with(&mut runtime, &mut lines, "20-launched").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_plugin_cleanly() {
    let harness = TtrpcHarness::new().unwrap();
    let adaptation = start(
        &harness,
        options(),
        Arc::new(FakeDomain::from_snapshot(state())),
    )
    .await;
    let mut plugin = Command::new(PLUGIN)
        .arg(harness.socket())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    within("registered", adaptation.wait_for_plugins(1)).await;
    let pid = rustix::process::Pid::from_raw(plugin.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = within("plugin exit", plugin.wait()).await.unwrap();
    assert!(status.success(), "the plugin exited with {status}");
    adaptation.stop().await;
}

//! A module built by Go's own toolchain, as upstream builds its WASM sample
//! (`GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared`): megabytes of
//! code, a Go runtime initialised by `_initialize`, WASI calls. Needs `go`
//! (`NRI_GO`, else on `PATH`; CI installs it); skipped without it outside CI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nri_core::proto::api::{
    ConfigureRequest, CreateContainerRequest, Empty, RemoveContainerRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest, StateChangeEvent,
    StopContainerRequest, StopPodSandboxRequest, SynchronizeRequest, UpdateContainerRequest,
    ValidateContainerAdjustmentRequest,
};
use nri_core::transport::{self, PluginRpc as _};
use nri_transport_wasm::{WasmOptions, WasmTransport};

const TIMEOUT: Duration = Duration::from_secs(5);

fn go() -> Option<PathBuf> {
    if let Some(go) = std::env::var_os("NRI_GO") {
        return Some(go.into());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("go"))
        .find(|p| p.is_file())
}

/// Builds guests/go-adjuster into `dir`, or says why it cannot.
fn build(dir: &Path) -> Option<PathBuf> {
    let Some(go) = go() else {
        let why = "no Go toolchain (set NRI_GO or put go on PATH)";
        if std::env::var_os("CI").is_some() {
            panic!("{why}");
        }
        eprintln!("skipping: {why}");
        return None;
    };
    let out = dir.join("40-go-adjuster");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/rebuild-go.sh");
    let status = Command::new(script)
        .arg(&out)
        .env("GO", &go)
        .env("GOCACHE", dir.join("gocache"))
        .env("GOPATH", dir.join("gopath"))
        .status()
        .unwrap();
    assert!(status.success(), "go build failed: {status}");
    Some(out)
}

#[tokio::test(flavor = "current_thread")]
async fn a_go_built_module_loads_and_serves_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let Some(module) = build(dir.path()) else {
        return;
    };
    let bytes = std::fs::read(&module).unwrap();
    assert!(
        bytes.len() > 1 << 20,
        "a Go module is megabytes: {}",
        bytes.len()
    );
    let plugin = common::install(dir.path(), "40-go-adjuster", &bytes);
    let transport = WasmTransport::new(WasmOptions::default()).unwrap();
    let started = Instant::now();
    let accepted = transport.load(&plugin).await.expect("the Go module loads");
    eprintln!(
        "loaded a {} byte Go module in {:?}",
        bytes.len(),
        started.elapsed()
    );
    let c = accepted.connection.as_ref();
    let configured = transport::call(c, &ConfigureRequest::default(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(configured.events, 0x6af);
    // Every other method, in a lifecycle's order; each answers.
    let requests = [
        SynchronizeRequest::default().into_request(),
        RunPodSandboxRequest::default().into_request(),
        StartContainerRequest::default().into_request(),
        UpdateContainerRequest::default().into_request(),
        StopContainerRequest::default().into_request(),
        RemoveContainerRequest::default().into_request(),
        StopPodSandboxRequest::default().into_request(),
        RemovePodSandboxRequest::default().into_request(),
        StateChangeEvent::default().into_request(),
        Empty::default().into_request(),
    ];
    for request in &requests {
        let reply = c.call(request.borrowed(), TIMEOUT).await;
        assert!(reply.is_ok(), "{:?}: {reply:?}", request.method());
    }
    for _ in 0..100 {
        let created = transport::call(c, &CreateContainerRequest::default(), TIMEOUT)
            .await
            .unwrap();
        let adjust = created.adjust.expect("an adjustment");
        assert_eq!(
            adjust.annotations.get("adjusted-by").map(String::as_str),
            Some("wasm")
        );
        assert_eq!(adjust.env[0].value, "adjusted");
    }
    let verdict = transport::call(c, &ValidateContainerAdjustmentRequest::default(), TIMEOUT)
        .await
        .unwrap();
    assert!(!verdict.reject);
}

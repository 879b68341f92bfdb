//! WASM plugins in a real adaptation: discovery tells modules from
//! executables, the WASM transport loads them (no registration: they start
//! at Configure with their configuration file), their adjustments are
//! merged and their validation counts, and a crashing module is removed
//! while the event goes on without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use nri_core::adaptation::Adaptation;
use nri_core::transport::Transport;
use nri_testkit::conformance::{container, create_request, options, pod, state, within};
use nri_testkit::domain::FakeDomain;
use nri_transport_wasm::{WasmOptions, WasmTransport};

fn adjuster_source() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../nri-transport-wasm/guests/adjuster.wat");
    std::fs::read_to_string(path).unwrap()
}

fn install(dir: &Path, label: &str, bytes: &[u8]) {
    let path = dir.join(label);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn wasm_plugins_join_adjust_validate_and_crash_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (plugins, conf) = (dir.path().join("plugins"), dir.path().join("conf"));
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&conf).unwrap();
    let source = adjuster_source();
    install(&plugins, "10-adjuster", &wat::parse_str(&source).unwrap());
    std::fs::write(conf.join("10-adjuster.conf"), "validate: true\n").unwrap();
    // The same plugin, but its CreateContainer traps.
    let trapping = source.replace(
        "(call $reply (i32.const 1024) (i32.const 45)))",
        "unreachable)",
    );
    assert_ne!(
        trapping, source,
        "the adjuster's CreateContainer changed: update this test"
    );
    install(&plugins, "20-trap", &wat::parse_str(&trapping).unwrap());
    // A module of another ABI version does not load; the others do.
    let future = source.replace(
        "(func (export \"plugin_api_version\") (result i64) (i64.const 1))",
        "(func (export \"plugin_api_version\") (result i64) (i64.const 2))",
    );
    install(&plugins, "05-future", &wat::parse_str(&future).unwrap());

    let mut nri = options().with_plugin_path(Some(plugins));
    nri.plugin_config_path = conf;
    let runtime = Arc::new(FakeDomain::from_snapshot(state()));
    let adaptation = Adaptation::new(nri, runtime);
    let wasm: Arc<dyn Transport> = Arc::new(WasmTransport::new(WasmOptions::default()).unwrap());
    within("start", adaptation.start(vec![wasm])).await.unwrap();
    within("the plugins", adaptation.wait_for_plugins(2)).await;
    let joined: Vec<String> = adaptation
        .plugins()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(joined, ["10-adjuster", "20-trap"]);
    // Configured with its file: it subscribed to validation too.
    let adjuster = &adaptation.plugins()[0];
    assert!(
        adjuster
            .events
            .contains(nri_core::proto::event::Event::ValidateContainerAdjustment)
    );

    // The trapping plugin is removed, the event goes on with the adjuster's
    // adjustment (which it also validated).
    let (pod, mut ctr) = (pod(0), container(5, 0));
    let reply = within(
        "CreateContainer",
        adaptation.create_container(create_request(&pod, &ctr)),
    )
    .await
    .expect("the event goes on without the crashed plugin");
    let adjust = reply.adjust.expect("the adjuster's adjustment");
    assert_eq!(
        adjust.annotations.get("adjusted-by").map(String::as_str),
        Some("wasm")
    );
    assert!(
        adjust
            .env
            .iter()
            .any(|kv| kv.key == "NRI_WASM" && kv.value == "adjusted")
    );
    let left: Vec<String> = adaptation
        .plugins()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(left, ["10-adjuster"]);

    // The validator rejects a container that carries "wasm-deny".
    ctr.id = "ctr6".into();
    ctr.annotations.insert("policy".into(), "wasm-deny".into());
    let rejected = within(
        "CreateContainer",
        adaptation.create_container(create_request(&pod, &ctr)),
    )
    .await;
    let error = rejected.expect_err("the WASM validator rejects it");
    assert!(
        error.to_string().contains("denied by the WASM validator"),
        "{error}"
    );

    within("stop", adaptation.stop()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_wasm_transport_a_module_is_skipped_not_executed() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    install(
        &plugins,
        "10-adjuster",
        &wat::parse_str(adjuster_source()).unwrap(),
    );
    let nri = options().with_plugin_path(Some(plugins));
    let adaptation = Adaptation::new(nri, Arc::new(FakeDomain::from_snapshot(state())));
    // An in-process transport only: it launches nothing, WASM or not.
    let (in_process, _connector) = nri_core::transport::in_process::transport();
    within("start", adaptation.start(vec![Arc::new(in_process)]))
        .await
        .expect("a module without WASM support does not fail the start");
    assert!(adaptation.plugins().is_empty());
    within("stop", adaptation.stop()).await;
}

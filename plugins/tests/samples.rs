#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every sample plugin as a real child process against our runtime over a
//! real unix socket: once started by hand with its flags (an external
//! plugin), once launched by the runtime from a plugin directory (fd 3 and
//! the three variables). Each test checks the merged adjustment the runtime
//! gets for an annotated pod, field by field, against what upstream's
//! plugin of the same name produces.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nri_core::adaptation::{Adaptation, Snapshot};
use nri_core::proto::api::{
    ContainerAdjustment, CreateContainerRequest, CreateContainerResponse, Event, KeyValue,
};
use nri_core::proto::event::{Event as NriEvent, EventMask};
use nri_testkit::conformance::{GrpcHarness, TtrpcHarness, container, options, pod, start, within};
use nri_testkit::domain::FakeDomain;
use tokio::process::{Child, Command};

/// Our runtime, listening on a socket in a temporary directory.
struct Runtime {
    harness: TtrpcHarness,
    adaptation: Adaptation,
}

async fn runtime() -> Runtime {
    let harness = TtrpcHarness::new().unwrap();
    let adaptation = start(
        &harness,
        options(),
        Arc::new(FakeDomain::from_snapshot(Snapshot::default())),
    )
    .await;
    Runtime {
        harness,
        adaptation,
    }
}

/// Starts a sample plugin binary by hand with `args`, dialing `socket`.
fn spawn(binary: &str, socket: &Path, args: &[&str]) -> Child {
    Command::new(binary)
        .arg("--socket-path")
        .arg(socket)
        .args(args)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// The runtime's merged reply to creating container 0 of `pod` with these
/// pod annotations.
async fn create(adaptation: &Adaptation, annotations: &[(&str, &str)]) -> CreateContainerResponse {
    let mut pod = pod(0);
    pod.annotations = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let request = CreateContainerRequest {
        pod: Some(pod),
        container: Some(container(0, 0)),
    };
    within("CreateContainer", adaptation.create_container(request))
        .await
        .unwrap()
}

fn env(adjust: &ContainerAdjustment) -> Vec<(&str, &str)> {
    adjust
        .env
        .iter()
        .map(|KeyValue { key, value }| (key.as_str(), value.as_str()))
        .collect()
}

fn annotations(adjust: &ContainerAdjustment) -> Vec<(&str, &str)> {
    adjust
        .annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_echo_subscribes_to_every_event_but_validation_and_echoes_its_identity() {
    let rt = runtime().await;
    let _plugin = spawn(
        env!("CARGO_BIN_EXE_nri-echo"),
        rt.harness.socket(),
        &["--idx", "10", "--name", "echo"],
    );
    within("registered", rt.adaptation.wait_for_plugins(1)).await;
    let info = &rt.adaptation.plugins()[0];
    assert_eq!(info.id.to_string(), "10-echo");
    assert_eq!(
        info.events,
        EventMask::ALL.without(NriEvent::ValidateContainerAdjustment)
    );

    let adjust = create(&rt.adaptation, &[]).await.adjust.unwrap();
    assert_eq!(env(&adjust), [("NRI_ECHO_10", "echo")]);
    assert_eq!(annotations(&adjust), [("echo.nri.dev/10-echo", "true")]);
    rt.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_echo_configured_to_validate_subscribes_to_everything() {
    let rt = runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("echo.yaml");
    std::fs::write(&config, "validate: true\n").unwrap();
    let _plugin = spawn(
        env!("CARGO_BIN_EXE_nri-echo"),
        rt.harness.socket(),
        &[
            "--idx",
            "11",
            "--name",
            "echo",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    within("registered", rt.adaptation.wait_for_plugins(1)).await;
    assert_eq!(rt.adaptation.plugins()[0].events, EventMask::ALL);
    let adjust = create(&rt.adaptation, &[]).await.adjust.unwrap();
    assert_eq!(env(&adjust), [("NRI_ECHO_11", "echo")]);
    rt.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_logger_logs_validates_and_adds_or_sets_what_it_is_told() {
    let rt = runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logger.log");
    let plugin = spawn(
        env!("CARGO_BIN_EXE_nri-logger"),
        rt.harness.socket(),
        &[
            "--idx",
            "20",
            "--add-annotation",
            "logger.example.com/added",
            "--set-env",
            "LOGGED_BY",
            "--log-file",
            log.to_str().unwrap(),
        ],
    );
    let pid = plugin.id().unwrap();
    within("registered", rt.adaptation.wait_for_plugins(1)).await;
    let info = &rt.adaptation.plugins()[0];
    assert_eq!(info.id.to_string(), "20-nri-logger");
    // Every event, validation included: the logger is a validator.
    assert_eq!(info.events, EventMask::ALL);

    let adjust = create(&rt.adaptation, &[]).await.adjust.unwrap();
    let value = format!("logger-pid-{pid}");
    assert_eq!(
        annotations(&adjust),
        [("logger.example.com/added", value.as_str())]
    );
    // The removal marker of the "set" form is the runtime's to apply; the
    // merged reply keeps the value.
    assert_eq!(
        env(&adjust)
            .into_iter()
            .filter(|(k, _)| !k.starts_with('-'))
            .collect::<Vec<_>>(),
        [("LOGGED_BY", value.as_str())]
    );
    // Each part is YAML, as upstream's logger writes it: `.proto` field
    // names, enums as numbers, defaults left out.
    let logged = std::fs::read_to_string(&log).unwrap();
    let container = logged_yaml(&logged, "CreateContainer", "container");
    assert_eq!(container["id"], "ctr0", "{logged}");
    assert_eq!(container["pod_sandbox_id"], "pod0", "{logged}");
    assert_eq!(container["state"], 1, "{logged}");
    assert_eq!(
        container["args"],
        serde_json::json!(["sleep", "inf"]),
        "{logged}"
    );
    assert!(
        container.get("labels").is_none(),
        "defaults left out: {logged}"
    );
    let pod = logged_yaml(&logged, "CreateContainer", "pod");
    assert_eq!(pod["uid"], "uid-pod0", "{logged}");
    let request = logged_yaml(&logged, "ValidateContainerAdjustment", "request");
    assert_eq!(request["container"]["id"], "ctr0", "{logged}");
    assert_eq!(
        request["adjust"]["annotations"]["logger.example.com/added"],
        value.as_str(),
        "{logged}"
    );
    rt.adaptation.stop().await;
}

/// The object the logger logged as `tag` of `event`, read back from its
/// YAML lines (`event:    line`).
fn logged_yaml(log: &str, event: &str, tag: &str) -> serde_json::Value {
    let header = format!("{event}: {tag}:");
    let indent = format!("{event}:    ");
    let mut lines = log.lines().skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "no {header} in the log:\n{log}");
    let yaml: String = lines
        .map_while(|l| l.strip_prefix(indent.as_str()))
        .map(|l| format!("{l}\n"))
        .collect();
    serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{header} is not YAML ({e}):\n{yaml}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_logger_subscribes_to_the_events_it_is_given() {
    let rt = runtime().await;
    let _plugin = spawn(
        env!("CARGO_BIN_EXE_nri-logger"),
        rt.harness.socket(),
        &["--idx", "21", "--events", "RunPodSandbox,StopContainer"],
    );
    within("registered", rt.adaptation.wait_for_plugins(1)).await;
    assert_eq!(
        rt.adaptation.plugins()[0].events,
        EventMask::of([Event::RunPodSandbox, Event::StopContainer])
    );
    rt.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_template_handles_pod_and_container_events_and_adjusts_nothing() {
    let rt = runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("template.yaml");
    std::fs::write(&config, "cfgParam1: from a file\n").unwrap();
    let mut plugin = spawn(
        env!("CARGO_BIN_EXE_nri-template"),
        rt.harness.socket(),
        &[
            "--idx",
            "30",
            "--name",
            "template",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    within("registered", rt.adaptation.wait_for_plugins(1)).await;
    assert_eq!(
        rt.adaptation.plugins()[0].events,
        EventMask::ALL.without(NriEvent::ValidateContainerAdjustment)
    );
    let adjust = create(&rt.adaptation, &[]).await.adjust.unwrap();
    assert!(
        adjust.annotations.is_empty() && adjust.env.is_empty(),
        "{adjust:?}"
    );
    rt.adaptation.stop().await;
    // The runtime sent Shutdown and closed: a clean stop, status 0.
    let status = within("the plugin exits", plugin.wait()).await.unwrap();
    assert!(status.success(), "nri-template exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_plugin_over_grpc_ends_cleanly_when_the_runtime_stops() {
    let harness = GrpcHarness::new().unwrap();
    let adaptation = start(
        &harness,
        options(),
        Arc::new(FakeDomain::from_snapshot(Snapshot::default())),
    )
    .await;
    let mut plugin = Command::new(env!("CARGO_BIN_EXE_nri-template"))
        .args(["--idx", "30", "--grpc", &harness.endpoint().to_string()])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    within("registered", adaptation.wait_for_plugins(1)).await;
    adaptation.stop().await;
    let status = within("the plugin exits", plugin.wait()).await.unwrap();
    assert!(status.success(), "nri-template exited with {status}");
}

/// A hook directory with one hook for every container, at prestart and
/// poststop, and one only for containers whose pod asks for it.
fn hooks_dir(dir: &Path) -> PathBuf {
    let hooks = dir.join("hooks.d");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(
        hooks.join("10-always.json"),
        r#"{"version": "1.0.0", "hook": {"path": "/bin/sh", "args": ["sh", "-c", "true"], "timeout": 5},
            "when": {"always": true}, "stages": ["prestart", "poststop"]}"#,
    )
    .unwrap();
    std::fs::write(
        hooks.join("20-asked.json"),
        r#"{"version": "1.0.0", "hook": {"path": "/bin/true"},
            "when": {"annotations": {"^hooks\\.example\\.com/want$": "^yes$"}}, "stages": ["createContainer"]}"#,
    )
    .unwrap();
    hooks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_hook_injector_injects_the_hooks_that_match() {
    let rt = runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let hooks = hooks_dir(dir.path());
    let _plugin = spawn(
        env!("CARGO_BIN_EXE_nri-hook-injector"),
        rt.harness.socket(),
        &["--idx", "40", "--hooks-dir", hooks.to_str().unwrap()],
    );
    within("registered", rt.adaptation.wait_for_plugins(1)).await;
    assert_eq!(
        rt.adaptation.plugins()[0].events,
        EventMask::of([Event::CreateContainer])
    );

    let plain = create(&rt.adaptation, &[]).await.adjust.unwrap();
    let hooks_of = |adjust: &ContainerAdjustment| {
        let hooks = adjust.hooks.clone().unwrap_or_default();
        let paths = |list: &[nri_core::proto::api::Hook]| {
            list.iter().map(|h| h.path.clone()).collect::<Vec<_>>()
        };
        (
            paths(&hooks.prestart),
            paths(&hooks.create_runtime),
            paths(&hooks.create_container),
            paths(&hooks.poststop),
        )
    };
    // prestart is delivered as createRuntime, as upstream's hooks library
    // does.
    assert_eq!(
        hooks_of(&plain),
        (
            vec![],
            vec!["/bin/sh".to_string()],
            vec![],
            vec!["/bin/sh".to_string()]
        )
    );
    let asked = create(&rt.adaptation, &[("hooks.example.com/want", "yes")])
        .await
        .adjust
        .unwrap();
    assert_eq!(hooks_of(&asked).2, ["/bin/true"]);
    rt.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_device_injector_injects_what_the_pod_annotations_ask() {
    let rt = runtime().await;
    let _plugin = spawn(
        env!("CARGO_BIN_EXE_nri-device-injector"),
        rt.harness.socket(),
        &["--idx", "50"],
    );
    within("registered", rt.adaptation.wait_for_plugins(1)).await;
    // Shapes as in upstream's README: a device list, a mount list and a
    // sysctl map, scoped to the container (`ctr0`), and a pod-wide legacy
    // CDI key.
    let reply = create(
        &rt.adaptation,
        &[
            (
                "devices.noderesource.dev/container.ctr0",
                "- path: /dev/nri-null\n  type: c\n  major: 1\n  minor: 3\n  file_mode: 0666\n",
            ),
            (
                "mounts.noderesource.dev/container.ctr0",
                "- source: /tmp/nri-src\n  destination: /mnt/nri\n  type: bind\n  options: [rbind, ro]\n",
            ),
            (
                "sysctl.noderesource.dev/container.ctr0",
                "net.ipv4.ip_forward: \"1\"\n",
            ),
            ("cdi-devices.nri.io/pod", "- vendor.com/device=gpu0\n"),
        ],
    )
    .await;
    let adjust = reply.adjust.unwrap();
    let linux = adjust.linux.clone().unwrap();
    let device = &linux.devices[0];
    assert_eq!(
        (
            device.path.as_str(),
            device.r#type.as_str(),
            device.major,
            device.minor
        ),
        ("/dev/nri-null", "c", 1, 3)
    );
    assert_eq!(device.file_mode.as_ref().map(|m| m.value), Some(0o666));
    assert_eq!(device.uid, None);
    let mount = &adjust.mounts[0];
    assert_eq!(
        (
            mount.source.as_str(),
            mount.destination.as_str(),
            mount.r#type.as_str()
        ),
        ("/tmp/nri-src", "/mnt/nri", "bind")
    );
    assert_eq!(mount.options, ["rbind", "ro"]);
    assert_eq!(
        linux.sysctl.get("net.ipv4.ip_forward").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        adjust
            .cdi_devices
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["vendor.com/device=gpu0"]
    );

    // A malformed annotation fails the creation, with the reason.
    let mut pod = pod(0);
    pod.annotations.insert(
        "devices.noderesource.dev/container.ctr0".into(),
        "- path: /dev/x\n  type: q\n".into(),
    );
    let error = within(
        "CreateContainer",
        rt.adaptation.create_container(CreateContainerRequest {
            pod: Some(pod),
            container: Some(container(0, 0)),
        }),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("/dev/x"), "{error}");
    rt.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_ulimit_adjuster_sets_the_rlimits_the_pod_asks_for() {
    let rt = runtime().await;
    let _plugin = spawn(
        env!("CARGO_BIN_EXE_nri-ulimit-adjuster"),
        rt.harness.socket(),
        &["--idx", "60"],
    );
    within("registered", rt.adaptation.wait_for_plugins(1)).await;
    // As in upstream's sample: the RLIMIT_ prefix is optional and any case
    // is accepted; a missing soft limit is 0.
    let adjust = create(
        &rt.adaptation,
        &[(
            "ulimits.noderesource.dev/container.ctr0",
            "- type: RLIMIT_NOFILE\n  soft: 1024\n  hard: 4096\n- type: nproc\n  hard: 512\n",
        )],
    )
    .await
    .adjust
    .unwrap();
    let rlimits: Vec<(&str, u64, u64)> = adjust
        .rlimits
        .iter()
        .map(|r| (r.r#type.as_str(), r.soft, r.hard))
        .collect();
    assert_eq!(
        rlimits,
        [("RLIMIT_NOFILE", 1024, 4096), ("RLIMIT_NPROC", 0, 512)]
    );
    // Another container of the pod gets nothing.
    let mut other = container(1, 0);
    other.name = "other".into();
    let mut annotated = pod(0);
    annotated.annotations.insert(
        "ulimits.noderesource.dev/container.ctr0".into(),
        "- type: nofile\n  hard: 1\n".into(),
    );
    let reply = within(
        "CreateContainer",
        rt.adaptation.create_container(CreateContainerRequest {
            pod: Some(annotated),
            container: Some(other),
        }),
    )
    .await
    .unwrap();
    assert!(reply.adjust.unwrap().rlimits.is_empty());
    rt.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_differ_shows_what_the_plugins_between_its_indices_change() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let rt = runtime().await;
    let mut differ = Command::new(env!("CARGO_BIN_EXE_nri-differ"))
        .arg("--socket-path")
        .arg(rt.harness.socket())
        .args(["--indices", "5,95"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let _echo = spawn(
        env!("CARGO_BIN_EXE_nri-echo"),
        rt.harness.socket(),
        &["--idx", "50", "--name", "echo"],
    );
    within("registered", rt.adaptation.wait_for_plugins(3)).await;
    let ids: Vec<String> = rt
        .adaptation
        .plugins()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(ids, ["05-differ", "50-echo", "95-differ"]);
    create(&rt.adaptation, &[]).await;

    let mut lines = BufReader::new(differ.stdout.take().unwrap()).lines();
    let mut report = Vec::new();
    within("the differ's report", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.starts_with("+ ") && line.contains("NRI_ECHO_50=echo");
            // The objects are YAML: no Rust debug notation.
            assert!(!line.contains("Container {"), "{line}");
            report.push(line);
            if done {
                break;
            }
        }
    })
    .await;
    assert!(
        report
            .iter()
            .any(|l| l.contains("CreateContainer") && l.contains("changes between 05 and 95")),
        "{report:#?}"
    );
    assert!(
        report
            .iter()
            .any(|l| l.starts_with("+ ") && l.contains("NRI_ECHO_50=echo")),
        "{report:#?}"
    );
    rt.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_plugin_starts_pre_launched_from_a_plugin_directory() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for (file, binary) in [
        ("10-echo", env!("CARGO_BIN_EXE_nri-echo")),
        ("20-logger", env!("CARGO_BIN_EXE_nri-logger")),
        ("30-template", env!("CARGO_BIN_EXE_nri-template")),
        ("40-hook-injector", env!("CARGO_BIN_EXE_nri-hook-injector")),
        (
            "50-device-injector",
            env!("CARGO_BIN_EXE_nri-device-injector"),
        ),
        (
            "60-ulimit-adjuster",
            env!("CARGO_BIN_EXE_nri-ulimit-adjuster"),
        ),
    ] {
        std::os::unix::fs::symlink(binary, plugins.join(file)).unwrap();
    }
    let harness = TtrpcHarness::new().unwrap();
    let adaptation = start(
        &harness,
        options().with_plugin_path(Some(plugins)),
        Arc::new(FakeDomain::from_snapshot(Snapshot::default())),
    )
    .await;
    within("all registered", adaptation.wait_for_plugins(6)).await;
    let ids: Vec<String> = adaptation
        .plugins()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "10-echo",
            "20-logger",
            "30-template",
            "40-hook-injector",
            "50-device-injector",
            "60-ulimit-adjuster"
        ]
    );
    assert!(adaptation.plugins().iter().all(|p| matches!(
        p.origin,
        nri_core::transport::Origin::Launched { pid: Some(_) }
    )));
    let adjust = create(&adaptation, &[]).await.adjust.unwrap();
    assert_eq!(env(&adjust), [("NRI_ECHO_10", "echo")]);
    assert_eq!(annotations(&adjust), [("echo.nri.dev/10-echo", "true")]);
    adaptation.stop().await;
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `nri-harness` as a user runs it: the binary, its plugins launched as
//! real child processes over the real ttrpc transport, its report, its JSON
//! and its exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nri_testkit::simulator::Scenario;
use serde_json::Value;

const HARNESS: &str = env!("CARGO_BIN_EXE_nri-harness");

fn harness(args: &[&str]) -> Output {
    Command::new(HARNESS)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write_scenario(dir: &Path, text: &str) -> PathBuf {
    Scenario::parse(text).unwrap();
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The JSON result of a run.
fn json_of(dir: &Path, args: &[&str]) -> (Output, Value) {
    let file = dir.join("result.json");
    let mut all = args.to_vec();
    let file_arg = file.to_str().unwrap().to_string();
    all.extend(["--json", &file_arg]);
    let output = harness(&all);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, serde_json::from_str(&text).unwrap())
}

fn steps_with_action<'a>(result: &'a Value, action: &str) -> Vec<&'a Value> {
    result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == action)
        .collect()
}

#[test]
fn the_default_run_reports_what_every_plugin_did() {
    let output = harness(&[]);
    let report = stdout(&output);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let scenario = Scenario::default_scenario().unwrap();
    // Every plugin of the scenario was launched and registered.
    for plugin in &scenario.plugins {
        let label = format!("{:02}-{}", plugin.index, plugin.name().unwrap());
        assert!(
            report.contains(&format!("  {label}")) && report.contains("launched, pid"),
            "{label} missing:\n{report}"
        );
    }
    // Every step is reported, numbered, and passed.
    for (i, step) in scenario.steps.iter().enumerate() {
        step.action().unwrap();
        assert!(
            report.contains(&format!("\n[{}] ", i + 1)),
            "step {} missing:\n{report}",
            i + 1
        );
    }
    // What the sample plugins returned, from the scenario's annotations.
    assert!(report.contains(r#""type":"RLIMIT_NOFILE""#), "{report}");
    assert!(report.contains(r#""path":"/dev/fuse""#), "{report}");
    assert!(report.contains(r#""destination":"/cache""#), "{report}");
    assert!(report.contains("merged adjustment:"), "{report}");
    let expectations = scenario.steps.iter().filter(|s| s.expect.is_some()).count();
    assert_eq!(
        report.matches("expect: matched").count(),
        expectations,
        "{report}"
    );
    assert!(
        report.contains("runtime → plugin CreateContainer"),
        "{report}"
    );
    assert!(
        report.contains("plugin → runtime RegisterPlugin"),
        "{report}"
    );
    assert!(report.trim_end().ends_with("result: ok"), "{report}");
}

#[test]
fn the_json_result_has_every_call_with_requests_and_replies() {
    let dir = tempfile::tempdir().unwrap();
    let (output, result) = json_of(dir.path(), &["run"]);
    assert!(output.status.success(), "{}", stdout(&output));
    let scenario = Scenario::default_scenario().unwrap();
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(
        steps.len(),
        scenario.steps.len() + 1,
        "start-up plus each step"
    );
    assert_eq!(result["transport"], "ttrpc");

    let create = steps_with_action(&result, "create web/nginx")[0];
    let calls = create["calls"].as_array().unwrap();
    assert_eq!(
        calls.len(),
        scenario.plugins.len(),
        "every plugin subscribes to creation"
    );
    for call in calls {
        assert_eq!(call["method"], "CreateContainer");
        assert_eq!(call["direction"], "to_plugin");
        assert_eq!(call["request"]["container"]["name"], "nginx");
        assert_eq!(call["request"]["pod"]["namespace"], "shop");
        assert!(call["request_bytes"].as_u64().unwrap() > 1000);
        assert!(call["answer"]["reply"].is_object(), "{call}");
    }
    let adjustment = &create["adjustment"];
    assert_eq!(adjustment["rlimits"][0]["hard"], 4096);
    assert_eq!(adjustment["linux"]["devices"][0]["minor"], 229);
    assert_eq!(create["failed"], false);

    let update = steps_with_action(&result, "update web/nginx")[0];
    assert_eq!(update["resources"]["memory"]["limit"]["value"], 536_870_912);
    // The scripted plugin's unsolicited update arrived in the window, was
    // recorded as its call of the runtime, and applied.
    let window = steps
        .iter()
        .find(|s| s["action"].as_str().unwrap().starts_with("unsolicited"))
        .unwrap();
    let asked: Vec<&Value> = window["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["direction"] == "to_runtime" && c["method"] == "UpdateContainers")
        .collect();
    assert_eq!(asked.len(), 1, "{window}");
    assert_eq!(asked[0]["plugin"], "90-rebalancer");
    let exporter = &steps_with_action(&result, "create web/exporter")[0]["calls"][0]["request"]["container"]
        ["id"];
    assert_eq!(asked[0]["request"]["update"][0]["container_id"], *exporter);
    assert_eq!(
        window["updates"][0]["linux"]["resources"]["cpu"]["shares"]["value"],
        128
    );
    // The exit was delivered to the plugin subscribing to StopContainer.
    let exit = steps_with_action(&result, "exit batch/worker")[0];
    let stops: Vec<&Value> = exit["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["method"] == "StopContainer")
        .collect();
    assert_eq!(stops.len(), 1, "{exit}");
    assert_eq!(stops[0]["request"]["container"]["name"], "worker");
}

const CRASH_SCENARIO: &str = r#"
name: crash
plugins:
  - index: 10
    sample: ulimit-adjuster
  - index: 90
    fake:
      StartContainer:
        - crash: 3
pods:
  - name: web
    annotations:
      ulimits.noderesource.dev/container.late: |
        - {type: nofile, soft: 10, hard: 20}
    containers: [{name: app}, {name: late}]
steps:
  - run_pod: web
  - create: web/app
  - start: web/app
  - create: web/late
    expect:
      adjust: {rlimits: [{type: RLIMIT_NOFILE, soft: 10, hard: 20}]}
  - stop: web/app
  - remove_pod: web
    expect:
      plugins: [10-ulimit-adjuster]
"#;

#[test]
fn a_plugin_crashing_mid_scenario_is_reported_and_the_run_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), CRASH_SCENARIO);
    let (output, result) = json_of(
        dir.path(),
        &["run", "--scenario", scenario.to_str().unwrap()],
    );
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");

    let start = steps_with_action(&result, "start web/app")[0];
    assert_eq!(
        start["plugins_lost"],
        serde_json::json!(["90-fake"]),
        "{start}"
    );
    assert_eq!(start["failed"], true);
    let crashed: Vec<&Value> = start["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["plugin"] == "90-fake")
        .collect();
    assert_eq!(crashed.len(), 1, "{start}");
    assert!(crashed[0]["answer"]["error"].is_string(), "{start}");
    assert!(report.contains("plugin lost: 90-fake"), "{report}");

    // Later steps ran: the surviving plugin still answers, the crashed one
    // is sent nothing more.
    let later = steps_with_action(&result, "create web/late")[0];
    assert_eq!(later["failed"], false, "{later}");
    assert_eq!(later["adjustment"]["rlimits"][0]["soft"], 10);
    let after_crash = result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .skip_while(|s| s["action"] != "start web/app")
        .skip(1)
        .flat_map(|s| s["calls"].as_array().unwrap())
        .filter(|c| c["plugin"] == "90-fake")
        .count();
    assert_eq!(after_crash, 0);
    let last = steps_with_action(&result, "remove_pod web")[0];
    assert_eq!(last["mismatches"], serde_json::json!([]), "{last}");
    assert!(report.trim_end().ends_with("result: FAILED"), "{report}");
}

#[test]
fn a_foreseen_crash_passes_and_a_wrong_expectation_fails() {
    let dir = tempfile::tempdir().unwrap();
    let foreseen = CRASH_SCENARIO.replace(
        "  - start: web/app\n",
        "  - start: web/app\n    expect:\n      plugins: [10-ulimit-adjuster]\n",
    );
    let path = write_scenario(dir.path(), &foreseen);
    let output = harness(&["run", "--scenario", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stdout(&output));

    let wrong = CRASH_SCENARIO.replace("soft: 10, hard: 20}]}\n", "soft: 11, hard: 20}]}\n");
    assert_ne!(wrong, CRASH_SCENARIO);
    let path = write_scenario(dir.path(), &wrong);
    let output = harness(&["run", "--scenario", path.to_str().unwrap()]);
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains("expect MISMATCH: adjust.rlimits[0]: no element matches"),
        "{report}"
    );
}

const IMAGE_SCENARIO: &str = r#"
name: images
plugins:
  - index: 10
    sample: ulimit-adjuster
pods:
  - name: web
    annotations:
      ulimits.noderesource.dev/container.app: |
        - {type: nofile, soft: 10, hard: 20}
    containers:
      - {name: app, image: "registry.example.com/app:1.0"}
      - {name: sidecar}
steps:
  - run_pod: web
  - create: web/app
  - create: web/sidecar
    expect:
      absent:
        adjust: {rlimits: [{type: RLIMIT_NOFILE}]}
"#;

#[test]
fn a_scenario_sets_images_and_expects_what_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), IMAGE_SCENARIO);
    let (output, result) = json_of(dir.path(), &["run", "--scenario", path.to_str().unwrap()]);
    let report = stdout(&output);
    assert!(output.status.success(), "{report}");
    let create = steps_with_action(&result, "create web/app")[0];
    assert_eq!(
        create["calls"][0]["request"]["container"]["image"]["name"], "registry.example.com/app:1.0",
        "{create}"
    );
    assert_eq!(create["adjustment"]["rlimits"][0]["soft"], 10);
    let sidecar = steps_with_action(&result, "create web/sidecar")[0];
    assert_eq!(sidecar["mismatches"], serde_json::json!([]), "{sidecar}");

    // The same expectation of the container that does get the rlimit fails.
    let wrong = IMAGE_SCENARIO.replace(
        "  - create: web/app\n  - create: web/sidecar\n",
        "  - create: web/app\n",
    );
    assert_ne!(wrong, IMAGE_SCENARIO);
    let path = write_scenario(dir.path(), &wrong);
    let output = harness(&["run", "--scenario", path.to_str().unwrap()]);
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains("expect MISMATCH: absent.adjust.rlimits[0]: expected no element matching"),
        "{report}"
    );
}

#[test]
fn bad_scenarios_and_flags_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "steps:\n  - {create: web}\n").unwrap();
    let output = harness(&["run", "--scenario", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("step 1: `create` takes `pod/container`"),
        "{stderr}"
    );
    let output = harness(&["run", "--transport", "local"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("local transport is for bench only"));
}

#[test]
fn the_default_run_passes_over_grpc_too() {
    let dir = tempfile::tempdir().unwrap();
    let (output, result) = json_of(dir.path(), &["run", "--transport", "grpc"]);
    let report = stdout(&output);
    assert!(output.status.success(), "{report}");
    let origins: Vec<&str> = result["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["origin"].as_str())
        .collect();
    assert_eq!(origins.len(), 4, "{result}");
    assert!(
        origins.iter().all(|o| o.starts_with("launched")),
        "{origins:?}"
    );
    assert!(
        report.contains("runtime → plugin CreateContainer"),
        "{report}"
    );
    assert!(report.contains("result: ok"), "{report}");
}

#[test]
fn external_and_command_plugins_join_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // A plugin the user starts: the harness itself as nri-fake, dialing
    // the socket.
    let fake = dir.path().join("nri-fake");
    std::os::unix::fs::symlink(HARNESS, &fake).unwrap();
    let script = dir.path().join("script.yaml");
    std::fs::write(
        &script,
        "CreateContainer:\n  - adjust: {env: [{key: FROM_EXTERNAL, value: '1'}]}\n",
    )
    .unwrap();
    let socket = dir.path().join("nri.sock");
    // A command with arguments, launched as a pre-installed plugin.
    let logger = dir.path().join("nri-logger");
    std::os::unix::fs::symlink(HARNESS, &logger).unwrap();
    let command = format!("{} --add-env FROM_COMMAND", logger.display());

    let socket_arg = socket.to_str().unwrap().to_string();
    let json = dir.path().join("out.json");
    let mut run = Command::new(HARNESS)
        .args([
            "run",
            "--socket",
            &socket_arg,
            "--external",
            "1",
            "--external-timeout",
            "20s",
            "--plugin",
            &command,
            "--json",
            json.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The harness says when it waits for external plugins: its socket
    // listens from then on.
    let mut stderr = std::io::BufReader::new(run.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let read = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(read > 0, "the harness ended without waiting for plugins");
        if line.contains("waiting") {
            break;
        }
    }
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    let mut plugin = Command::new(&fake)
        .args(["--socket-path", &socket_arg, "--idx", "70", "--name", "ext"])
        .arg("--script")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let output = run.wait_with_output().unwrap();
    let _ = plugin.kill();
    let _ = plugin.wait();
    let report = stdout(&output);
    let stderr = drain.join().unwrap();
    assert!(output.status.success(), "{report}\n{stderr}");
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let plugins: Vec<(String, String)> = result["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["plugin"].as_str().unwrap().to_string(),
                p["origin"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        plugins.contains(&("70-ext".into(), "external".into())),
        "{plugins:?}"
    );
    assert!(
        plugins
            .iter()
            .any(|(p, o)| p == "50-nri-logger" && o.starts_with("launched")),
        "{plugins:?}"
    );
    let create = steps_with_action(&result, "create web/nginx")[0];
    let env = create["adjustment"]["env"].as_array().unwrap();
    let keys: Vec<&str> = env.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert!(
        keys.contains(&"FROM_EXTERNAL") && keys.contains(&"FROM_COMMAND"),
        "{keys:?}"
    );
}

#[test]
fn bench_times_every_event_type() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.json");
    let output = harness(&[
        "bench",
        "--plugins",
        "2",
        "--iterations",
        "25",
        "--json",
        file.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout(&output);
    assert!(report.contains("events/s"), "{report}");
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(result["plugins"], 2);
    assert_eq!(result["errors"], 0);
    assert_eq!(result["events"], 25 * 8);
    let latency = result["latency"].as_array().unwrap();
    assert_eq!(latency.len(), 8);
    for event in latency {
        assert_eq!(event["count"], 25, "{event}");
        assert!(event["p50_us"].as_f64().unwrap() > 0.0, "{event}");
        assert!(event["p99_us"].as_f64().unwrap() >= event["p50_us"].as_f64().unwrap());
    }
    let memory = result["plugin_memory"].as_array().unwrap();
    assert_eq!(memory.len(), 2, "{result}");
    assert!(memory.iter().all(|m| m["peak_kib"].as_u64().unwrap() > 0));
    assert!(result["runtime_peak_kib"].as_u64().unwrap() > 0);
    // The raw round trips to a child process, timed in the same run, with
    // their CPU time per side.
    let raw = &result["raw_round_trip"];
    assert_eq!(raw["count"], 100, "{raw}");
    assert!(raw["p50_us"].as_f64().unwrap() > 0.0, "{raw}");
    assert!(raw["p99_us"].as_f64().unwrap() >= raw["p50_us"].as_f64().unwrap());
    assert!(report.contains("× the raw round trip"), "{report}");
    for side in ["runtime_cpu_us", "echo_cpu_us"] {
        assert!(raw[side].as_f64().unwrap() > 0.0, "{side}: {raw}");
    }
    assert!(report.contains("floor: a raw round trip costs"), "{report}");
    assert!(report.contains("above the floor"), "{report}");
    // CPU time per event: the runtime's, then each plugin's.
    let cpu = result["cpu"].as_array().unwrap();
    assert_eq!(cpu.len(), 3, "{result}");
    assert_eq!(cpu[0]["process"], "runtime");
    assert!(
        cpu.iter()
            .all(|c| c["user_us"].as_f64().unwrap() >= 0.0
                && c["system_us"].as_f64().unwrap() >= 0.0)
    );
    assert!(report.contains("CPU per event"), "{report}");
}

#[test]
fn bench_synchronizes_the_pods_and_containers_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (output, result) = json_of(
        dir.path(),
        &[
            "bench",
            "--iterations",
            "1",
            "--sync-pods",
            "3",
            "--sync-containers",
            "7",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(result["synchronized"], serde_json::json!([3, 7]));
    assert_eq!(result["errors"], 0);
    assert!(result["start_cpu_ms"].as_f64().unwrap() >= 0.0, "{result}");
    assert!(stdout(&output).contains("(3 pods, 7 containers)"));
}

#[test]
fn bench_runtime_runs_the_runtime_side_in_a_process_of_its_own() {
    let runtime = env!("CARGO_BIN_EXE_nri-bench-runtime");
    let options = serde_json::json!({
        "plugins": 0, "external": 0, "iterations": 3, "socket": null,
        "progress": false, "validate": false, "wasm_module": null, "echo": null,
        "sync_pods": 2, "sync_containers": 4,
    });
    let output = Command::new(runtime)
        .arg(options.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["transport"], "ttrpc", "{result}");
    assert_eq!(result["events"], 3 * 8, "{result}");
    assert_eq!(result["errors"], 0, "{result}");
    assert_eq!(result["runtime_process"], "nri-bench-runtime", "{result}");
    assert!(result["runtime_peak_kib"].as_u64().unwrap() > 0, "{result}");
    // Plugins need nri-echo; without it the runtime says so and fails.
    let mut with_plugins = options;
    with_plugins["plugins"] = 1.into();
    with_plugins["echo"] = "/nonexistent/nri-echo".into();
    let output = Command::new(runtime)
        .arg(with_plugins.to_string())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such file"));
}

#[test]
fn bench_runtime_ends_when_the_process_that_started_it_does() {
    // Waiting for an external plugin, the runtime would sit for a minute;
    // its parent (a shell standing in for nri-harness) ends first.
    let runtime = env!("CARGO_BIN_EXE_nri-bench-runtime");
    let dir = tempfile::tempdir().unwrap();
    let options = serde_json::json!({
        "plugins": 0, "external": 1, "iterations": 1,
        "socket": dir.path().join("nri.sock"),
        "progress": false, "validate": false, "wasm_module": null, "echo": null,
        "sync_pods": 0, "sync_containers": 0,
    });
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$1" 2>/dev/null & echo $!; read -r _ || true"#)
        .arg(runtime)
        .arg(options.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(parent.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Its socket exists once it is waiting for the plugin.
    while !dir.path().join("nri.sock").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the runtime never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(parent.stdin.take());
    assert!(parent.wait().unwrap().success());
    // Reparented, it ends (and is reaped) long before its minute is up.
    let ended = |proc_dir: &Path| {
        std::fs::read_to_string(proc_dir.join("stat"))
            .map(|stat| stat.contains(") Z "))
            .unwrap_or(true)
    };
    while !ended(&proc_dir) {
        assert!(
            std::time::Instant::now() < deadline,
            "nri-bench-runtime outlived its parent"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn conflicting_plugins_fail_the_run_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        r#"
name: conflict
plugins:
  - index: 10
    name: first
    fake:
      CreateContainer: [{adjust: {env: [{key: MODE, value: a}]}}]
  - index: 20
    name: second
    fake:
      CreateContainer: [{adjust: {env: [{key: MODE, value: b}]}}]
pods:
  - name: web
    containers: [{name: app}]
steps:
  - run_pod: web
  - create: web/app
"#,
    );
    let (output, result) = json_of(
        dir.path(),
        &["run", "--scenario", scenario.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let create = steps_with_action(&result, "create web/app")[0];
    assert_eq!(create["error"]["kind"], "conflict", "{create}");
    let message = create["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("10-first") && message.contains("20-second") && message.contains("MODE"),
        "{message}"
    );
    assert!(create["adjustment"].is_null());
    assert!(
        stdout(&output).contains("error (Conflict)"),
        "{}",
        stdout(&output)
    );
}

/// An executable copy of the WASM test plugin in `dir`, as `label`.
fn wasm_adjuster(dir: &Path, label: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let module =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../nri-transport-wasm/guests/adjuster.wasm");
    let path = dir.join(label);
    std::fs::copy(module, &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A temporary directory with a plugin directory holding the WASM test
/// plugin as `60-adjuster`.
fn wasm_plugin_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    wasm_adjuster(&plugins, "60-adjuster");
    (dir, plugins)
}

#[test]
fn run_loads_wasm_plugins_of_the_plugin_dir_next_to_executables() {
    let (dir, plugins) = wasm_plugin_dir();
    let (output, result) = json_of(
        dir.path(),
        &["run", "--plugin-dir", plugins.to_str().unwrap()],
    );
    let text = result.to_string();
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    // The module joined, and its adjustment is among the recorded replies.
    assert!(text.contains("60-adjuster"), "{text}");
    assert!(text.contains("NRI_WASM"), "{text}");
}

#[test]
fn wasm_cache_keeps_compiled_modules_in_a_private_directory() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let (dir, plugins) = wasm_plugin_dir();
    let cache = dir.path().join("cache");
    let args = [
        "run",
        "--plugin-dir",
        plugins.to_str().unwrap(),
        "--wasm-cache",
        cache.to_str().unwrap(),
    ];
    for _ in 0..2 {
        let (output, result) = json_of(dir.path(), &args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(result.to_string().contains("NRI_WASM"), "{result}");
    }
    assert_eq!(std::fs::metadata(&cache).unwrap().mode() & 0o7777, 0o700);
    let modules = cache.join("modules");
    assert!(
        std::fs::read_dir(&modules).unwrap().next().is_some(),
        "nothing cached in {}",
        modules.display()
    );
    // A directory others may write is refused before anything runs.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = harness(&args);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing"), "{stderr}");
}

#[test]
fn bench_benches_a_wasm_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let module = wasm_adjuster(dir.path(), "adjuster.wasm");
    let (output, result) = json_of(
        dir.path(),
        &[
            "bench",
            "--transport",
            "wasm",
            "--wasm-module",
            module.to_str().unwrap(),
            "--validate",
            "--iterations",
            "25",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(result["transport"], "wasm");
    assert_eq!(result["plugins"], 1);
    assert_eq!(result["errors"], 0);
    assert_eq!(result["events"], 25 * 8);
    // In the runtime's process: no plugin process to measure.
    assert_eq!(result["plugin_memory"].as_array().unwrap().len(), 0);
    assert!(result["start_seconds"].as_f64().unwrap() > 0.0);
    // Without a module there is nothing to bench.
    let output = harness(&["bench", "--transport", "wasm", "--iterations", "1"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--wasm-module"));
}

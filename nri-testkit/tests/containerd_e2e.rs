#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end on a real runtime: a CRI client → `nri-cri-proxy` (a process)
//! → containerd 1.6 (which has no NRI of its own) → runc, with NRI
//! plugins as processes. What NRI changes is checked where it lands: in
//! what the container itself prints (its environment, its devices, its
//! mounts) and in its cgroup on the host.
//!
//! Needs root and the Debian packages containerd, runc and busybox-static
//! (`.ci/run` installs them). With `CI` set, a missing one fails the test;
//! otherwise the test is skipped, saying why. The checks run in sequence
//! against one containerd, which the test starts on a temporary root and
//! removes with everything it started, even when a check fails.

mod containerd;
mod cri;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nri_core::proto::api::ContainerState;
use nri_cri::cri as api;

use containerd::calls::{
    Client, Pod, both, cgroup_memory_limit, container_output, create, info, kill_container,
    names_in_containerd, pod_config, run_container, run_pod, sorted_fields, state, status,
    wait_for_state,
};
use containerd::node::{Node, signal};
use containerd::{BUSYBOX_IMAGE, Containerd};
use cri::observer::await_seen;
use cri::{PATIENCE, client, framed};

/// What the fake plugin process does: fail one creation, change a running
/// container's memory limit unasked, evict one container for another, and
/// never answer for one (the proxy's plugin request timeout is 5s).
const SCRIPT: &str = r#"
CreateContainer:
  - container: refused
    fail: refused by the end-to-end script
  - container: evictor
    evict:
      - container: victim
        reason: room for the evictor
  - container: slow
    hang: true
StartContainer:
  - container: updater
    update_later:
      after: 10ms
      update:
        - container: app
          linux: {resources: {memory: {limit: {value: 100663296}}}}
"#;

/// The memory limit the script sets: 96 MiB.
const UPDATED_LIMIT: u64 = 96 << 20;

fn prerequisites_met() -> bool {
    let missing = containerd::missing_prerequisites();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "the containerd end-to-end test needs: {}",
        missing.join("; ")
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("skipped: {message}");
    false
}

/// The node under test: containerd, the proxy and its plugins, a CRI
/// client of the proxy, and the pod `web` with its container `app`
/// running. Fields drop in order: the proxy goes before containerd.
struct Scene {
    cri: Client,
    node: Node,
    containerd: Containerd,
    web: Pod,
    app: String,
}

impl Scene {
    /// Starts containerd, the proxy and the plugins, then the pod `web`
    /// (whose annotations ask the sample plugins for a device, a mount and
    /// an rlimit) with its container `app`.
    async fn start(temp: &Path) -> Scene {
        let containerd = Containerd::start(&temp.join("containerd")).await;
        let mut node = Node::new(&temp.join("node"), &containerd.socket(), SCRIPT);
        node.start("text").await;
        let mut cri = client(&node.listen());
        // ---- What the sample plugins add, seen from inside the container.
        let shared = containerd.root().join("shared");
        std::fs::create_dir_all(&shared).expect("shared dir");
        std::fs::write(shared.join("marker"), "mounted by nri-device-injector\n").expect("marker");
        let web = run_pod(
            &mut cri,
            pod_config(
                &containerd,
                "web",
                &[
                    (
                        "devices.noderesource.dev/container.app",
                        "- path: /dev/nri-null\n  type: c\n  major: 1\n  minor: 3\n".into(),
                    ),
                    (
                        "mounts.noderesource.dev/container.app",
                        format!(
                            "- source: {}\n  destination: /data\n  type: bind\n  options: [rbind, ro]\n",
                            shared.display()
                        ),
                    ),
                    (
                        "ulimits.noderesource.dev/container.limited",
                        "- type: RLIMIT_NOFILE\n  soft: 1024\n  hard: 4096\n".into(),
                    ),
                ],
            ),
        )
        .await;
        let app = run_container(&mut cri, &web, "app").await;
        Scene {
            cri,
            node,
            containerd,
            web,
            app,
        }
    }

    /// Env and annotations from `nri-echo`, a device and a read-only mount
    /// from `nri-device-injector`: in what `app` prints.
    async fn sample_plugins_reach_the_container(&mut self) {
        let output = container_output(&self.web, "app").await;
        let lines: Vec<&str> = output.lines().collect();
        assert!(
            lines.contains(&"NRI_ECHO_10=echo"),
            "env from nri-echo:\n{output}"
        );
        assert!(
            lines.contains(&"ROLE=e2e"),
            "the request's own env:\n{output}"
        );
        let device = lines
            .iter()
            .find(|l| l.ends_with(" nri-null"))
            .unwrap_or_else(|| panic!("/dev/nri-null from nri-device-injector:\n{output}"));
        assert!(device.starts_with('c'), "a character device: {device}");
        assert!(
            device.contains("1,   3") || device.contains("1, 3"),
            "1:3: {device}"
        );
        let mount = lines
            .iter()
            .find(|l| l.split(' ').nth(4) == Some("/data"))
            .unwrap_or_else(|| panic!("/data from nri-device-injector:\n{output}"));
        assert!(
            mount
                .split(' ')
                .nth(5)
                .is_some_and(|o| o.split(',').any(|o| o == "ro")),
            "read-only: {mount}"
        );
        assert!(
            lines.contains(&"mounted by nri-device-injector"),
            "{output}"
        );
        let annotations = status(&mut self.cri, &self.app)
            .await
            .status
            .expect("status")
            .annotations;
        assert_eq!(
            annotations.get("echo.nri.dev/10-echo").map(String::as_str),
            Some("true"),
            "annotation from nri-echo: {annotations:?}"
        );
    }

    /// What CRI cannot carry, and a plugin's error, fail CreateContainer
    /// and leave no container in containerd.
    async fn refused_creations_leave_nothing(&mut self) {
        // ---- rlimits: CRI cannot carry them to containerd 1.6, so the proxy
        // refuses the creation, naming them, and containerd never sees it.
        let refused = create(&mut self.cri, &self.web, "limited")
            .await
            .expect_err("rlimits");
        assert_eq!(
            refused.code(),
            tonic::Code::FailedPrecondition,
            "{refused:?}"
        );
        assert!(
            refused.message().contains("rlimits"),
            "{}",
            refused.message()
        );
        assert!(
            !names_in_containerd(&self.containerd)
                .await
                .contains(&"limited".to_string())
        );

        // ---- A plugin's error fails the creation; nothing is left behind.
        let refused = create(&mut self.cri, &self.web, "refused")
            .await
            .expect_err("the plugin fails it");
        assert!(
            refused
                .message()
                .contains("refused by the end-to-end script"),
            "{refused:?}"
        );
        assert!(
            !names_in_containerd(&self.containerd)
                .await
                .contains(&"refused".to_string())
        );
    }

    /// A plugin's unsolicited update reaches `app`'s cgroup.
    async fn an_unsolicited_update_reaches_the_cgroup(&mut self) {
        // ---- An unsolicited update changes the real cgroup's memory limit
        // (sent when `updater` starts, while `app` runs).
        assert_eq!(
            cgroup_memory_limit(&mut self.cri, &self.app).await,
            128 << 20
        );
        run_container(&mut self.cri, &self.web, "updater").await;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let limit = cgroup_memory_limit(&mut self.cri, &self.app).await;
            if limit == UPDATED_LIMIT {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the cgroup's limit is {limit}, not the plugin's {UPDATED_LIMIT}\n{}\n{}",
                self.node.proxy_log(),
                self.node.plugins_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An eviction stops the real container; returns the evictor's id.
    async fn an_eviction_stops_the_container(&mut self) -> String {
        // ---- An eviction stops the real container.
        let victim = run_container(&mut self.cri, &self.web, "victim").await;
        container_output(&self.web, "victim").await;
        let evictor = run_container(&mut self.cri, &self.web, "evictor").await;
        wait_for_state(&mut self.cri, &victim, api::ContainerState::ContainerExited).await;
        await_seen(self.node.observer(), "the victim's stop", |s| {
            s.names().contains(&("StopContainer", "victim".into()))
        })
        .await;
        assert_eq!(
            state(&mut self.cri, &evictor).await,
            api::ContainerState::ContainerRunning
        );
        evictor
    }

    /// Calls the proxy does not handle are answered as containerd answers.
    async fn other_calls_pass_through(&mut self) {
        // ---- Calls the proxy does not handle pass through untouched.
        let [proxied, direct] = both(
            &self.node.listen(),
            &self.containerd.socket(),
            "/runtime.v1.ImageService/ListImages",
            framed(b""),
        )
        .await;
        assert_eq!(proxied.1, "0");
        assert_eq!(proxied.1, direct.1);
        assert_eq!(
            sorted_fields(&proxied.0[5..]),
            sorted_fields(&direct.0[5..])
        );
        assert!(
            String::from_utf8_lossy(&proxied.0).contains(BUSYBOX_IMAGE),
            "ListImages lists the image"
        );
        let request = api::ContainerStatusRequest {
            container_id: self.app.clone(),
            verbose: true,
        };
        let [proxied, direct] = both(
            &self.node.listen(),
            &self.containerd.socket(),
            "/runtime.v1.RuntimeService/ContainerStatus",
            framed(&prost::Message::encode_to_vec(&request)),
        )
        .await;
        // Go orders maps anew on every encoding: the same message, decoded.
        assert_eq!(
            (&proxied.1, &direct.1),
            (&"0".to_string(), &"0".to_string())
        );
        let decode = |bytes: &Bytes| {
            <api::ContainerStatusResponse as prost::Message>::decode(&bytes[5..]).expect("decodes")
        };
        let (proxied, direct) = (decode(&proxied.0), decode(&direct.0));
        assert!(
            proxied.info.contains_key("info"),
            "verbose info: {proxied:?}"
        );
        assert_eq!(proxied, direct, "ContainerStatus, verbose");

        // A log call: answered as containerd answers it.
        let mut request = vec![0x0a, u8::try_from(self.app.len()).expect("short id")];
        request.extend_from_slice(self.app.as_bytes());
        let [proxied, direct] = both(
            &self.node.listen(),
            &self.containerd.socket(),
            "/runtime.v1.RuntimeService/ReopenContainerLog",
            framed(&request),
        )
        .await;
        assert_eq!((&proxied.1, &proxied.0), (&"0".to_string(), &direct.0));
        assert_eq!(proxied, direct, "ReopenContainerLog");
    }

    /// The Prometheus endpoint.
    async fn metrics_are_served(&mut self) {
        // ---- The metrics endpoint: calls, latencies, errors.
        let metrics = self.node.scrape().await;
        for want in [
            "nri_active_plugins 5",
            "nri_plugin_latency_seconds_bucket{",
            r#"operation="CreateContainer",status="ok""#,
            r#"status="error""#,
        ] {
            assert!(metrics.contains(want), "{want} in:\n{metrics}");
        }
    }

    /// containerd restarts under the running proxy.
    async fn containerd_restarts_under_the_proxy(&mut self) {
        // ---- containerd restarts under the running proxy: calls fail with
        // UNAVAILABLE meanwhile, an exit in between is not lost.
        let transient = run_container(&mut self.cri, &self.web, "transient").await;
        container_output(&self.web, "transient").await;
        let pid = u32::try_from(
            info(&mut self.cri, &transient).await["pid"]
                .as_u64()
                .expect("pid"),
        )
        .expect("pid");
        self.containerd.stop();
        let down = self
            .cri
            .version(api::VersionRequest::default())
            .await
            .expect_err("containerd is down");
        assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
        let down = create(&mut self.cri, &self.web, "late")
            .await
            .expect_err("containerd is down");
        assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
        // The shim still runs the container: its process exits now.
        signal(pid, rustix::process::Signal::KILL);
        self.containerd.launch().await;
        self.cri
            .version(api::VersionRequest::default())
            .await
            .expect("the proxy reconnects");
        assert_eq!(
            state(&mut self.cri, &self.app).await,
            api::ContainerState::ContainerRunning
        );
        await_seen(
            self.node.observer(),
            "the stop of the container that exited meanwhile",
            |s| s.names().contains(&("StopContainer", "transient".into())),
        )
        .await;
    }

    /// The proxy restarts while containers run and one exits; its log as
    /// text, then as JSON.
    async fn the_seed_scenario_across_a_proxy_restart(&mut self, evictor: &str) {
        // ---- The seed's scenario: the proxy stops while containers run, one
        // exits, the proxy starts again.
        let gone = run_container(&mut self.cri, &self.web, "gone").await;
        container_output(&self.web, "gone").await;
        self.node.stop().await;
        kill_container(&mut self.containerd.client(), &gone).await;
        wait_for_state(
            &mut self.containerd.client(),
            &gone,
            api::ContainerState::ContainerExited,
        )
        .await;
        // ---- The proxy's log: plain text (stderr is no terminal here), and
        // JSON when asked.
        let text_log = self.node.proxy_log();
        assert!(text_log.contains("serving CRI"), "{text_log}");
        assert!(
            !text_log.contains('\u{1b}'),
            "colour escapes in the log:\n{text_log}"
        );
        self.node.start("json").await;
        let json_log = self.node.proxy_log()[text_log.len()..].to_string();
        let objects: Vec<serde_json::Value> = json_log
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        assert!(
            objects
                .iter()
                .any(|o| o["message"] == "serving CRI" && o["level"] == "INFO"),
            "{json_log}"
        );
        await_seen(self.node.observer(), "the snapshot", |s| {
            s.snapshot.is_some()
        })
        .await;
        let (_, snapshot) = self
            .node
            .observer()
            .borrow()
            .snapshot
            .clone()
            .expect("snapshot");
        let states: BTreeMap<String, ContainerState> = snapshot
            .iter()
            .map(|c| (c.name.clone(), c.state()))
            .collect();
        assert_eq!(
            states.get("app"),
            Some(&ContainerState::ContainerRunning),
            "{states:?}"
        );
        assert_eq!(
            states.get("evictor"),
            Some(&ContainerState::ContainerRunning),
            "{states:?}"
        );
        assert_eq!(
            states.get("gone"),
            Some(&ContainerState::ContainerStopped),
            "{states:?}"
        );
        assert_eq!(
            states.get("victim"),
            Some(&ContainerState::ContainerStopped),
            "{states:?}"
        );
        self.cri
            .remove_container(api::RemoveContainerRequest {
                container_id: gone.clone(),
            })
            .await
            .expect("RemoveContainer");
        await_seen(self.node.observer(), "the removal", |s| {
            s.names().contains(&("RemoveContainer", "gone".into()))
        })
        .await;
        // A live container's stop after it: every event of `gone` was seen by then.
        self.cri
            .stop_container(api::StopContainerRequest {
                container_id: evictor.to_string(),
                timeout: 0,
            })
            .await
            .expect("StopContainer");
        await_seen(self.node.observer(), "the evictor's stop", |s| {
            s.names().contains(&("StopContainer", "evictor".into()))
        })
        .await;
        let events = self.node.observer().borrow().names();
        assert_eq!(
            events
                .iter()
                .filter(|(_, name)| name == "gone")
                .collect::<Vec<_>>(),
            vec![&("RemoveContainer", "gone".to_string())],
            "no second stop: {events:?}"
        );
    }

    /// A plugin that never answers.
    async fn a_timeout_is_counted(&mut self) {
        // ---- A plugin that does not answer in time: the metrics count the
        // timeout (the plugin is then disconnected, as upstream does).
        let _ = create(&mut self.cri, &self.web, "slow").await;
        let metrics = self.node.scrape().await;
        assert!(
            metrics.contains(r#"plugin="40-fake",operation="CreateContainer",status="timeout""#),
            "a timeout in:\n{metrics}"
        );
    }

    /// Removes the pod through CRI, checks containerd holds nothing, stops
    /// the proxy, then cleans up (panicking if anything is left).
    async fn tear_down(mut self) {
        // ---- Tear down through CRI: nothing is left in containerd.
        self.cri
            .stop_pod_sandbox(api::StopPodSandboxRequest {
                pod_sandbox_id: self.web.id.clone(),
            })
            .await
            .expect("StopPodSandbox");
        self.cri
            .remove_pod_sandbox(api::RemovePodSandboxRequest {
                pod_sandbox_id: self.web.id.clone(),
            })
            .await
            .expect("RemovePodSandbox");
        assert_eq!(
            names_in_containerd(&self.containerd).await,
            Vec::<String>::new()
        );
        self.node.stop().await;
        drop(self); // the cleanup panics if anything is left behind
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_reaches_real_containers_of_containerd_through_the_proxy() {
    if !prerequisites_met() {
        return;
    }
    let temp = tempfile::tempdir().expect("tempdir");
    let mut scene = Scene::start(temp.path()).await;
    scene.sample_plugins_reach_the_container().await;
    scene.refused_creations_leave_nothing().await;
    scene.an_unsolicited_update_reaches_the_cgroup().await;
    let evictor = scene.an_eviction_stops_the_container().await;
    scene.other_calls_pass_through().await;
    scene.metrics_are_served().await;
    scene.containerd_restarts_under_the_proxy().await;
    scene
        .the_seed_scenario_across_a_proxy_restart(&evictor)
        .await;
    scene.a_timeout_is_counted().await;
    scene.tear_down().await;
}

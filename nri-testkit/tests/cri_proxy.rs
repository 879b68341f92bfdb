#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end: a CRI client → nri-cri's proxy → a fake CRI runtime, over
//! real unix sockets, with `nri-device-injector` and `nri-ulimit-adjuster`
//! as child processes and a scripted plugin connected over ttrpc.

mod cri;

use nri_cri::cri as api;
use nri_cri::socket::UnixChannel;
use nri_testkit::fake_cri::Method;
use nri_testkit::fake_plugin::{Call, FakePlugin, Script};
use tokio::io::AsyncBufReadExt as _;

use cri::{
    PATIENCE, Setup, client, container_config, framed, plugins_registered, pod_config, raw_call,
    wait_until_serving,
};

const SCRIPT: &str = r#"
RunPodSandbox: []
StartContainer: []
StopContainer: []
RemoveContainer: []
CreateContainer:
  - container: app
    adjust:
      env: [{key: ROLE, value: frontend}]
      linux: {resources: {memory: {limit: {value: 268435456}}}}
  - container: evictor
    evict:
      - container: batch
        reason: room for the evictor
UpdateContainer:
  - container: app
    update_later:
      after: 10ms
      update:
        - container: app
          linux: {resources: {cpu: {shares: {value: 512}}}}
"#;

fn env_of(config: &api::ContainerConfig) -> Vec<(String, String)> {
    config
        .envs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_adjust_update_and_evict_containers_created_through_cri() {
    let mut setup = Setup::new();
    let proxy = setup.proxy().await;
    setup.plugin_process("device-injector", "10");
    setup.plugin_process("ulimit-adjuster", "20");
    let fake_plugin = FakePlugin::new(Script::from_yaml(SCRIPT).expect("script"));
    let _stub = setup.plugin_in_process(fake_plugin.clone(), "30", "scripted");
    plugins_registered(&proxy, 3).await;
    let mut cri = client(proxy.path());

    // A pod whose annotations ask the sample plugins for a device, a mount
    // and ulimits.
    let pod_config = pod_config(
        "web",
        &[
            (
                "devices.noderesource.dev/container.app",
                "- path: /dev/nri-null\n  type: c\n  major: 1\n  minor: 3\n",
            ),
            (
                "mounts.noderesource.dev/container.app",
                "- source: /var/lib/web\n  destination: /data\n  type: bind\n  options: [rbind, ro]\n",
            ),
            (
                "ulimits.noderesource.dev/container.limited",
                "- type: RLIMIT_NOFILE\n  soft: 1024\n  hard: 4096\n",
            ),
        ],
    );
    let pod_id = cri
        .run_pod_sandbox(api::RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: "runc".into(),
        })
        .await
        .expect("RunPodSandbox")
        .into_inner()
        .pod_sandbox_id;

    // The container the runtime receives carries every adjustment.
    let app = cri
        .create_container(api::CreateContainerRequest {
            pod_sandbox_id: pod_id.clone(),
            config: Some(container_config("app")),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .expect("CreateContainer")
        .into_inner()
        .container_id;
    let received = setup.fake.created_config(&app).expect("created");
    assert_eq!(
        env_of(&received),
        vec![
            ("PORT".to_string(), "8080".to_string()),
            ("ROLE".to_string(), "frontend".to_string())
        ]
    );
    let device = received
        .devices
        .iter()
        .find(|d| d.container_path == "/dev/nri-null")
        .expect("injected device");
    // The host's node 1:3 (udev's /dev/char/1:3, else /dev/null).
    let node = std::fs::metadata(&device.host_path).expect("a host node");
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &node.file_type()
    ));
    let rdev = std::os::unix::fs::MetadataExt::rdev(&node);
    assert_eq!((rustix::fs::major(rdev), rustix::fs::minor(rdev)), (1, 3));
    let mount = received
        .mounts
        .iter()
        .find(|m| m.container_path == "/data")
        .expect("injected mount");
    assert_eq!(
        (mount.host_path.as_str(), mount.readonly),
        ("/var/lib/web", true)
    );
    let resources = received.linux.and_then(|l| l.resources).expect("resources");
    assert_eq!(resources.memory_limit_in_bytes, 268_435_456);
    assert_eq!(resources.memory_swap_limit_in_bytes, 256 << 20, "swap kept");
    assert_eq!(resources.oom_score_adj, 900, "OOM score kept");
    assert_eq!(resources.cpu_shares, 256);

    // Ulimits cannot be said in CRI: the creation fails, naming them, and
    // never reaches the runtime.
    let refused = cri
        .create_container(api::CreateContainerRequest {
            pod_sandbox_id: pod_id.clone(),
            config: Some(container_config("limited")),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .expect_err("rlimits are not expressible in CRI");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("rlimits"),
        "{}",
        refused.message()
    );
    assert!(
        setup
            .fake
            .containers()
            .iter()
            .all(|c| c.name() != "limited")
    );

    // Start, then an update: the request's swap and OOM score survive the
    // plugins, and the plugin's unsolicited update reaches the runtime.
    cri.start_container(api::StartContainerRequest {
        container_id: app.clone(),
    })
    .await
    .expect("StartContainer");
    let requested = api::LinuxContainerResources {
        cpu_shares: 300,
        memory_limit_in_bytes: 512 << 20,
        memory_swap_limit_in_bytes: 1 << 30,
        oom_score_adj: 800,
        ..Default::default()
    };
    cri.update_container_resources(api::UpdateContainerResourcesRequest {
        container_id: app.clone(),
        linux: Some(requested.clone()),
        ..Default::default()
    })
    .await
    .expect("UpdateContainerResources");
    let applied = setup.fake.applied_resources(&app);
    assert_eq!(applied.first(), Some(&requested), "the update as requested");
    let unsolicited = setup
        .fake
        .wait_for_call_matching(PATIENCE, |call| {
            call.update_container_resources().is_some_and(|u| {
                u.container_id == app && u.linux.as_ref().is_some_and(|l| l.cpu_shares == 512)
            })
        })
        .await
        .expect("the plugin's update reaches the runtime");
    let linux = unsolicited
        .update_container_resources()
        .and_then(|u| u.linux.clone())
        .expect("resources");
    assert_eq!(linux.memory_limit_in_bytes, 512 << 20, "the rest is kept");
    assert_eq!(linux.oom_score_adj, 800);

    // An eviction stops the container, with no grace period.
    let batch = cri
        .create_container(api::CreateContainerRequest {
            pod_sandbox_id: pod_id.clone(),
            config: Some(container_config("batch")),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .expect("batch")
        .into_inner()
        .container_id;
    cri.start_container(api::StartContainerRequest {
        container_id: batch.clone(),
    })
    .await
    .expect("start batch");
    cri.create_container(api::CreateContainerRequest {
        pod_sandbox_id: pod_id.clone(),
        config: Some(container_config("evictor")),
        sandbox_config: Some(pod_config.clone()),
    })
    .await
    .expect("evictor");
    let stop = setup
        .fake
        .wait_for_call_matching(PATIENCE, |call| {
            call.method() == Method::StopContainer && call.subject_id() == Some(batch.as_str())
        })
        .await
        .expect("the eviction stops batch");
    assert!(stop.succeeded());
    assert!(!setup.fake.container(&batch).expect("batch").is_running());
    // Plugins learn that batch stopped (the exit is found and reported).
    tokio::time::timeout(
        PATIENCE,
        fake_plugin.wait_until(|records| {
            records.iter().any(|r| {
                r.call == Call::StopContainer
                    && r.container.as_ref().is_some_and(|c| c.name == "batch")
            })
        }),
    )
    .await
    .expect("StopContainer for the evicted container");

    // A stop and a removal flow through.
    cri.stop_container(api::StopContainerRequest {
        container_id: app.clone(),
        timeout: 10,
    })
    .await
    .expect("StopContainer");
    cri.remove_container(api::RemoveContainerRequest {
        container_id: app.clone(),
    })
    .await
    .expect("RemoveContainer");
    assert!(setup.fake.container(&app).is_none());
    let records = fake_plugin.records();
    let app_calls: Vec<Call> = records
        .iter()
        .filter(|r| r.container.as_ref().is_some_and(|c| c.name == "app"))
        .map(|r| r.call)
        .collect();
    assert_eq!(
        app_calls,
        vec![
            Call::CreateContainer,
            Call::StartContainer,
            Call::UpdateContainer,
            Call::StopContainer,
            Call::RemoveContainer
        ]
    );
    // Plugins know the container by one id for its whole life.
    let ids: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r.container.as_ref())
        .filter(|c| c.name == "app")
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    proxy.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_the_proxy_does_not_know_pass_through_byte_identical() {
    let setup = Setup::new();
    let proxy = setup.proxy().await;
    let channel = UnixChannel::new(proxy.path());
    // Bytes that are no message of ours, and a method CRI may add later.
    let cases = [
        (
            "/runtime.v1.ImageService/ListImages",
            framed(&[0x0a, 0x03, 0x01, 0xff, 0x7f]),
        ),
        ("/runtime.v1.RuntimeService/Status", framed(b"")),
        (
            "/runtime.v1.RuntimeService/FromTheFuture",
            framed(&[0xde, 0xad, 0xbe, 0xef, 0x00]),
        ),
    ];
    for (path, body) in cases {
        let (answer, trailers) = raw_call(&channel, path, body.clone()).await;
        let seen = setup
            .fake
            .raw_calls()
            .into_iter()
            .rfind(|raw| raw.path == path)
            .expect("forwarded");
        assert_eq!(seen.body, body, "{path}: request bytes");
        assert_eq!(answer, body, "{path}: response bytes");
        let status = trailers.as_ref().and_then(|t| t.get("grpc-status"));
        assert_eq!(status.map(|s| s.as_bytes()), Some(&b"0"[..]), "{path}");
    }
    proxy.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_binary_serves_cri_in_front_of_a_runtime() {
    let setup = Setup::new();
    let link = setup.path("nri-cri-proxy");
    std::os::unix::fs::symlink(cri::HARNESS, &link).expect("link");
    let listen = setup.path("proxy/cri.sock");
    let config = setup.path("nri.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_path = {:?}\nplugin_request_timeout = \"3s\"\n",
            setup.path("no-plugins").display().to_string()
        ),
    )
    .expect("config");
    let mut child = tokio::process::Command::new(&link)
        .arg("--listen")
        .arg(&listen)
        .arg("--backend")
        .arg(setup.server.path())
        .arg("--nri-socket")
        .arg(setup.nri_socket())
        .arg("--nri-config")
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("proxy process");
    wait_until_serving(&mut child, String::new).await;
    assert!(setup.nri_socket().exists(), "NRI socket");

    let mut cri = client(&listen);
    let version = cri
        .version(api::VersionRequest::default())
        .await
        .expect("Version through the proxy")
        .into_inner();
    assert_eq!(version.runtime_name, "fake-cri");
    let pod = cri
        .run_pod_sandbox(api::RunPodSandboxRequest {
            config: Some(pod_config("solo", &[])),
            runtime_handler: String::new(),
        })
        .await
        .expect("RunPodSandbox")
        .into_inner();
    assert!(setup.fake.pod(&pod.pod_sandbox_id).is_some());

    // SIGTERM: it exits cleanly and removes its socket.
    let pid = child.id().expect("pid");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(pid).expect("pid")).expect("pid"),
        rustix::process::Signal::TERM,
    )
    .expect("signal");
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "{status}");
    assert!(!listen.exists(), "socket removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_that_went_away_is_unavailable_for_every_kind_of_call() {
    let setup = Setup::new();
    let proxy = setup.proxy().await;
    let Setup { server, dir, .. } = setup;
    server.shutdown().await;
    // An intercepted call, and one forwarded raw.
    let status = client(proxy.path())
        .run_pod_sandbox(api::RunPodSandboxRequest {
            config: Some(pod_config("late", &[])),
            runtime_handler: String::new(),
        })
        .await
        .expect_err("no runtime");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let status = client(proxy.path())
        .version(api::VersionRequest::default())
        .await
        .expect_err("no runtime");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_binary_waits_for_a_runtime_that_starts_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("nri-cri-proxy");
    std::os::unix::fs::symlink(cri::HARNESS, &link).expect("link");
    let backend = dir.path().join("late/backend.sock");
    let listen = dir.path().join("cri.sock");
    let mut child = tokio::process::Command::new(&link)
        .arg("--listen")
        .arg(&listen)
        .arg("--backend")
        .arg(&backend)
        .arg("--no-nri")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("proxy process");
    // It says it waits...
    let stderr = child.stderr.take().expect("stderr");
    let mut log = tokio::io::BufReader::new(stderr).lines();
    tokio::time::timeout(PATIENCE, async {
        while let Some(line) = log.next_line().await.expect("stderr") {
            if line.contains("does not answer Version yet") {
                return;
            }
        }
        panic!("the proxy's log ended");
    })
    .await
    .expect("the proxy waits for the runtime");
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    // ... and serves once the runtime is there.
    std::fs::create_dir(dir.path().join("late")).expect("dir");
    let fake = nri_testkit::fake_cri::FakeCriRuntime::new();
    let _server = fake.serve(&backend).expect("serve");
    wait_until_serving(&mut child, String::new).await;
    let version = client(&listen)
        .version(api::VersionRequest::default())
        .await
        .expect("Version through the proxy")
        .into_inner();
    assert_eq!(version.runtime_name, "fake-cri");
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The fake CRI runtime served on a real unix socket, driven by tonic's
//! `RuntimeServiceClient` over nri-cri's `UnixChannel`: the pod and
//! container lifecycle with its states and timestamps, listing filters,
//! idempotent stops and removals, error codes, exits, waits, injected
//! failures, the byte-for-byte echo of every other path, message sizes,
//! and shutting the server down.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use nri_cri::cri::runtime_service_client::RuntimeServiceClient;
use nri_cri::cri::{
    ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState, ContainerStateValue,
    ContainerStatus, ContainerStatusRequest, CreateContainerRequest, ImageSpec, KeyValue,
    LinuxContainerConfig, LinuxContainerResources, ListContainersRequest, ListPodSandboxRequest,
    Mount, PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata, PodSandboxState,
    PodSandboxStateValue, PodSandboxStatus, PodSandboxStatusRequest, RemoveContainerRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
    StopPodSandboxRequest, UpdateContainerResourcesRequest, VersionRequest,
};
use nri_cri::socket::{MAX_MESSAGE_SIZE, UnixChannel};
use nri_testkit::fake_cri::{
    CriRequest, FakeCriRuntime, FakeCriServer, KILLED_EXIT_CODE, Method, RUNTIME_NAME,
    RUNTIME_VERSION,
};
use tempfile::TempDir;
use tonic::Code;

/// Long enough for a loaded CI machine; only reached when a test fails.
const WAIT: Duration = Duration::from_secs(10);

type Client = RuntimeServiceClient<UnixChannel>;

/// A fake runtime served in a fresh directory, and a client of it.
fn start() -> (TempDir, FakeCriServer, Client) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = FakeCriRuntime::new()
        .serve(dir.path().join("cri.sock"))
        .expect("the fake serves");
    let client = RuntimeServiceClient::new(server.channel());
    (dir, server, client)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn pod_config(name: &str, pod_labels: &[(&str, &str)]) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("{name}-uid"),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: format!("/var/log/pods/default_{name}_{name}-uid"),
        labels: labels(pod_labels),
        ..Default::default()
    }
}

fn container_config(name: &str, container_labels: &[(&str, &str)]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: "docker.io/library/nginx:1.27".into(),
            ..Default::default()
        }),
        command: vec!["nginx".into()],
        args: vec!["-g".into(), "daemon off;".into()],
        envs: vec![KeyValue {
            key: "ROLE".into(),
            // Not UTF-8: CRI carries environment values as bytes.
            value: vec![0x66, 0xff, 0x6f],
        }],
        mounts: vec![Mount {
            container_path: "/data".into(),
            host_path: "/srv/data".into(),
            readonly: true,
            ..Default::default()
        }],
        labels: labels(container_labels),
        annotations: labels(&[("io.kubernetes.container.hash", "1234")]),
        log_path: format!("{name}/0.log"),
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                cpu_period: 100_000,
                cpu_quota: 50_000,
                cpu_shares: 512,
                memory_limit_in_bytes: 256 << 20,
                ..Default::default()
            }),
            security_context: None,
        }),
        ..Default::default()
    }
}

async fn run_pod(client: &mut Client, config: PodSandboxConfig) -> String {
    client
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: "runc".into(),
        })
        .await
        .expect("RunPodSandbox")
        .into_inner()
        .pod_sandbox_id
}

async fn create(client: &mut Client, pod: &str, config: ContainerConfig) -> String {
    client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: None,
        })
        .await
        .expect("CreateContainer")
        .into_inner()
        .container_id
}

async fn start_container(client: &mut Client, id: &str) {
    client
        .start_container(StartContainerRequest {
            container_id: id.into(),
        })
        .await
        .expect("StartContainer");
}

async fn pod_status(client: &mut Client, id: &str) -> Result<PodSandboxStatus, tonic::Status> {
    let response = client
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: false,
        })
        .await?;
    Ok(response.into_inner().status.expect("a pod status"))
}

async fn status(client: &mut Client, id: &str) -> Result<ContainerStatus, tonic::Status> {
    let response = client
        .container_status(ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        })
        .await?;
    Ok(response.into_inner().status.expect("a container status"))
}

async fn stop(client: &mut Client, id: &str) -> Result<(), tonic::Status> {
    client
        .stop_container(StopContainerRequest {
            container_id: id.into(),
            timeout: 30,
        })
        .await
        .map(drop)
}

async fn remove(client: &mut Client, id: &str) -> Result<(), tonic::Status> {
    client
        .remove_container(RemoveContainerRequest {
            container_id: id.into(),
        })
        .await
        .map(drop)
}

async fn stop_pod(client: &mut Client, id: &str) -> Result<(), tonic::Status> {
    client
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
        .await
        .map(drop)
}

async fn remove_pod(client: &mut Client, id: &str) -> Result<(), tonic::Status> {
    client
        .remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
        .await
        .map(drop)
}

fn state(status: &ContainerStatus) -> ContainerState {
    ContainerState::try_from(status.state).expect("a known container state")
}

fn is_hex_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn a_pod_and_its_container_go_through_their_lifecycle() {
    let (_dir, server, mut client) = start();
    let runtime = server.runtime();

    let version = client
        .version(VersionRequest {
            version: "0.1.0".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            version.runtime_name.as_str(),
            version.runtime_version.as_str()
        ),
        (RUNTIME_NAME, RUNTIME_VERSION)
    );
    assert_eq!(version.runtime_api_version, "v1");

    let pod = run_pod(&mut client, pod_config("web", &[("app", "web")])).await;
    assert!(is_hex_id(&pod), "{pod}");
    let ready = pod_status(&mut client, &pod).await.unwrap();
    assert_eq!(ready.id, pod);
    assert_eq!(ready.state, PodSandboxState::SandboxReady as i32);
    assert!(ready.created_at > 0);
    assert_eq!(ready.network.as_ref().unwrap().ip, "10.88.0.2");
    assert_eq!(ready.labels, labels(&[("app", "web")]));
    assert_eq!(ready.runtime_handler, "runc");
    assert_eq!(ready.metadata.unwrap().name, "web");

    // The config goes in with a metadata header the fake records.
    let config = container_config("nginx", &[("tier", "front")]);
    let mut request = tonic::Request::new(CreateContainerRequest {
        pod_sandbox_id: pod.clone(),
        config: Some(config.clone()),
        sandbox_config: Some(pod_config("web", &[("app", "web")])),
    });
    request
        .metadata_mut()
        .insert("x-test", "lifecycle".parse().unwrap());
    let id = client
        .create_container(request)
        .await
        .unwrap()
        .into_inner()
        .container_id;
    assert!(is_hex_id(&id) && id != pod, "{id}");
    let created = status(&mut client, &id).await.unwrap();
    assert_eq!(state(&created), ContainerState::ContainerCreated);
    assert!(created.created_at > ready.created_at);
    assert_eq!((created.started_at, created.finished_at), (0, 0));
    assert_eq!(created.metadata, config.metadata);
    assert_eq!(created.image, config.image);
    assert!(created.image_ref.starts_with("sha256:"));
    assert_eq!(created.labels, config.labels);
    assert_eq!(created.annotations, config.annotations);
    assert_eq!(created.mounts, config.mounts);
    assert_eq!(
        created.log_path,
        "/var/log/pods/default_web_web-uid/nginx/0.log"
    );
    assert_eq!(
        created.resources.as_ref().unwrap().linux,
        config.linux.as_ref().unwrap().resources
    );
    // Kept exactly as received, and recorded typed.
    assert_eq!(runtime.created_config(&id), Some(config.clone()));
    let call = runtime
        .wait_for_call(Method::CreateContainer, WAIT)
        .await
        .unwrap();
    assert_eq!(call.create_container().unwrap().config, Some(config));
    assert_eq!(call.subject_id(), Some(pod.as_str()));
    assert_eq!(call.metadata.get("x-test").unwrap(), "lifecycle");

    start_container(&mut client, &id).await;
    let running = status(&mut client, &id).await.unwrap();
    assert_eq!(state(&running), ContainerState::ContainerRunning);
    assert!(running.started_at > running.created_at);
    assert_eq!(running.finished_at, 0);

    let resized = LinuxContainerResources {
        cpu_shares: 1024,
        memory_limit_in_bytes: 512 << 20,
        ..Default::default()
    };
    client
        .update_container_resources(UpdateContainerResourcesRequest {
            container_id: id.clone(),
            linux: Some(resized.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let updated = status(&mut client, &id).await.unwrap();
    assert_eq!(updated.resources.unwrap().linux, Some(resized.clone()));
    assert_eq!(
        runtime.applied_resources(&id),
        std::slice::from_ref(&resized)
    );
    let update = runtime
        .wait_for_call(Method::UpdateContainerResources, WAIT)
        .await
        .unwrap();
    assert_eq!(
        update.update_container_resources().unwrap().linux,
        Some(resized)
    );

    stop(&mut client, &id).await.unwrap();
    let stopped = status(&mut client, &id).await.unwrap();
    assert_eq!(state(&stopped), ContainerState::ContainerExited);
    assert!(stopped.finished_at > stopped.started_at);
    assert_eq!(
        (stopped.exit_code, stopped.reason.as_str()),
        (KILLED_EXIT_CODE, "Error")
    );

    remove(&mut client, &id).await.unwrap();
    assert_eq!(
        status(&mut client, &id).await.unwrap_err().code(),
        Code::NotFound
    );

    stop_pod(&mut client, &pod).await.unwrap();
    let not_ready = pod_status(&mut client, &pod).await.unwrap();
    assert_eq!(not_ready.state, PodSandboxState::SandboxNotready as i32);
    assert_eq!(not_ready.created_at, ready.created_at);
    assert_eq!(not_ready.network.unwrap().ip, "");
    remove_pod(&mut client, &pod).await.unwrap();
    assert_eq!(
        pod_status(&mut client, &pod).await.unwrap_err().code(),
        Code::NotFound
    );

    let methods: Vec<Method> = runtime.calls().iter().map(|call| call.method()).collect();
    assert_eq!(
        methods,
        [
            Method::Version,
            Method::RunPodSandbox,
            Method::PodSandboxStatus,
            Method::CreateContainer,
            Method::ContainerStatus,
            Method::StartContainer,
            Method::ContainerStatus,
            Method::UpdateContainerResources,
            Method::ContainerStatus,
            Method::StopContainer,
            Method::ContainerStatus,
            Method::RemoveContainer,
            Method::ContainerStatus,
            Method::StopPodSandbox,
            Method::PodSandboxStatus,
            Method::RemovePodSandbox,
            Method::PodSandboxStatus,
        ]
    );
    assert!(runtime.raw_calls().is_empty());
    // The configs outlive the container.
    assert!(runtime.created_config(&id).is_some());
}

#[tokio::test]
async fn pod_status_lists_the_pods_containers() {
    let (_dir, server, mut client) = start();
    let runtime = server.runtime();
    let pod = runtime.seed_pod(pod_config("web", &[]));
    let app = runtime
        .seed_container(&pod, container_config("app", &[]), true)
        .unwrap();
    let other = runtime.seed_pod(pod_config("other", &[]));
    runtime
        .seed_container(&other, container_config("app", &[]), false)
        .unwrap();

    let response = client
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: true,
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = response
        .containers_statuses
        .iter()
        .map(|status| status.id.as_str())
        .collect();
    assert_eq!(ids, [app.as_str()]);
    assert!(response.timestamp > response.status.unwrap().created_at);
}

/// Ids of what a listing returned.
fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|item| id(item).to_string()).collect()
}

#[tokio::test]
async fn listings_honour_every_filter_field() {
    let (_dir, server, mut client) = start();
    let runtime = server.runtime();
    let web = run_pod(
        &mut client,
        pod_config("web", &[("app", "web"), ("env", "prod")]),
    )
    .await;
    let db = run_pod(
        &mut client,
        pod_config("db", &[("app", "db"), ("env", "prod")]),
    )
    .await;
    let old = run_pod(
        &mut client,
        pod_config("old", &[("app", "web"), ("env", "test")]),
    )
    .await;
    stop_pod(&mut client, &old).await.unwrap();

    let front = create(
        &mut client,
        &web,
        container_config("front", &[("tier", "a")]),
    )
    .await;
    let sidecar = create(
        &mut client,
        &web,
        container_config("sidecar", &[("tier", "b")]),
    )
    .await;
    let store = create(
        &mut client,
        &db,
        container_config("store", &[("tier", "a")]),
    )
    .await;
    start_container(&mut client, &front).await;
    start_container(&mut client, &store).await;
    runtime.exit(&store, 0).unwrap();

    let mut list_pods = async |filter: Option<PodSandboxFilter>| {
        let items = client
            .list_pod_sandbox(ListPodSandboxRequest { filter })
            .await
            .unwrap()
            .into_inner()
            .items;
        ids(&items, |pod| &pod.id)
    };
    assert_eq!(
        list_pods(None).await,
        [web.as_str(), db.as_str(), old.as_str()]
    );
    assert_eq!(
        list_pods(Some(PodSandboxFilter::default())).await,
        [web.as_str(), db.as_str(), old.as_str()]
    );
    let by_id = PodSandboxFilter {
        id: db.clone(),
        ..Default::default()
    };
    assert_eq!(list_pods(Some(by_id)).await, [db.as_str()]);
    let unknown = PodSandboxFilter {
        id: "f".repeat(64),
        ..Default::default()
    };
    assert!(list_pods(Some(unknown)).await.is_empty());
    // A prefix is not an id.
    let prefix = PodSandboxFilter {
        id: db[..12].to_string(),
        ..Default::default()
    };
    assert!(list_pods(Some(prefix)).await.is_empty());
    let ready = PodSandboxFilter {
        state: Some(PodSandboxStateValue {
            state: PodSandboxState::SandboxReady.into(),
        }),
        ..Default::default()
    };
    assert_eq!(list_pods(Some(ready)).await, [web.as_str(), db.as_str()]);
    let not_ready = PodSandboxFilter {
        state: Some(PodSandboxStateValue {
            state: PodSandboxState::SandboxNotready.into(),
        }),
        ..Default::default()
    };
    assert_eq!(list_pods(Some(not_ready)).await, [old.as_str()]);
    let web_apps = PodSandboxFilter {
        label_selector: labels(&[("app", "web")]),
        ..Default::default()
    };
    assert_eq!(
        list_pods(Some(web_apps)).await,
        [web.as_str(), old.as_str()]
    );
    let web_in_prod = PodSandboxFilter {
        label_selector: labels(&[("app", "web"), ("env", "prod")]),
        ..Default::default()
    };
    assert_eq!(list_pods(Some(web_in_prod)).await, [web.as_str()]);
    let ready_test = PodSandboxFilter {
        state: Some(PodSandboxStateValue {
            state: PodSandboxState::SandboxReady.into(),
        }),
        label_selector: labels(&[("env", "test")]),
        ..Default::default()
    };
    assert!(list_pods(Some(ready_test)).await.is_empty());

    let mut list = async |filter: Option<ContainerFilter>| {
        let containers = client
            .list_containers(ListContainersRequest { filter })
            .await
            .unwrap()
            .into_inner()
            .containers;
        ids(&containers, |container| &container.id)
    };
    let in_state = |state: ContainerState| ContainerFilter {
        state: Some(ContainerStateValue {
            state: state.into(),
        }),
        ..Default::default()
    };
    assert_eq!(
        list(None).await,
        [front.as_str(), sidecar.as_str(), store.as_str()]
    );
    assert_eq!(
        list(Some(ContainerFilter {
            id: sidecar.clone(),
            ..Default::default()
        }))
        .await,
        [sidecar.as_str()]
    );
    assert_eq!(
        list(Some(in_state(ContainerState::ContainerRunning))).await,
        [front.as_str()]
    );
    assert_eq!(
        list(Some(in_state(ContainerState::ContainerCreated))).await,
        [sidecar.as_str()]
    );
    assert_eq!(
        list(Some(in_state(ContainerState::ContainerExited))).await,
        [store.as_str()]
    );
    assert!(
        list(Some(in_state(ContainerState::ContainerUnknown)))
            .await
            .is_empty()
    );
    assert_eq!(
        list(Some(ContainerFilter {
            pod_sandbox_id: web.clone(),
            ..Default::default()
        }))
        .await,
        [front.as_str(), sidecar.as_str()]
    );
    assert_eq!(
        list(Some(ContainerFilter {
            label_selector: labels(&[("tier", "a")]),
            ..Default::default()
        }))
        .await,
        [front.as_str(), store.as_str()]
    );
    assert_eq!(
        list(Some(ContainerFilter {
            pod_sandbox_id: web.clone(),
            label_selector: labels(&[("tier", "a")]),
            ..Default::default()
        }))
        .await,
        [front.as_str()]
    );
    assert!(
        list(Some(ContainerFilter {
            id: front.clone(),
            pod_sandbox_id: db.clone(),
            ..Default::default()
        }))
        .await
        .is_empty()
    );
    assert!(
        list(Some(ContainerFilter {
            label_selector: labels(&[("tier", "a"), ("missing", "x")]),
            ..Default::default()
        }))
        .await
        .is_empty()
    );

    // Listed containers carry what their status says.
    let listed = client
        .list_containers(ListContainersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .containers;
    assert_eq!(listed[0].pod_sandbox_id, web);
    assert_eq!(listed[0].state, ContainerState::ContainerRunning as i32);
    assert_eq!(listed[0].labels, labels(&[("tier", "a")]));
    assert_eq!(listed[0].metadata.as_ref().unwrap().name, "front");
    assert_eq!(
        listed[0].created_at,
        runtime.container(&front).unwrap().created_at
    );
}

#[tokio::test]
async fn stops_and_removals_are_idempotent() {
    let (_dir, server, mut client) = start();
    let runtime = server.runtime();
    let pod = run_pod(&mut client, pod_config("web", &[])).await;
    let running = create(&mut client, &pod, container_config("running", &[])).await;
    let created = create(&mut client, &pod, container_config("created", &[])).await;
    let exited = create(&mut client, &pod, container_config("exited", &[])).await;
    start_container(&mut client, &running).await;
    start_container(&mut client, &exited).await;
    runtime.exit(&exited, 3).unwrap();

    // Stopping what does not run changes nothing.
    stop(&mut client, &created).await.unwrap();
    assert_eq!(
        state(&status(&mut client, &created).await.unwrap()),
        ContainerState::ContainerCreated
    );
    let before = runtime.container(&exited).unwrap();
    stop(&mut client, &exited).await.unwrap();
    assert_eq!(runtime.container(&exited).unwrap(), before);
    assert_eq!((before.exit_code, before.reason.as_str()), (3, "Error"));

    // Stopping the pod kills what runs and leaves the rest.
    stop_pod(&mut client, &pod).await.unwrap();
    let killed = status(&mut client, &running).await.unwrap();
    assert_eq!(state(&killed), ContainerState::ContainerExited);
    assert_eq!(
        (killed.exit_code, killed.reason.as_str()),
        (KILLED_EXIT_CODE, "Error")
    );
    assert_eq!(
        state(&status(&mut client, &created).await.unwrap()),
        ContainerState::ContainerCreated
    );
    assert_eq!(runtime.container(&exited).unwrap(), before);
    let stopped_pod = runtime.pod(&pod).unwrap();
    stop_pod(&mut client, &pod).await.unwrap();
    stop(&mut client, &running).await.unwrap();
    assert_eq!(runtime.pod(&pod).unwrap(), stopped_pod);
    assert_eq!(
        status(&mut client, &running).await.unwrap().finished_at,
        killed.finished_at
    );

    // Removing twice, or what never was, is fine.
    remove(&mut client, &exited).await.unwrap();
    remove(&mut client, &exited).await.unwrap();
    remove(&mut client, &"0".repeat(64)).await.unwrap();
    remove_pod(&mut client, &"0".repeat(64)).await.unwrap();
    assert!(runtime.container(&exited).is_none());

    // Removing a pod removes its containers; again is fine.
    remove_pod(&mut client, &pod).await.unwrap();
    remove_pod(&mut client, &pod).await.unwrap();
    assert!(runtime.pods().is_empty());
    assert!(runtime.containers().is_empty());
    assert!(runtime.calls().iter().all(|call| call.succeeded()));
}

#[tokio::test]
async fn removing_what_runs_stops_it_first() {
    let (_dir, server, mut client) = start();
    let runtime = server.runtime();
    let pod = run_pod(&mut client, pod_config("web", &[])).await;
    let app = create(&mut client, &pod, container_config("app", &[])).await;
    start_container(&mut client, &app).await;
    remove(&mut client, &app).await.unwrap();
    assert!(runtime.container(&app).is_none());

    // A ready pod with a running container goes at once.
    let other = create(&mut client, &pod, container_config("other", &[])).await;
    start_container(&mut client, &other).await;
    remove_pod(&mut client, &pod).await.unwrap();
    assert!(runtime.pods().is_empty() && runtime.containers().is_empty());
    let listed = client
        .list_containers(ListContainersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .containers;
    assert!(listed.is_empty());
}

#[tokio::test]
async fn errors_carry_their_codes_and_name_the_id() {
    let (_dir, server, mut client) = start();
    let runtime = server.runtime();
    let unknown = "a".repeat(64);
    let named = |error: tonic::Status, code: Code| {
        assert_eq!(error.code(), code, "{error:?}");
        assert!(error.message().contains(&unknown), "{error:?}");
    };

    named(
        status(&mut client, &unknown).await.unwrap_err(),
        Code::NotFound,
    );
    named(
        pod_status(&mut client, &unknown).await.unwrap_err(),
        Code::NotFound,
    );
    named(
        stop(&mut client, &unknown).await.unwrap_err(),
        Code::NotFound,
    );
    named(
        stop_pod(&mut client, &unknown).await.unwrap_err(),
        Code::NotFound,
    );
    named(
        client
            .start_container(StartContainerRequest {
                container_id: unknown.clone(),
            })
            .await
            .unwrap_err(),
        Code::NotFound,
    );
    named(
        client
            .update_container_resources(UpdateContainerResourcesRequest {
                container_id: unknown.clone(),
                linux: Some(LinuxContainerResources::default()),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        Code::NotFound,
    );
    named(
        client
            .create_container(CreateContainerRequest {
                pod_sandbox_id: unknown.clone(),
                config: Some(container_config("app", &[])),
                sandbox_config: None,
            })
            .await
            .unwrap_err(),
        Code::NotFound,
    );

    assert_eq!(
        status(&mut client, "").await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(
        client
            .run_pod_sandbox(RunPodSandboxRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let pod = run_pod(&mut client, pod_config("web", &[])).await;
    let no_config = client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(no_config.code(), Code::InvalidArgument);

    // Starting twice, or after an exit, is not possible.
    let app = create(&mut client, &pod, container_config("app", &[])).await;
    start_container(&mut client, &app).await;
    let start_app = StartContainerRequest {
        container_id: app.clone(),
    };
    let twice = client.start_container(start_app.clone()).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    assert!(twice.message().contains("CONTAINER_RUNNING"), "{twice:?}");
    runtime.exit(&app, 0).unwrap();
    let after_exit = client.start_container(start_app).await.unwrap_err();
    assert_eq!(after_exit.code(), Code::FailedPrecondition);
    assert!(
        after_exit.message().contains("CONTAINER_EXITED"),
        "{after_exit:?}"
    );
    let exited_update = client
        .update_container_resources(UpdateContainerResourcesRequest {
            container_id: app.clone(),
            linux: Some(LinuxContainerResources::default()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(exited_update.code(), Code::FailedPrecondition);

    // A pod that is not ready takes no new containers and starts none.
    let waiting = create(&mut client, &pod, container_config("waiting", &[])).await;
    stop_pod(&mut client, &pod).await.unwrap();
    let late = client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config("late", &[])),
            sandbox_config: None,
        })
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains(&pod), "{late:?}");
    let start_waiting = client
        .start_container(StartContainerRequest {
            container_id: waiting.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(start_waiting.code(), Code::FailedPrecondition);
    assert_eq!(
        runtime.container(&waiting).unwrap().state,
        ContainerState::ContainerCreated
    );

    // Failed calls are recorded with their errors.
    let failed = runtime.calls_of(Method::CreateContainer);
    let codes: Vec<Option<Code>> = failed
        .iter()
        .map(|call| call.error.as_ref().map(tonic::Status::code))
        .collect();
    assert_eq!(
        codes,
        [
            Some(Code::NotFound),
            Some(Code::InvalidArgument),
            None,
            None,
            Some(Code::FailedPrecondition)
        ]
    );
}

#[tokio::test]
async fn exits_show_in_status_and_waits_wake_on_calls() {
    let (_dir, server, mut client) = start();
    let runtime = server.runtime();
    // As found at start-up: no calls made it.
    let pod = runtime.seed_pod(pod_config("web", &[]));
    let app = runtime
        .seed_container(&pod, container_config("app", &[]), true)
        .unwrap();
    let batch = runtime
        .seed_container(&pod, container_config("batch", &[]), true)
        .unwrap();
    assert!(runtime.calls().is_empty());
    assert_eq!(
        state(&status(&mut client, &app).await.unwrap()),
        ContainerState::ContainerRunning
    );

    // A wait for a call still to come is pending, and the call wakes it.
    let waiter = runtime.wait_for_call_matching(WAIT, |call| {
        call.method() == Method::ContainerStatus && call.subject_id() == Some(batch.as_str())
    });
    tokio::pin!(waiter);
    assert!(futures::poll!(&mut waiter).is_pending());

    runtime.exit(&batch, 0).unwrap();
    assert!(futures::poll!(&mut waiter).is_pending());
    let completed = status(&mut client, &batch).await.unwrap();
    assert_eq!(state(&completed), ContainerState::ContainerExited);
    assert_eq!(
        (completed.exit_code, completed.reason.as_str()),
        (0, "Completed")
    );
    assert!(completed.finished_at > completed.started_at);
    let call = waiter.await.unwrap();
    assert!(matches!(call.request, CriRequest::ContainerStatus(ref r) if r.container_id == batch));

    runtime.exit(&app, 2).unwrap();
    let failed = status(&mut client, &app).await.unwrap();
    assert_eq!((failed.exit_code, failed.reason.as_str()), (2, "Error"));
    runtime
        .exit_with(&app, 0, "Completed", "")
        .expect_err("an exited container cannot exit");

    // A generic wait: the second ContainerStatus of `app`.
    let second = runtime
        .wait_for_calls("two statuses of app", WAIT, |calls| {
            calls
                .iter()
                .filter(|call| call.subject_id() == Some(app.as_str()))
                .nth(1)
                .cloned()
        })
        .await
        .unwrap();
    assert_eq!(second.method(), Method::ContainerStatus);

    // A wait for what never comes ends at its timeout, saying what it saw.
    let timeout = runtime
        .wait_for_call(Method::RemovePodSandbox, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(timeout.waited, Duration::from_millis(50));
    assert_eq!(timeout.waiting_for, "a RemovePodSandbox call");
    assert_eq!(timeout.seen, ["ContainerStatus"; 3]);
    assert!(
        timeout.to_string().contains("RemovePodSandbox"),
        "{timeout}"
    );
}

#[tokio::test]
async fn injected_failures_fail_one_call_each() {
    let (_dir, server, mut client) = start();
    let runtime = server.runtime();
    let pod = run_pod(&mut client, pod_config("web", &[])).await;
    runtime.fail_next(
        Method::CreateContainer,
        tonic::Status::resource_exhausted("no room for app"),
    );
    let error = client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config("app", &[])),
            sandbox_config: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert_eq!(error.message(), "no room for app");
    assert!(runtime.containers().is_empty());
    let failed = runtime
        .wait_for_call(Method::CreateContainer, WAIT)
        .await
        .unwrap();
    assert_eq!(failed.error.unwrap().code(), Code::ResourceExhausted);

    // Other methods are untouched, and the next call succeeds.
    assert!(pod_status(&mut client, &pod).await.is_ok());
    let app = create(&mut client, &pod, container_config("app", &[])).await;
    assert!(runtime.container(&app).is_some());
}

/// A gRPC message frame: uncompressed, big-endian length, payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test]
async fn every_other_path_is_echoed_byte_for_byte() {
    let (_dir, server, _client) = start();
    let runtime = server.runtime();
    let channel = server.channel();
    // Not valid protobuf, two frames in one body: nothing may decode it.
    let mut body = frame(&[0x0a, 0x03, b'a', b'b', 0xff, 0x00, 0x80]);
    body.extend(frame(&[]));
    let body = Bytes::from(body);

    for path in [
        "/runtime.v1.ImageService/ListImages",
        "/runtime.v1.RuntimeService/Status",
        "/runtime.v1.RuntimeService/Future",
    ] {
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(path)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("x-request-id", path)
            .body(tonic::body::Body::new(Full::new(body.clone())))
            .unwrap();
        let response = channel.send(request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/grpc"
        );
        let collected = response.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().expect("trailers");
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        assert_eq!(collected.to_bytes(), body, "{path}");

        let raw = runtime.wait_for_raw_call(path, WAIT).await.unwrap();
        assert_eq!(raw.body, body);
        assert_eq!(raw.headers.get("x-request-id").unwrap(), path);
        assert_eq!(raw.headers.get("content-type").unwrap(), "application/grpc");
    }
    let paths: Vec<String> = runtime
        .raw_calls()
        .into_iter()
        .map(|raw| raw.path)
        .collect();
    assert_eq!(
        paths,
        [
            "/runtime.v1.ImageService/ListImages",
            "/runtime.v1.RuntimeService/Status",
            "/runtime.v1.RuntimeService/Future",
        ]
    );
    assert!(runtime.calls().is_empty());

    // Our methods are not echoed: a raw Version is decoded and answered.
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(Method::Version.path())
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Full::new(Bytes::from(frame(&[])))))
        .unwrap();
    let response = channel.send(request).await.unwrap();
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(
        collected.trailers().unwrap().get("grpc-status").unwrap(),
        "0"
    );
    assert_ne!(collected.to_bytes(), frame(&[]));
    assert_eq!(runtime.calls_of(Method::Version).len(), 1);
    assert_eq!(runtime.raw_calls().len(), 3);
}

#[tokio::test]
async fn messages_up_to_the_cri_limit_pass() {
    let (_dir, server, client) = start();
    let mut client = client
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let pod = run_pod(&mut client, pod_config("web", &[])).await;
    // Over tonic's default limit of 4 MiB, both ways.
    let mut config = container_config("big", &[]);
    config.annotations.insert("big".into(), "x".repeat(6 << 20));
    let id = create(&mut client, &pod, config.clone()).await;
    let status = status(&mut client, &id).await.unwrap();
    assert_eq!(status.annotations, config.annotations);
    assert_eq!(server.runtime().created_config(&id), Some(config));
}

#[tokio::test]
async fn shutting_down_stops_serving_and_removes_the_socket() {
    let (dir, server, mut client) = start();
    let path = server.path().to_path_buf();
    assert!(path.exists());
    assert!(
        pod_status(&mut client, "x")
            .await
            .is_err_and(|e| e.code() == Code::NotFound)
    );
    server.shutdown().await;
    assert!(!path.exists());
    assert!(client.version(VersionRequest::default()).await.is_err());
    assert!(UnixChannel::connect(&path).await.is_err());

    // Dropping does the same, and the path can be served again.
    let runtime = FakeCriRuntime::new();
    let again = runtime.serve(&path).unwrap();
    let mut client = RuntimeServiceClient::new(again.channel());
    assert!(client.version(VersionRequest::default()).await.is_ok());
    drop(again);
    assert!(!path.exists());
    assert!(client.version(VersionRequest::default()).await.is_err());
    // The runtime outlives its server.
    assert_eq!(runtime.calls_of(Method::Version).len(), 1);
    drop(dir);
}

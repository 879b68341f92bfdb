//! The fake's semantics called directly, without a socket (the socket
//! tests are in `tests/fake_cri.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nri_cri::cri::runtime_service_server::RuntimeService;
use nri_cri::cri::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatusRequest,
    CreateContainerRequest, ImageSpec, LinuxContainerConfig, LinuxContainerResources,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, ListContainersRequest,
    ListPodSandboxRequest, NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata,
    PodSandboxState, PodSandboxStatusRequest, RemoveContainerRequest, RemovePodSandboxRequest,
    RunPodSandboxRequest, StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
    UpdateContainerResourcesRequest, UpdatePodSandboxResourcesRequest, VersionRequest,
};
use tonic::{Code, Request, Status};

use super::*;

fn pod_config(name: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("{name}-uid"),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: format!("/var/log/pods/default_{name}"),
        ..Default::default()
    }
}

fn container_config(name: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: "docker.io/library/busybox:1.36".into(),
            ..Default::default()
        }),
        log_path: format!("{name}/0.log"),
        ..Default::default()
    }
}

/// Calls `method` with a default request; only the outcome matters.
async fn call(runtime: &FakeCriRuntime, method: Method) -> Result<(), Status> {
    match method {
        Method::Version => runtime
            .version(Request::new(VersionRequest::default()))
            .await
            .map(drop),
        Method::RunPodSandbox => runtime
            .run_pod_sandbox(Request::new(RunPodSandboxRequest::default()))
            .await
            .map(drop),
        Method::StopPodSandbox => runtime
            .stop_pod_sandbox(Request::new(StopPodSandboxRequest::default()))
            .await
            .map(drop),
        Method::RemovePodSandbox => runtime
            .remove_pod_sandbox(Request::new(RemovePodSandboxRequest::default()))
            .await
            .map(drop),
        Method::PodSandboxStatus => runtime
            .pod_sandbox_status(Request::new(PodSandboxStatusRequest::default()))
            .await
            .map(drop),
        Method::ListPodSandbox => runtime
            .list_pod_sandbox(Request::new(ListPodSandboxRequest::default()))
            .await
            .map(drop),
        Method::CreateContainer => runtime
            .create_container(Request::new(CreateContainerRequest::default()))
            .await
            .map(drop),
        Method::StartContainer => runtime
            .start_container(Request::new(StartContainerRequest::default()))
            .await
            .map(drop),
        Method::StopContainer => runtime
            .stop_container(Request::new(StopContainerRequest::default()))
            .await
            .map(drop),
        Method::RemoveContainer => runtime
            .remove_container(Request::new(RemoveContainerRequest::default()))
            .await
            .map(drop),
        Method::ListContainers => runtime
            .list_containers(Request::new(ListContainersRequest::default()))
            .await
            .map(drop),
        Method::ContainerStatus => runtime
            .container_status(Request::new(ContainerStatusRequest::default()))
            .await
            .map(drop),
        Method::UpdateContainerResources => runtime
            .update_container_resources(Request::new(UpdateContainerResourcesRequest::default()))
            .await
            .map(drop),
        Method::UpdatePodSandboxResources => runtime
            .update_pod_sandbox_resources(Request::new(UpdatePodSandboxResourcesRequest::default()))
            .await
            .map(drop),
    }
}

#[tokio::test]
async fn every_method_is_recorded_under_its_name_and_fails_when_told() {
    let runtime = FakeCriRuntime::new();
    for method in Method::ALL {
        runtime.fail_next(method, Status::unavailable(method.name()));
        runtime.fail_next(method, Status::resource_exhausted("second"));
    }
    for method in Method::ALL {
        let error = call(&runtime, method).await.unwrap_err();
        assert_eq!(
            (error.code(), error.message()),
            (Code::Unavailable, method.name())
        );
        let recorded = runtime.calls().pop().unwrap();
        assert_eq!(recorded.method(), method);
        assert_eq!(recorded.error.unwrap().message(), method.name());

        let error = call(&runtime, method).await.unwrap_err();
        assert_eq!(error.code(), Code::ResourceExhausted, "{method}");
        // The queue is empty now: the call does what it does (empty ids
        // are invalid, a request without a config too).
        if let Err(error) = call(&runtime, method).await {
            assert_eq!(error.code(), Code::InvalidArgument, "{method}: {error:?}");
        }
    }
    assert_eq!(runtime.calls().len(), 3 * Method::ALL.len());
    // Nothing changed: every call failed or had nothing to act on.
    assert!(runtime.pods().is_empty() && runtime.containers().is_empty());
}

#[tokio::test]
async fn seeding_adds_state_without_calls() {
    let runtime = FakeCriRuntime::new();
    let pod = runtime.seed_pod(pod_config("web"));
    let running = runtime
        .seed_container(&pod, container_config("app"), true)
        .unwrap();
    let created = runtime
        .seed_container(&pod, container_config("sidecar"), false)
        .unwrap();
    assert!(runtime.calls().is_empty());

    let seeded = runtime.pod(&pod).unwrap();
    assert_eq!(seeded.state, PodSandboxState::SandboxReady);
    assert_eq!(seeded.ip, "10.88.0.2");
    assert_eq!(seeded.config, pod_config("web"));
    let running = runtime.container(&running).unwrap();
    assert_eq!(running.state, ContainerState::ContainerRunning);
    assert!(running.started_at > running.created_at);
    assert_eq!(running.log_path, "/var/log/pods/default_web/app/0.log");
    assert_eq!(
        runtime.container(&created).unwrap().state,
        ContainerState::ContainerCreated
    );
    assert_eq!(
        runtime.created_config(&created),
        Some(container_config("sidecar"))
    );

    let unknown = runtime
        .seed_container("nope", container_config("x"), false)
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(unknown.message().contains("\"nope\""), "{unknown:?}");

    runtime
        .stop_pod_sandbox(Request::new(StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }))
        .await
        .unwrap();
    let error = runtime
        .seed_container(&pod, container_config("late"), true)
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(
        runtime
            .seed_container(&pod, container_config("late"), false)
            .is_ok()
    );
}

#[tokio::test]
async fn exits_take_a_reason_and_need_a_running_container() {
    let runtime = FakeCriRuntime::new();
    let pod = runtime.seed_pod(pod_config("web"));
    let app = runtime
        .seed_container(&pod, container_config("app"), true)
        .unwrap();
    let idle = runtime
        .seed_container(&pod, container_config("idle"), false)
        .unwrap();

    runtime
        .exit_with(&app, 137, "OOMKilled", "out of memory")
        .unwrap();
    let exited = runtime.container(&app).unwrap();
    assert_eq!(exited.state, ContainerState::ContainerExited);
    assert_eq!(
        (
            exited.exit_code,
            exited.reason.as_str(),
            exited.message.as_str()
        ),
        (137, "OOMKilled", "out of memory")
    );
    assert!(exited.finished_at > exited.started_at);

    assert_eq!(
        runtime.exit(&app, 0).unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        runtime.exit(&idle, 0).unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(runtime.exit("gone", 0).unwrap_err().code(), Code::NotFound);
    assert_eq!(
        runtime.exit("", 0).unwrap_err().code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn host_network_pods_get_no_ip() {
    let runtime = FakeCriRuntime::new();
    let mut config = pod_config("host");
    config.linux = Some(LinuxPodSandboxConfig {
        security_context: Some(LinuxSandboxSecurityContext {
            namespace_options: Some(NamespaceOption {
                network: NamespaceMode::Node.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let host = runtime.seed_pod(config);
    let other = runtime.seed_pod(pod_config("other"));
    let status = runtime.pod(&host).unwrap().status();
    assert_eq!(status.network.unwrap().ip, "");
    assert_eq!(
        status
            .linux
            .unwrap()
            .namespaces
            .unwrap()
            .options
            .unwrap()
            .network,
        NamespaceMode::Node as i32
    );
    // The host pod took no address.
    assert_eq!(runtime.pod(&other).unwrap().ip, "10.88.0.2");
}

#[tokio::test]
async fn names_are_reserved_until_removal() {
    let runtime = FakeCriRuntime::new();
    let run = || RunPodSandboxRequest {
        config: Some(pod_config("web")),
        runtime_handler: "runc".into(),
    };
    let pod = runtime
        .run_pod_sandbox(Request::new(run()))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    let error = runtime
        .run_pod_sandbox(Request::new(run()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists);
    assert!(error.message().contains(&pod), "{error:?}");
    assert_eq!(runtime.pod(&pod).unwrap().runtime_handler, "runc");

    let create = || CreateContainerRequest {
        pod_sandbox_id: pod.clone(),
        config: Some(container_config("app")),
        sandbox_config: Some(pod_config("web")),
    };
    let app = runtime
        .create_container(Request::new(create()))
        .await
        .unwrap()
        .into_inner()
        .container_id;
    let error = runtime
        .create_container(Request::new(create()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists);
    runtime
        .remove_container(Request::new(RemoveContainerRequest {
            container_id: app.clone(),
        }))
        .await
        .unwrap();
    let again = runtime
        .create_container(Request::new(create()))
        .await
        .unwrap()
        .into_inner()
        .container_id;
    assert_ne!(again, app);

    runtime
        .remove_pod_sandbox(Request::new(RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }))
        .await
        .unwrap();
    assert!(runtime.run_pod_sandbox(Request::new(run())).await.is_ok());
}

#[tokio::test]
async fn resource_updates_replace_what_they_carry() {
    let runtime = FakeCriRuntime::new();
    let pod = runtime.seed_pod(pod_config("web"));
    // No resources in the config: none reported.
    let bare = runtime
        .seed_container(&pod, container_config("bare"), true)
        .unwrap();
    assert_eq!(runtime.container(&bare).unwrap().status().resources, None);

    let mut config = container_config("sized");
    let initial = LinuxContainerResources {
        cpu_shares: 512,
        memory_limit_in_bytes: 1 << 28,
        ..Default::default()
    };
    config.linux = Some(LinuxContainerConfig {
        resources: Some(initial.clone()),
        security_context: None,
    });
    let sized = runtime.seed_container(&pod, config, false).unwrap();
    let linux = |id: &str| {
        runtime
            .container(id)
            .unwrap()
            .status()
            .resources
            .unwrap()
            .linux
    };
    assert_eq!(linux(&sized), Some(initial));

    // Windows resources only: kept opaque, no Linux change recorded.
    let update = |id: &str, linux: Option<LinuxContainerResources>, windows: Vec<u8>| {
        runtime.update_container_resources(Request::new(UpdateContainerResourcesRequest {
            container_id: id.to_string(),
            linux,
            windows,
            annotations: Default::default(),
        }))
    };
    update(&bare, None, vec![0x08, 0x01]).await.unwrap();
    let resources = runtime.container(&bare).unwrap().resources.unwrap();
    assert_eq!(
        (resources.linux, resources.windows),
        (None, vec![0x08, 0x01])
    );
    assert!(runtime.applied_resources(&bare).is_empty());

    let bigger = LinuxContainerResources {
        cpu_shares: 1024,
        ..Default::default()
    };
    update(&sized, Some(bigger.clone()), Vec::new())
        .await
        .unwrap();
    assert_eq!(linux(&sized), Some(bigger.clone()));
    assert_eq!(runtime.applied_resources(&sized), [bigger]);

    runtime.exit(&bare, 1).unwrap();
    let error = update(&bare, Some(LinuxContainerResources::default()), Vec::new())
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(runtime.applied_resources(&bare).is_empty());

    let overhead = LinuxContainerResources {
        cpu_shares: 64,
        ..Default::default()
    };
    runtime
        .update_pod_sandbox_resources(Request::new(UpdatePodSandboxResourcesRequest {
            pod_sandbox_id: pod.clone(),
            overhead: Some(overhead.clone()),
            resources: None,
        }))
        .await
        .unwrap();
    let updated = runtime.pod(&pod).unwrap();
    assert_eq!(
        (updated.overhead, updated.resources),
        (Some(overhead), None)
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A node with 2,000 pods and 10,000 containers carrying realistic labels,
//! annotations, environment and mounts (about 40 MB of state) synchronizes
//! over the ttrpc transport: nri-core splits the Synchronize into `more`
//! chunks, each of which fits the 4 MiB ttrpc limit with its envelope, and
//! the plugin receives every pod and container intact.

use std::sync::Arc;

use nri_core::adaptation::Snapshot;
use nri_core::proto::api::{Container, Mount, PodSandbox, SynchronizeResponse};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{Method, PluginRequest, PluginResponse};
use nri_testkit::conformance::{
    Behaviour, ScriptedPlugin, TtrpcHarness, connect, options, register, start, within,
};
use nri_testkit::domain::FakeDomain;
use nri_transport_ttrpc::message::MAX_DATA;

const PODS: usize = 2_000;
const CONTAINERS: usize = 10_000;

fn annotations(kind: &str, i: usize) -> std::collections::BTreeMap<String, String> {
    (0..8)
        .map(|k| {
            (
                format!("{kind}.example.com/annotation-{k}"),
                format!("{kind}-{i}-value-{k}-{}", "x".repeat(48)),
            )
        })
        .chain([(
            "kubectl.kubernetes.io/last-applied-configuration".to_string(),
            format!("{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"{kind}{i}\"}},\"spec\":{}}}", "{}".repeat(64)),
        )])
        .collect()
}

fn node() -> Snapshot {
    let pods = (0..PODS)
        .map(|i| PodSandbox {
            id: format!("{i:064x}"),
            name: format!("workload-{i}-7d9f8c6b5-abcde"),
            uid: format!("6f1c2d3e-{i:04}-4a5b-8c9d-0e1f2a3b4c5d"),
            namespace: format!("namespace-{}", i % 40),
            labels: [
                ("app".to_string(), format!("workload-{i}")),
                ("pod-template-hash".to_string(), "7d9f8c6b5".to_string()),
            ]
            .into(),
            annotations: annotations("pod", i),
            ..Default::default()
        })
        .collect();
    let containers = (0..CONTAINERS)
        .map(|i| Container {
            id: format!("c{i:063x}"),
            pod_sandbox_id: format!("{:064x}", i % PODS),
            name: format!("container-{i}"),
            state: 2,
            labels: [(
                "io.kubernetes.container.name".to_string(),
                format!("container-{i}"),
            )]
            .into(),
            annotations: annotations("container", i),
            args: vec![
                "/bin/server".into(),
                "--port=8080".into(),
                format!("--id={i}"),
            ],
            env: (0..10).map(|k| format!("ENV_{k}=value-{i}-{k}")).collect(),
            mounts: (0..4)
                .map(|k| Mount {
                    destination: format!("/var/lib/data-{k}"),
                    r#type: "bind".into(),
                    source: format!("/var/lib/kubelet/pods/{i}/volumes/{k}"),
                    options: vec!["rbind".into(), "rprivate".into(), "rw".into()],
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    Snapshot { pods, containers }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_node_synchronizes_in_chunks_that_fit_ttrpc() {
    let harness = TtrpcHarness::new().unwrap();
    let state = node();
    let runtime = Arc::new(FakeDomain::from_snapshot(state.clone()));
    let adaptation = start(&harness, options(), runtime).await;

    // Answer every chunk as the upstream stub does: echo `more`.
    let plugin = ScriptedPlugin::new("10", "big", EventMask::of([Event::CreateContainer])).on(
        Method::Synchronize,
        Behaviour::With(Arc::new(|request| match request {
            PluginRequest::Synchronize(sync) => {
                Ok(PluginResponse::Synchronize(Box::new(SynchronizeResponse {
                    more: sync.more,
                    ..Default::default()
                })))
            }
            _ => unreachable!(),
        })),
    );
    let connected = connect(&harness, plugin).await;
    register(&connected).await.unwrap();
    within("registration", adaptation.wait_for_plugins(1)).await;

    let chunks: Vec<_> = connected
        .plugin
        .received()
        .into_iter()
        .filter_map(|request| match request {
            PluginRequest::Synchronize(sync) => Some(sync),
            _ => None,
        })
        .collect();
    assert!(chunks.len() > 1, "{} chunk(s)", chunks.len());
    let total: usize = chunks
        .iter()
        .map(|c| prost::Message::encoded_len(c.as_ref()))
        .sum();
    assert!(total > 4 * MAX_DATA, "only {total} bytes: not a large node");
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.more, i + 1 < chunks.len(), "chunk {i}");
        // The envelope adds the service and method names, the timeout and
        // three length prefixes: well under 128 bytes.
        let on_wire = prost::Message::encoded_len(chunk.as_ref()) + 128;
        assert!(on_wire <= MAX_DATA, "chunk {i} is {on_wire} bytes");
    }
    let pods: Vec<PodSandbox> = chunks.iter().flat_map(|c| c.pods.clone()).collect();
    let containers: Vec<Container> = chunks.iter().flat_map(|c| c.containers.clone()).collect();
    assert_eq!(pods, state.pods);
    assert_eq!(containers, state.containers);
    adaptation.stop().await;
}

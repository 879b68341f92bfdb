#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The hostile-peer suite's attacks (`nri_testkit::hostile`) against
//! `nri-cri-proxy`: its NRI socket (ttrpc) must cut each attacker off as a
//! runtime's does, and its CRI socket must bound what a CRI peer that
//! never reads can make it hold. Afterwards a real plugin process still
//! registers and adjusts a container created through the proxy. The one
//! test is alone in its binary, so nothing else runs while it measures
//! memory.

mod cri;

use std::path::Path;
use std::time::Duration;

use cri::{Setup, client, container_config, plugins_registered, pod_config};
use nri_cri::cri as api;
use nri_testkit::hostile::attacks::{
    Flood, flood_before_registering_on, flood_of_calls_on, random_and_truncated_bytes_on,
};
use nri_testkit::hostile::{
    MEMORY_BOUND_KIB, REGISTRATION_TIMEOUT, Wire, peak_growth, resident_now,
};

fn bounded(what: &str, baseline: u64) {
    let grown = peak_growth(baseline);
    println!("{what}: peak resident memory grew by {grown} KiB");
    assert!(
        grown < MEMORY_BOUND_KIB,
        "{what}: the peak resident memory grew by {grown} KiB (bound {MEMORY_BOUND_KIB} KiB)"
    );
}

/// A CRI peer that calls an unknown method again and again and never
/// reads: the proxy forwards what it can and stops reading; it may keep
/// the connection, but holds a bounded amount.
async fn cri_flood_never_reading(socket: &Path) -> Flood {
    // The same attack as on a gRPC NRI socket, on the CRI socket.
    flood_of_calls_on(socket, Wire::Grpc, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_cuts_off_hostile_peers_and_still_serves() {
    let mut setup = Setup::new();
    // Its registration timeout as in the suite: what never registers is
    // closed in a second.
    let proxy = setup
        .proxy_with_timeouts(REGISTRATION_TIMEOUT, Duration::from_secs(5))
        .await;
    let nri = setup.nri_socket();

    let baseline = resident_now();
    let flood = flood_before_registering_on(&nri, Wire::Ttrpc).await;
    assert!(flood.is_closed(), "NRI flood before registering: {flood:?}");
    bounded("NRI flood before registering", baseline);
    let baseline = resident_now();
    let flood = flood_of_calls_on(&nri, Wire::Ttrpc, None).await;
    assert!(flood.is_closed(), "NRI flood without reading: {flood:?}");
    bounded("NRI flood without reading", baseline);
    let baseline = resident_now();
    let flood = flood_of_calls_on(&nri, Wire::Ttrpc, Some(Duration::from_millis(20))).await;
    assert!(flood.is_closed(), "NRI slow reader: {flood:?}");
    bounded("NRI slow reader", baseline);
    let baseline = resident_now();
    let flood = random_and_truncated_bytes_on(&nri, Wire::Ttrpc).await;
    assert!(flood.is_closed(), "NRI random bytes: {flood:?}");
    bounded("NRI random and truncated bytes", baseline);

    let baseline = resident_now();
    let flood = cri_flood_never_reading(proxy.path()).await;
    assert!(
        !matches!(flood, Flood::Sent(_)),
        "the CRI socket read everything: {flood:?}"
    );
    bounded("the CRI socket's flood", baseline);

    // A real plugin process registers and adjusts a container made
    // through the proxy's CRI socket.
    setup.plugin_process("echo", "10");
    plugins_registered(&proxy, 1).await;
    let mut cri = client(proxy.path());
    let config = pod_config("after", &[]);
    let pod = cri
        .run_pod_sandbox(api::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: "runc".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    let container = cri
        .create_container(api::CreateContainerRequest {
            pod_sandbox_id: pod,
            config: Some(container_config("app")),
            sandbox_config: Some(config),
        })
        .await
        .unwrap()
        .into_inner()
        .container_id;
    let created = setup.fake.created_config(&container).unwrap();
    assert!(
        created.envs.iter().any(|kv| kv.key == "NRI_ECHO_10"),
        "{:?}",
        created.envs
    );
    proxy.shut_down().await;
}

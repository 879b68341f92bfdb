//! The adaptation's deadlines on tokio's paused clock: the request timeout,
//! the failure policy, the registration deadline and the shutdown bound
//! and grace, each at containerd's default and checked to the instant it
//! fires. Over the in-process transport nothing waits for real time: the
//! clock jumps to the next timer whenever every task is idle, so a 5 s
//! deadline costs microseconds and its exact instant is observable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nri_core::adaptation::{
    Adaptation, FailedEviction, FailurePolicy, Options, RuntimeBackend, Snapshot, SnapshotError,
};
use nri_core::discovery::Preinstalled;
use nri_core::proto::api::{
    ContainerEviction, ContainerUpdate, CreateContainerRequest, StartContainerRequest,
};
use nri_core::proto::defaults::{DEFAULT_REGISTRATION_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::in_process::{self, InProcessConnector, InProcessTransport};
use nri_core::transport::{
    Accepted, CallError, LaunchError, Origin, PluginConnection, PluginRequest, PluginRequestRef,
    PluginResponse, Transport,
};
use support::{Probe, connect, container, pod};
use tokio::time::{Instant, timeout};

/// Longer than any deadline here; on the paused clock it costs nothing.
const WATCHDOG: Duration = Duration::from_secs(60);

/// A runtime with nothing in it.
struct Empty;

#[async_trait::async_trait]
impl RuntimeBackend for Empty {
    async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        Ok(Snapshot::default())
    }
    async fn update_containers(&self, _: Vec<ContainerUpdate>) -> Vec<ContainerUpdate> {
        Vec::new()
    }
    async fn evict_containers(&self, _: Vec<ContainerEviction>) -> Vec<FailedEviction> {
        Vec::new()
    }
}

/// containerd's defaults: 5 s to register, 2 s a request.
fn options() -> Options {
    let options = Options::new("test", "1").with_plugin_path(None);
    assert_eq!(options.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    assert_eq!(options.registration_timeout, DEFAULT_REGISTRATION_TIMEOUT);
    options
}

async fn started(options: Options) -> (Adaptation, InProcessConnector) {
    let adaptation = Adaptation::new(options, Arc::new(Empty));
    let (transport, connector) = in_process::transport();
    adaptation.start(vec![Arc::new(transport)]).await.unwrap();
    (adaptation, connector)
}

/// A probe script that never answers `event` for container `id`.
fn hang_on(
    event: Event,
    id: &'static str,
) -> impl Fn(&PluginRequest) -> Option<Result<PluginResponse, CallError>> + Send + Sync + 'static {
    move |request| {
        let container = match request {
            PluginRequest::StartContainer(r) if event == Event::StartContainer => &r.container,
            PluginRequest::CreateContainer(r) if event == Event::CreateContainer => &r.container,
            _ => return None,
        };
        // A Timeout answer makes the probe hang (see support::Probe).
        container
            .as_ref()
            .is_some_and(|c| c.id == id)
            .then_some(Err(CallError::Timeout {
                after: Duration::ZERO,
            }))
    }
}

fn start(id: &str) -> StartContainerRequest {
    StartContainerRequest {
        pod: Some(pod("p")),
        container: Some(container("p", id, 1)),
    }
}

/// `elapsed` is `deadline`, give or take the clock's millisecond grain.
fn at(elapsed: Duration, deadline: Duration) {
    assert!(
        elapsed >= deadline && elapsed < deadline + Duration::from_millis(5),
        "fired after {elapsed:?}, the deadline is {deadline:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_plugin_that_does_not_answer_is_dropped_at_the_request_timeout() {
    let (adaptation, connector) = started(options()).await;
    let (slow, _) = Probe::new(
        EventMask::of([Event::StartContainer]),
        hang_on(Event::StartContainer, "hang"),
    );
    let handle = connect(&connector, slow, "10", "slow").await;
    timeout(WATCHDOG, adaptation.wait_for_plugins(1))
        .await
        .unwrap();

    let begun = Instant::now();
    adaptation.start_container(start("ok")).await.unwrap();
    assert_eq!(begun.elapsed(), Duration::ZERO, "an answer costs no time");
    adaptation.start_container(start("hang")).await.unwrap();
    at(begun.elapsed(), DEFAULT_REQUEST_TIMEOUT);
    assert!(adaptation.plugins().is_empty(), "dropped after its timeout");
    timeout(WATCHDOG, handle.closed()).await.unwrap();
    adaptation.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failure_policy_tolerates_timeouts_up_to_its_count() {
    let mut options = options();
    options.plugin_failure_policies.insert(
        "tolerant".into(),
        FailurePolicy {
            tolerated_timeouts: 2,
        },
    );
    let (adaptation, connector) = started(options).await;
    let (tolerant, _) = Probe::new(
        EventMask::of([Event::StartContainer]),
        hang_on(Event::StartContainer, "hang"),
    );
    let _tolerant = connect(&connector, tolerant, "10", "tolerant").await;
    timeout(WATCHDOG, adaptation.wait_for_plugins(1))
        .await
        .unwrap();

    for round in 1..=2 {
        let begun = Instant::now();
        adaptation.start_container(start("hang")).await.unwrap();
        at(begun.elapsed(), DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(
            adaptation.plugins().len(),
            1,
            "timeout {round} is tolerated"
        );
    }
    // An answer starts the count again.
    adaptation.start_container(start("ok")).await.unwrap();
    for _ in 1..=2 {
        adaptation.start_container(start("hang")).await.unwrap();
    }
    assert_eq!(adaptation.plugins().len(), 1, "two in a row again: kept");
    adaptation.start_container(start("hang")).await.unwrap();
    assert!(
        adaptation.plugins().is_empty(),
        "a third timeout in a row exceeds the policy"
    );
    adaptation.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_required_plugin_that_times_out_fails_the_creation_at_the_request_timeout() {
    // containerd/nri#316: upstream lists a plugin as consulted before
    // calling it, so a required plugin that never answers passes.
    let mut options = options();
    options.default_validator.enable = true;
    options.default_validator.required_plugins = vec!["needed".into()];
    let (adaptation, connector) = started(options).await;
    let (needed, _) = Probe::new(
        EventMask::of([Event::CreateContainer]),
        hang_on(Event::CreateContainer, "hang"),
    );
    let _needed = connect(&connector, needed, "10", "needed").await;
    timeout(WATCHDOG, adaptation.wait_for_plugins(2))
        .await
        .unwrap();
    let create = |id: &str| CreateContainerRequest {
        pod: Some(pod("p")),
        container: Some(container("p", id, 0)),
    };
    let begun = Instant::now();
    let error = adaptation
        .create_container(create("hang"))
        .await
        .unwrap_err();
    at(begun.elapsed(), DEFAULT_REQUEST_TIMEOUT);
    assert!(error.to_string().contains("needed"), "{error}");
    adaptation.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_does_not_register_is_closed_at_the_registration_deadline() {
    let (adaptation, connector) = started(options()).await;
    let begun = Instant::now();
    let (silent, _) = Probe::new(EventMask::ALL, |_| None);
    let silent = connector.connect(silent, Origin::External).await.unwrap();
    // One that registers meanwhile joins at once.
    let (prompt, _) = Probe::new(EventMask::of([Event::StartContainer]), |_| None);
    let _prompt = connect(&connector, prompt, "10", "prompt").await;
    timeout(WATCHDOG, adaptation.wait_for_plugins(1))
        .await
        .unwrap();
    assert_eq!(begun.elapsed(), Duration::ZERO);

    timeout(WATCHDOG, silent.closed()).await.unwrap();
    at(begun.elapsed(), DEFAULT_REGISTRATION_TIMEOUT);
    assert_eq!(adaptation.plugins().len(), 1);
    adaptation.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_plugin_that_registers_but_does_not_configure_is_closed_at_the_request_timeout() {
    let (adaptation, connector) = started(options()).await;
    let (mute, _) = Probe::new(EventMask::ALL, |request| {
        matches!(request, PluginRequest::Configure(_)).then_some(Err(CallError::Timeout {
            after: Duration::ZERO,
        }))
    });
    let begun = Instant::now();
    let handle = connect(&connector, mute, "10", "mute").await;
    timeout(WATCHDOG, handle.closed()).await.unwrap();
    at(begun.elapsed(), DEFAULT_REQUEST_TIMEOUT);
    assert!(adaptation.plugins().is_empty());
    adaptation.stop().await;
}

/// The in-process transport, with each connection's `terminate` recording
/// the grace it was given and taking all of it, as a plugin process that
/// ignores its end would before the transport kills it.
struct Graced {
    inner: InProcessTransport,
    terminated: Arc<Mutex<Vec<Duration>>>,
}

struct GracedConnection {
    inner: Arc<dyn PluginConnection>,
    terminated: Arc<Mutex<Vec<Duration>>>,
}

#[async_trait::async_trait]
impl PluginConnection for GracedConnection {
    async fn call(
        &self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, CallError> {
        self.inner.call(request, timeout).await
    }
    async fn close(&self) {
        self.inner.close().await;
    }
    fn origin(&self) -> Origin {
        self.inner.origin()
    }
    async fn terminate(&self, grace: Duration) {
        self.inner.close().await;
        tokio::time::sleep(grace).await;
        self.terminated.lock().unwrap().push(grace);
    }
}

#[async_trait::async_trait]
impl Transport for Graced {
    async fn accept(&self) -> Option<Accepted> {
        let accepted = self.inner.accept().await?;
        Some(Accepted {
            connection: Arc::new(GracedConnection {
                inner: accepted.connection,
                terminated: Arc::clone(&self.terminated),
            }),
            calls: accepted.calls,
        })
    }
    async fn launch(&self, _: &Preinstalled) -> Result<Accepted, LaunchError> {
        Err(LaunchError::Unsupported)
    }
}

#[tokio::test(start_paused = true)]
async fn stop_waits_the_request_timeout_for_shutdown_then_the_grace() {
    let mut options = options();
    options.shutdown_grace = Duration::from_secs(3);
    let adaptation = Adaptation::new(options, Arc::new(Empty));
    let (inner, connector) = in_process::transport();
    let terminated = Arc::new(Mutex::new(Vec::new()));
    let graced = Graced {
        inner,
        terminated: Arc::clone(&terminated),
    };
    adaptation.start(vec![Arc::new(graced)]).await.unwrap();
    let (stubborn, _) = Probe::new(EventMask::of([Event::StartContainer]), |request| {
        matches!(request, PluginRequest::Shutdown(_)).then_some(Err(CallError::Timeout {
            after: Duration::ZERO,
        }))
    });
    let (polite, _) = Probe::new(EventMask::of([Event::StartContainer]), |_| None);
    let _stubborn = connect(&connector, stubborn, "10", "stubborn").await;
    let _polite = connect(&connector, polite, "20", "polite").await;
    timeout(WATCHDOG, adaptation.wait_for_plugins(2))
        .await
        .unwrap();

    let begun = Instant::now();
    timeout(WATCHDOG, adaptation.stop()).await.unwrap();
    // Both plugins end together: the one that does not answer Shutdown
    // bounds the stop at its request timeout, then each gets its grace.
    at(
        begun.elapsed(),
        DEFAULT_REQUEST_TIMEOUT + Duration::from_secs(3),
    );
    assert_eq!(
        *terminated.lock().unwrap(),
        [Duration::from_secs(3), Duration::from_secs(3)]
    );
}

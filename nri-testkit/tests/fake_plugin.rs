#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scriptable fake plugin on nri-core's stub against our runtime
//! (`Adaptation` with a `FakeDomain`) over the real ttrpc transport on a
//! unix socket: replies, failures, delays, hangs, closes, unsolicited
//! updates and names resolved to ids; a crash over the in-process
//! transport; the process entry point; a script from the runtime's
//! configuration.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nri_core::adaptation::{Adaptation, EventError};
use nri_core::proto::api::{
    ContainerEviction, CreateContainerResponse, KeyValue, StartContainerRequest,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::proto::identity::PluginId;
use nri_core::stub::{Configuration, Plugin, RuntimeClient, Stub, StubError};
use nri_core::transport::Connector;
use nri_core::transport::in_process;
use nri_testkit::conformance::{
    Harness, TtrpcHarness, container, create_request, options, pod, start, state, within,
};
use nri_testkit::domain::FakeDomain;
use nri_testkit::fake_plugin::{self, Answer, Call, Delivery, FakePlugin, Record, Script};
use nri_transport_ttrpc::PluginConnector;
use tokio::task::JoinHandle;

/// A runtime with one fake plugin registered and synchronized.
struct Setup {
    _harness: Option<TtrpcHarness>,
    adaptation: Adaptation,
    runtime: Arc<FakeDomain>,
    fake: FakePlugin,
    run: JoinHandle<Result<(), StubError>>,
}

impl Setup {
    /// Sends CreateContainer of `container(i, 0)` in `pod(0)`, under the
    /// watchdog.
    async fn create(&self, i: usize) -> Result<CreateContainerResponse, EventError> {
        within(
            "CreateContainer",
            self.adaptation
                .create_container(create_request(&pod(0), &container(i, 0))),
        )
        .await
    }
}

/// Starts a runtime over ttrpc with this request timeout and connects a
/// fake plugin following `script`.
async fn ttrpc(script: &str, request_timeout: Duration) -> Setup {
    let harness = TtrpcHarness::new().unwrap();
    let connector = Arc::new(PluginConnector::dial(harness.socket()));
    let mut setup = setup(&harness, connector, script, request_timeout).await;
    setup._harness = Some(harness);
    setup
}

async fn setup(
    harness: &dyn Harness,
    connector: Arc<dyn Connector>,
    script: &str,
    request_timeout: Duration,
) -> Setup {
    let runtime = Arc::new(FakeDomain::from_snapshot(state()));
    let options = options().with_timeouts(Duration::from_secs(5), request_timeout);
    let adaptation = start(harness, options, Arc::clone(&runtime)).await;
    let fake = FakePlugin::new(Script::from_yaml(script).unwrap());
    let stub = Stub::builder(fake.clone())
        .index("10")
        .name("fake")
        .build(connector)
        .unwrap();
    fake.attach(stub.stopper());
    let run = tokio::spawn(async move { stub.run().await });
    within("registered", adaptation.wait_for_plugins(1)).await;
    within("synchronized", fake.wait_until(answered(Call::Synchronize))).await;
    Setup {
        _harness: None,
        adaptation,
        runtime,
        fake,
        run,
    }
}

/// Whether a call of `call` was answered (or given up on) by the plugin.
fn answered(call: Call) -> impl FnMut(&[Record]) -> bool {
    move |records| {
        records
            .iter()
            .any(|r| r.call == call && r.answer != Answer::Pending)
    }
}

fn last(fake: &FakePlugin, call: Call) -> Record {
    let records = fake.records();
    records
        .into_iter()
        .rev()
        .find(|r| r.call == call)
        .unwrap_or_else(|| panic!("no {call} recorded"))
}

fn start_request() -> StartContainerRequest {
    StartContainerRequest {
        pod: Some(pod(0)),
        container: Some(container(0, 0)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_adjustment_reaches_the_merged_result() {
    let setup = ttrpc(
        r#"
CreateContainer:
  - container: ctr0
    adjust:
      env: [{key: FAKE, value: "yes"}]
      annotations: {fake.nri-rs.dev/by: fake}
"#,
        Duration::from_secs(2),
    )
    .await;
    let reply = setup.create(0).await.unwrap();
    let adjust = reply.adjust.unwrap();
    assert!(
        adjust.env.contains(&KeyValue {
            key: "FAKE".into(),
            value: "yes".into()
        }),
        "{adjust:?}"
    );
    assert_eq!(
        adjust
            .annotations
            .get("fake.nri-rs.dev/by")
            .map(String::as_str),
        Some("fake")
    );
    let record = last(&setup.fake, Call::CreateContainer);
    assert_eq!(record.step, Some(0));
    assert_eq!(record.pod.unwrap().name, "pod0");
    assert_eq!(record.container.unwrap().id, "ctr0");
    assert!(matches!(record.answer, Answer::Replied(a) if a.adjust.is_some()));

    // Another container: no step applies, the reply is empty.
    let reply = setup.create(2).await.unwrap();
    assert!(
        reply.adjust.as_ref().is_none_or(|a| a.env.is_empty()),
        "{reply:?}"
    );
    assert_eq!(last(&setup.fake, Call::CreateContainer).step, None);
    setup.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_error_fails_the_event_the_times_it_says() {
    let setup = ttrpc(
        "CreateContainer: [{times: 1, fail: scripted refusal}]",
        Duration::from_secs(2),
    )
    .await;
    let request = create_request(&pod(0), &container(0, 0));
    let error = within(
        "CreateContainer",
        setup.adaptation.create_container(request.clone()),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("scripted refusal"), "{error}");
    assert_eq!(
        last(&setup.fake, Call::CreateContainer).answer,
        Answer::Failed("scripted refusal".into())
    );
    // The step is used up: the next creation succeeds.
    within(
        "CreateContainer",
        setup.adaptation.create_container(request),
    )
    .await
    .unwrap();
    assert_eq!(setup.adaptation.plugins().len(), 1);
    setup.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_rejects_with_the_scripted_reason() {
    let setup = ttrpc(
        "ValidateContainerAdjustment: [{container: ctr0, fail: not on this node}]",
        Duration::from_secs(2),
    )
    .await;
    let error = setup.create(0).await.unwrap_err().to_string();
    assert!(
        error.contains("rejected") && error.contains("not on this node"),
        "{error}"
    );
    setup.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_reply_arrives_after_the_delay() {
    let setup = ttrpc(
        "CreateContainer: [{delay: 150ms, adjust: {annotations: {late: 'yes'}}}]",
        Duration::from_secs(2),
    )
    .await;
    let started = Instant::now();
    let reply = setup.create(0).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(
        reply
            .adjust
            .unwrap()
            .annotations
            .get("late")
            .map(String::as_str),
        Some("yes")
    );
    setup.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_plugin_is_removed_at_the_request_timeout() {
    let setup = ttrpc("StartContainer: [{hang: true}]", Duration::from_millis(300)).await;
    let started = Instant::now();
    within(
        "StartContainer",
        setup.adaptation.start_container(start_request()),
    )
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(setup.adaptation.plugins().is_empty());
    assert_eq!(last(&setup.fake, Call::StartContainer).answer, Answer::Hung);
    let ended = within("the stub ends", setup.run).await.unwrap();
    assert!(
        matches!(ended, Err(StubError::ConnectionLost(_))),
        "{ended:?}"
    );
    setup.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_plugin_is_removed() {
    let setup = ttrpc("StartContainer: [{close: true}]", Duration::from_secs(2)).await;
    let started = Instant::now();
    within(
        "StartContainer",
        setup.adaptation.start_container(start_request()),
    )
    .await
    .unwrap();
    // Removed for the closed connection, not at the request timeout.
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(setup.adaptation.plugins().is_empty());
    assert_eq!(
        last(&setup.fake, Call::StartContainer).answer,
        Answer::Closed
    );
    within("the stub ends", setup.run).await.unwrap().unwrap();
    setup.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsolicited_update_later_reaches_the_runtime() {
    let setup = ttrpc(
        r#"
CreateContainer:
  - update_later:
      after: 50ms
      update: [{container: ctr1, linux: {resources: {cpu: {shares: {value: 512}}}}}]
      evict: [{container: ctr0, reason: evicted later}]
"#,
        Duration::from_secs(2),
    )
    .await;
    let reply = setup.create(2).await.unwrap();
    assert!(
        reply.update.is_empty() && reply.evict.is_empty(),
        "{reply:?}"
    );
    let records = within(
        "UpdateContainers",
        setup.fake.wait_until(|records| {
            records
                .iter()
                .any(|r| matches!(r.later, Some(Delivery::Sent { .. } | Delivery::Failed(_))))
        }),
    )
    .await;
    let later = records.iter().find_map(|r| r.later.clone()).unwrap();
    assert!(
        matches!(&later, Delivery::Sent { failed, .. } if failed.is_empty()),
        "{later:?}"
    );
    let updates = setup.runtime.updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].container_id, "ctr1");
    assert_eq!(
        setup.runtime.evictions(),
        [ContainerEviction {
            container_id: "ctr0".into(),
            reason: "evicted later".into()
        }]
    );
    setup.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eviction_names_its_container_and_an_unknown_name_fails() {
    let setup = ttrpc(
        r#"
CreateContainer:
  - container: ctr0
    evict: [{container: ctr1, reason: make room}]
  - evict: [{container: ghost, reason: boo}]
"#,
        Duration::from_secs(2),
    )
    .await;
    let reply = setup.create(0).await.unwrap();
    // ctr1 is known from Synchronize only.
    assert_eq!(
        reply.evict,
        [ContainerEviction {
            container_id: "ctr1".into(),
            reason: "make room".into()
        }]
    );
    let error = setup.create(2).await.unwrap_err().to_string();
    assert!(
        error.contains("\"ghost\"") && error.contains("has not seen"),
        "{error}"
    );
    setup.adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_crash_closes_the_connection() {
    let (transport, connector) = in_process::transport();
    struct InProcess(Arc<in_process::InProcessTransport>);
    #[async_trait::async_trait]
    impl Harness for InProcess {
        fn name(&self) -> &str {
            "in-process"
        }
        fn transport(&self) -> Arc<dyn nri_core::transport::Transport> {
            Arc::clone(&self.0) as _
        }
        async fn connect(
            &self,
            _plugin: Arc<dyn nri_core::transport::PluginHandler>,
        ) -> Result<Box<dyn nri_testkit::conformance::PluginEnd>, nri_core::transport::CallError>
        {
            unreachable!("the stub connects by itself")
        }
    }
    let harness = InProcess(Arc::new(transport));
    let setup = setup(
        &harness,
        Arc::new(connector),
        "StartContainer: [{crash: 7}]",
        Duration::from_secs(2),
    )
    .await;
    within(
        "StartContainer",
        setup.adaptation.start_container(start_request()),
    )
    .await
    .unwrap();
    assert!(setup.adaptation.plugins().is_empty());
    assert_eq!(
        last(&setup.fake, Call::StartContainer).answer,
        Answer::Crashed(7)
    );
    within("the stub ends", setup.run).await.unwrap().unwrap();
    setup.adaptation.stop().await;
}

fn configuration(config: &str) -> Configuration {
    Configuration {
        plugin: PluginId::new("10", "fake").unwrap(),
        config: config.into(),
        runtime_name: "test".into(),
        runtime_version: "1".into(),
        runtime_nri_version: Some("v0.12.2".into()),
        registration_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(2),
        runtime: RuntimeClient::default(),
    }
}

#[tokio::test]
async fn the_runtimes_configuration_is_the_script() {
    // Empty: the plugin's own script stays.
    let fake = FakePlugin::new(Script::from_yaml("StartContainer: []").unwrap());
    let events = fake.configure(configuration("")).await.unwrap();
    assert_eq!(events, Some(EventMask::of([Event::StartContainer])));

    // A script replaces it, and its Configure steps apply at once.
    let events = fake
        .configure(configuration("StopContainer: [{fail: x}]"))
        .await
        .unwrap();
    assert_eq!(events, Some(EventMask::of([Event::StopContainer])));
    assert_eq!(fake.script().steps(Call::StopContainer).len(), 1);
    let error = fake
        .configure(configuration("Configure: [{fail: not today}]"))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "not today");

    // A malformed one fails Configure with the parse error.
    let error = fake
        .configure(configuration("CreateContainer: [{fial: x}]"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field `fial`"), "{error}");
    assert!(
        matches!(&last(&fake, Call::Configure).answer, Answer::Failed(m) if m.contains("fial"))
    );

    // No script at all: record every event.
    let fake = FakePlugin::default();
    assert_eq!(
        fake.configure(configuration("")).await.unwrap(),
        Some(EventMask::ALL)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_entry_point_runs_a_script_file() {
    let harness = TtrpcHarness::new().unwrap();
    let runtime = Arc::new(FakeDomain::from_snapshot(state()));
    let adaptation = start(&harness, options(), Arc::clone(&runtime)).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.yaml");
    std::fs::write(
        &script,
        "CreateContainer: [{adjust: {annotations: {from: process}}}]\n\
         StartContainer: [{close: true}]\n",
    )
    .unwrap();
    let args: Vec<OsString> = vec![
        "10-fake".into(),
        "--idx".into(),
        "10".into(),
        "--name".into(),
        "fake".into(),
        "--socket-path".into(),
        harness.socket().into(),
        "--script".into(),
        script.into(),
    ];
    let process = tokio::task::spawn_blocking(move || fake_plugin::main(args));
    within("registered", adaptation.wait_for_plugins(1)).await;
    assert_eq!(adaptation.plugins()[0].id.to_string(), "10-fake");
    let reply = within(
        "CreateContainer",
        adaptation.create_container(create_request(&pod(0), &container(0, 0))),
    )
    .await
    .unwrap();
    assert_eq!(
        reply
            .adjust
            .unwrap()
            .annotations
            .get("from")
            .map(String::as_str),
        Some("process")
    );
    within(
        "StartContainer",
        adaptation.start_container(start_request()),
    )
    .await
    .unwrap();
    let code = within("the process ends", process).await.unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert!(adaptation.plugins().is_empty());
    adaptation.stop().await;
}

#[test]
fn the_process_entry_point_refuses_a_bad_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.yaml");
    std::fs::write(&script, "CreateContainer: [{fial: x}]").unwrap();
    let code = fake_plugin::main(vec!["10-fake".into(), "--script".into(), script.into()]);
    assert_eq!(code, std::process::ExitCode::FAILURE);
    let code = fake_plugin::main(vec!["10-fake".into(), "--no-such-flag".into()]);
    assert_eq!(code, std::process::ExitCode::from(2));
}

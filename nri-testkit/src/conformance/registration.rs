//! Construction (§5.3 A1–A3) and registration, configuration and
//! synchronization (§5.4 R1–R8).
//!
//! A4 and A5 (`New` with a nil `SyncFn` / `UpdateFn` fails) cannot be
//! written in Rust: [`Adaptation::new`](nri_core::adaptation::Adaptation::new)
//! takes an `Arc<dyn RuntimeBackend>`, which cannot be null, so the
//! adaptation cannot exist without both callbacks.

use std::sync::Arc;
use std::time::Duration;

use nri_core::adaptation::{Adaptation, Options};
use nri_core::proto::api::{ConfigureRequest, SynchronizeRequest};
use nri_core::proto::defaults::NRI_VERSION;
use nri_core::proto::event::EventMask;
use nri_core::transport::{CallError, Method, PluginRequest};

use super::fixture::{connect, options, register, start, state, within};
use super::harness::Harness;
use super::plugin::{Behaviour, ScriptedPlugin};
use crate::domain::FakeDomain;

/// How long a plugin may take from connecting to being synchronized (A2)
/// and from a failed synchronization to being disconnected (R4).
const TWO_SECONDS: Duration = Duration::from_secs(2);

/// §5.3: A1, A2, A3.
pub async fn construction(h: &dyn Harness) {
    a1_starts_with_default_options(h).await;
    a2_plugin_synchronizes_within_two_seconds(h).await;
    a3_no_transport_admits_no_plugin(h).await;
}

/// §5.4: R1–R8.
pub async fn registration(h: &dyn Harness) {
    r1_plugin_names_are_validated(h).await;
    r2_r3_r5_r6_configure_and_synchronize(h).await;
    r4_failed_synchronization_disconnects(h).await;
    r7_timeouts_are_per_adaptation(h).await;
    r8_nri_version_reaches_the_plugin(h).await;
}

fn runtime() -> Arc<FakeDomain> {
    Arc::new(FakeDomain::from_snapshot(state()))
}

/// A1: the adaptation starts with default options and every event
/// succeeds.
pub async fn a1_starts_with_default_options(h: &dyn Harness) {
    let adaptation = start(h, options(), runtime()).await;
    super::fixture::drive(&adaptation).await;
    assert!(adaptation.plugins().is_empty());
    within("stop", adaptation.stop()).await;
}

/// A2: a plugin connects and is synchronized within 2 s.
pub async fn a2_plugin_synchronizes_within_two_seconds(h: &dyn Harness) {
    let adaptation = start(h, options(), runtime()).await;
    let plugin = connect(h, ScriptedPlugin::new("00", "a2", EventMask::NONE)).await;
    register(&plugin).await.expect_registered(h);
    let joined = tokio::time::timeout(TWO_SECONDS, adaptation.wait_for_plugins(1)).await;
    assert!(joined.is_ok(), "{}: not synchronized within 2 s", h.name());
    assert_eq!(
        plugin.plugin.calls(),
        [Method::Configure, Method::Synchronize]
    );
    within("stop", adaptation.stop()).await;
}

/// A3: an adaptation without transports (upstream's
/// `WithDisabledExternalConnections`) admits no plugin: connecting or
/// registering fails.
pub async fn a3_no_transport_admits_no_plugin(h: &dyn Harness) {
    let adaptation = Adaptation::new(options(), runtime());
    within("start", adaptation.start(Vec::new()))
        .await
        .unwrap_or_else(|error| panic!("start without transports: {error}"));
    let plugin = Arc::new(ScriptedPlugin::new("00", "a3", EventMask::NONE));
    if let Ok(end) = h.connect(plugin).await {
        let registered = end
            .call(
                nri_core::transport::RuntimeRequest::RegisterPlugin(Default::default()),
                Duration::from_millis(300),
            )
            .await;
        assert!(
            registered.is_err(),
            "{}: registered without a transport",
            h.name()
        );
        end.disconnect().await;
    }
    assert!(adaptation.plugins().is_empty());
    within("stop", adaptation.stop()).await;
}

/// R1: `abcd-0123+EFGH_4567.ijkl` (05) registers, `foo,bar` (10) is refused
/// and disconnected.
pub async fn r1_plugin_names_are_validated(h: &dyn Harness) {
    let adaptation = start(h, options(), runtime()).await;
    let good = connect(
        h,
        ScriptedPlugin::new("05", "abcd-0123+EFGH_4567.ijkl", EventMask::NONE),
    )
    .await;
    let bad = connect(h, ScriptedPlugin::new("10", "foo,bar", EventMask::NONE)).await;
    register(&good).await.expect_registered(h);
    assert!(
        register(&bad).await.is_err(),
        "{}: foo,bar registered",
        h.name()
    );
    within("refused plugin disconnected", bad.end.closed()).await;
    within("registration", adaptation.wait_for_plugins(1)).await;
    let labels: Vec<String> = adaptation
        .plugins()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(labels, ["05-abcd-0123+EFGH_4567.ijkl"]);
    assert!(bad.plugin.calls().is_empty(), "a refused plugin got calls");
    within("stop", adaptation.stop()).await;
}

/// Connects one plugin to an adaptation with `options` and returns its
/// Configure and Synchronize requests, which must be all it received.
async fn handshake(h: &dyn Harness, options: Options) -> (ConfigureRequest, SynchronizeRequest) {
    let adaptation = start(h, options, runtime()).await;
    let plugin = connect(h, ScriptedPlugin::new("00", "handshake", EventMask::NONE)).await;
    register(&plugin).await.expect_registered(h);
    within("registration", adaptation.wait_for_plugins(1)).await;
    within("stop", adaptation.stop()).await;
    let mut received = plugin.plugin.take().into_iter();
    let configure = match received.next() {
        Some(PluginRequest::Configure(request)) => *request,
        other => panic!("{}: expected Configure first, got {other:?}", h.name()),
    };
    let synchronize = match received.next() {
        Some(PluginRequest::Synchronize(request)) => *request,
        other => panic!("{}: expected Synchronize second, got {other:?}", h.name()),
    };
    let rest: Vec<Method> = received.map(|r| r.method()).collect();
    assert!(
        rest.iter().all(|m| *m == Method::Shutdown),
        "{}: unexpected calls during the handshake: {rest:?}",
        h.name()
    );
    (configure, synchronize)
}

/// R2, R3, R5, R6: the plugin receives Configure (runtime name and version,
/// default timeouts 5 s / 2 s in ms, the NRI version), then Synchronize
/// with exactly the runtime's pods and containers.
pub async fn r2_r3_r5_r6_configure_and_synchronize(h: &dyn Harness) {
    let (configure, synchronize) = handshake(h, options()).await;
    assert_eq!(configure.runtime_name, "conformance-runtime");
    assert_eq!(configure.runtime_version, "1.2.3");
    assert_eq!(configure.nri_version, NRI_VERSION);
    assert_eq!(configure.config, "", "external plugins get no config");
    assert_eq!(
        (configure.registration_timeout, configure.request_timeout),
        (5000, 2000)
    );
    let expected = state();
    assert_eq!(synchronize.pods, expected.pods);
    assert_eq!(synchronize.containers, expected.containers);
    assert!(!synchronize.more);
}

/// R4: when the runtime cannot list its state, or the plugin fails
/// Synchronize, the plugin is disconnected within 2 s and not listed.
pub async fn r4_failed_synchronization_disconnects(h: &dyn Harness) {
    let broken = runtime();
    broken.fail_listing(Some("listing failed"));
    let failing = ScriptedPlugin::new("00", "r4-sync", EventMask::NONE)
        .on(Method::Synchronize, Behaviour::Fail("cannot sync".into()));
    for (runtime, plugin) in [
        (
            broken,
            ScriptedPlugin::new("00", "r4-list", EventMask::NONE),
        ),
        (runtime(), failing),
    ] {
        let adaptation = start(h, options(), runtime).await;
        let plugin = connect(h, plugin).await;
        // Registration itself succeeds; the failure comes after Configure.
        // The connection may close before the plugin reads the answer.
        match register(&plugin).await {
            Ok(_) | Err(CallError::Closed { .. }) => {}
            Err(error) => panic!("{}: registration refused: {error}", h.name()),
        }
        let closed = tokio::time::timeout(TWO_SECONDS, plugin.end.closed()).await;
        assert!(
            closed.is_ok(),
            "{}: {} not disconnected",
            h.name(),
            plugin.plugin.label()
        );
        assert!(adaptation.plugins().is_empty());
        within("stop", adaptation.stop()).await;
    }
}

/// R7: timeouts are the adaptation's own: 5005 ms / 2007 ms reach the
/// plugin exactly, and the next adaptation's defaults are untouched.
pub async fn r7_timeouts_are_per_adaptation(h: &dyn Harness) {
    let custom = options().with_timeouts(Duration::from_millis(5005), Duration::from_millis(2007));
    let (configure, _) = handshake(h, custom).await;
    assert_eq!(
        (configure.registration_timeout, configure.request_timeout),
        (5005, 2007)
    );
    let (configure, _) = handshake(h, options()).await;
    assert_eq!(
        (configure.registration_timeout, configure.request_timeout),
        (5000, 2000)
    );
}

/// R8: the runtime's NRI version (here `v9.8.7`) reaches the plugin.
pub async fn r8_nri_version_reaches_the_plugin(h: &dyn Harness) {
    let mut versioned = options();
    versioned.nri_version = "v9.8.7".into();
    let (configure, _) = handshake(h, versioned).await;
    assert_eq!(configure.nri_version, "v9.8.7");
}

/// Fails the scenario on a refused registration.
trait ExpectRegistered {
    fn expect_registered(self, h: &dyn Harness);
}

impl<T, E: std::fmt::Display> ExpectRegistered for Result<T, E> {
    fn expect_registered(self, h: &dyn Harness) {
        if let Err(error) = self {
            panic!("{}: registration refused: {error}", h.name());
        }
    }
}

//! The hostile-peer suite: what anyone who can reach a runtime's socket may
//! try, run against a real runtime (an `Adaptation` on a real transport,
//! over real unix sockets) for every transport, the way
//! [`conformance_suite!`](crate::conformance_suite) runs the conformance
//! scenarios. [`hostile_suite!`](crate::hostile_suite) writes the tests.
//!
//! Every case checks three things:
//! - the runtime survives (no panic, its event loop keeps serving);
//! - its memory stays bounded: the process's peak resident memory grows by
//!   less than [`MEMORY_BOUND_KIB`] during the attack, whatever the
//!   attack's size (each attack sends several times that);
//! - afterwards a real plugin registers and is served (a CreateContainer
//!   reaches it and its adjustment comes back).
//!
//! The cases measure this process's memory, so they run one at a time
//! ([`serial`]); attackers write from one fixed buffer, so what grows is
//! the runtime's.

pub mod attacks;
pub mod raw_ttrpc;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nri_core::adaptation::Options;
use nri_core::proto::api::{ContainerAdjustment, CreateContainerResponse, KeyValue};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{Method, PluginResponse};

use crate::conformance::{
    Behaviour, GrpcHarness, Harness, Running, ScriptedPlugin, TtrpcHarness, container,
    create_request, pod, start_with, within,
};

/// How much the process's peak resident memory may grow during an attack.
pub const MEMORY_BOUND_KIB: u64 = 32 << 10;

/// The registration timeout of the runtime under attack.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(1);

/// How many connections may wait to register at once.
pub const MAX_UNREGISTERED: usize = 16;

/// How much each flood sends at most (it stops earlier when the runtime
/// closes the connection).
pub const FLOOD_BYTES: usize = 256 << 20;

/// What wire a target speaks, which decides what an attacker sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The upstream protocol: ttrpc over the NRI multiplexer.
    Ttrpc,
    /// gRPC: HTTP/2.
    Grpc,
}

/// A runtime's socket under attack.
pub trait Target: Harness {
    /// The socket attackers connect to.
    fn socket(&self) -> PathBuf;

    /// What the socket speaks.
    fn wire(&self) -> Wire;
}

impl Target for TtrpcHarness {
    fn socket(&self) -> PathBuf {
        TtrpcHarness::socket(self).to_path_buf()
    }

    fn wire(&self) -> Wire {
        Wire::Ttrpc
    }
}

impl Target for GrpcHarness {
    fn socket(&self) -> PathBuf {
        self.endpoint()
            .path()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn wire(&self) -> Wire {
        Wire::Grpc
    }
}

/// A ttrpc target with the suite's limits. Must be called inside a tokio
/// runtime.
pub fn ttrpc_target() -> TtrpcHarness {
    TtrpcHarness::configured(|transport| transport.with_max_unregistered(MAX_UNREGISTERED))
        .unwrap_or_else(|error| panic!("cannot listen: {error}"))
}

/// A gRPC target with the suite's limits. Must be called inside a tokio
/// runtime.
pub fn grpc_target() -> GrpcHarness {
    GrpcHarness::configured(|transport| {
        transport
            .with_registration_timeout(REGISTRATION_TIMEOUT)
            .with_max_unregistered(MAX_UNREGISTERED)
    })
    .unwrap_or_else(|error| panic!("cannot listen: {error}"))
}

/// The runtime's options: the suite's registration timeout.
pub fn options() -> Options {
    crate::conformance::options().with_timeouts(REGISTRATION_TIMEOUT, Duration::from_secs(2))
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Held while a case runs: cases measure the process's memory.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This process's resident memory now, and resets its peak to it: the
/// baseline of [`peak_growth`].
pub fn resident_now() -> u64 {
    // Writing 5 resets VmHWM to the current resident size (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    crate::memory::resident(std::process::id())
        .map(|resident| resident.now_kib)
        .unwrap_or_else(|error| panic!("cannot read this process's memory: {error}"))
}

/// The growth of this process's peak resident memory since `baseline`
/// ([`resident_now`]).
pub fn peak_growth(baseline: u64) -> u64 {
    crate::memory::resident(std::process::id())
        .map(|resident| resident.peak_kib.saturating_sub(baseline))
        .unwrap_or_else(|error| panic!("cannot read this process's memory: {error}"))
}

/// What an attack gets: where to connect, what it speaks, and the
/// adaptation under attack.
#[derive(Debug, Clone)]
pub struct Scene {
    /// The socket attackers connect to.
    pub socket: PathBuf,
    /// What it speaks.
    pub wire: Wire,
    /// The runtime's adaptation.
    pub adaptation: nri_core::adaptation::Adaptation,
}

/// Runs `attack` against a runtime on `target` and checks the three
/// things every case checks. What the attack returns is kept until the
/// real plugin has been served (connections that stay open meanwhile).
pub async fn attacked<T, K, F>(target: &T, what: &str, attack: impl FnOnce(Scene) -> F)
where
    T: Target,
    F: std::future::Future<Output = K>,
{
    let mut running = start_with(target, options(), Vec::new()).await;
    let baseline = resident_now();
    let scene = Scene {
        socket: target.socket(),
        wire: target.wire(),
        adaptation: running.adaptation.clone(),
    };
    let kept = attack(scene).await;
    let grown = peak_growth(baseline);
    println!(
        "{} / {what}: peak resident memory grew by {grown} KiB",
        target.name()
    );
    assert!(
        grown < MEMORY_BOUND_KIB,
        "{} / {what}: the peak resident memory grew by {grown} KiB (bound {MEMORY_BOUND_KIB} KiB)",
        target.name()
    );
    still_serves(target, &mut running, what).await;
    drop(kept);
    running.stop().await;
}

/// A real plugin registers and is served.
async fn still_serves(target: &dyn Harness, running: &mut Running, what: &str) {
    let adjust = ContainerAdjustment {
        env: vec![KeyValue {
            key: "SERVED".into(),
            value: "after".into(),
        }],
        ..Default::default()
    };
    let plugin = ScriptedPlugin::new("90", "after", EventMask::of([Event::CreateContainer])).on(
        Method::CreateContainer,
        Behaviour::Reply(PluginResponse::CreateContainer(Box::new(
            CreateContainerResponse {
                adjust: Some(adjust),
                ..Default::default()
            },
        ))),
    );
    running.add(target, plugin).await;
    let (pod, container) = (pod(0), container(0, 0));
    let reply = within(
        "CreateContainer after the attack",
        running
            .adaptation
            .create_container(create_request(&pod, &container)),
    )
    .await
    .unwrap_or_else(|error| {
        panic!(
            "{} / {what}: CreateContainer failed: {error}",
            target.name()
        )
    });
    let served = reply
        .adjust
        .is_some_and(|adjust| adjust.env.iter().any(|kv| kv.key == "SERVED"));
    assert!(
        served,
        "{} / {what}: the plugin's adjustment is missing",
        target.name()
    );
}

/// Writes the hostile-peer suite's tests for a target: one `#[test]` per
/// case, each with a fresh target from `$target` (an expression evaluated
/// in each test inside its runtime, whose value implements
/// [`Target`](crate::hostile::Target)).
///
/// `$harness` is the path of the `nri-harness` binary, whose `nri-echo`
/// role the churn case runs as real plugin processes.
///
/// ```ignore
/// nri_testkit::hostile_suite!(
///     nri_testkit::hostile::ttrpc_target(),
///     env!("CARGO_BIN_EXE_nri-harness"),
/// );
/// ```
#[macro_export]
macro_rules! hostile_suite {
    ($target:expr, $harness:expr $(,)?) => {
        $crate::hostile_suite!(@cases $target;
            flood_before_registering,
            flood_without_reading,
            slow_reader,
            crowd_of_idle_connections,
            random_and_truncated_bytes,
        );

        #[test]
        fn plugin_churn() {
            let _serial = $crate::hostile::serial();
            $crate::conformance::block_on(async {
                let target = $target;
                let harness = std::path::Path::new($harness);
                $crate::hostile::attacks::plugin_churn(&target, harness).await;
            });
        }
    };
    (@cases $target:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let _serial = $crate::hostile::serial();
                $crate::conformance::block_on(async {
                    let target = $target;
                    $crate::hostile::attacks::$case(&target).await;
                });
            }
        )*
    };
}

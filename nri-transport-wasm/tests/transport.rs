//! The transport against real guests: the adjuster, and hostile modules
//! for every way a plugin can crash or fail to load.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Hostile, adjuster_module, adjuster_source, install};
use nri_core::discovery::PluginKind;
use nri_core::proto::api::{
    ConfigureRequest, ContainerAdjustment, CreateContainerRequest, StopContainerRequest,
    ValidateContainerAdjustmentRequest,
};
use nri_core::transport::{self, Accepted, CallError, RuntimeRequest, Transport};
use nri_transport_wasm::{LoadError, WasmOptions, WasmTransport};

const TIMEOUT: Duration = Duration::from_secs(2);

fn wasm() -> WasmTransport {
    WasmTransport::new(WasmOptions::default()).unwrap()
}

async fn load(
    transport: &WasmTransport,
    label: &str,
    bytes: &[u8],
) -> (tempfile::TempDir, Result<Accepted, LoadError>) {
    let dir = tempfile::tempdir().unwrap();
    let plugin = install(dir.path(), label, bytes);
    assert_eq!(plugin.kind, PluginKind::Wasm);
    let loaded = transport.load(&plugin).await;
    (dir, loaded)
}

/// Configures the plugin, as nri-core does first.
async fn configure(accepted: &Accepted, config: &str) -> Result<i32, CallError> {
    let request = ConfigureRequest {
        config: config.into(),
        ..Default::default()
    };
    transport::call(accepted.connection.as_ref(), &request, TIMEOUT)
        .await
        .map(|r| r.events)
}

async fn create(
    accepted: &Accepted,
    timeout: Duration,
) -> Result<Option<ContainerAdjustment>, CallError> {
    transport::call(
        accepted.connection.as_ref(),
        &CreateContainerRequest::default(),
        timeout,
    )
    .await
    .map(|r| r.adjust)
}

/// A crashed plugin: the call failed as a lost connection (or a timeout),
/// later calls fail as closed, and nri-core's stream of its calls ends.
async fn assert_crashed(mut accepted: Accepted, error: CallError, what: &str) {
    assert!(error.is_fatal(), "{what}: {error:?} should be fatal");
    let later = configure(&accepted, "")
        .await
        .expect_err("a crashed plugin is unloaded");
    assert!(
        matches!(later, CallError::Closed { .. }),
        "{what}: {later:?}"
    );
    // The registration was queued; after it the stream ends.
    while let Some(call) = tokio::time::timeout(TIMEOUT, accepted.calls.recv())
        .await
        .expect("the call stream ends")
    {
        assert!(matches!(call.request(), RuntimeRequest::RegisterPlugin(_)));
    }
}

/// Loads a guest whose CreateContainer misbehaves, configures it, and
/// checks that CreateContainer crashes it with a reason that says `why`.
async fn crashes_on_create(
    transport: &WasmTransport,
    label: &str,
    create_body: &'static str,
    why: &str,
) {
    let guest = Hostile {
        create: Some(create_body),
        ..Default::default()
    };
    let (_dir, loaded) = load(transport, label, &guest.module()).await;
    let accepted = loaded.unwrap();
    configure(&accepted, "").await.unwrap();
    let error = create(&accepted, TIMEOUT).await.expect_err(label);
    let CallError::Closed {
        reason: nri_core::transport::CloseReason::Failed(reason),
    } = &error
    else {
        panic!("{label}: {error:?}")
    };
    assert!(reason.contains(why), "{label}: {reason}");
    assert!(
        reason.contains("plugin_create_container") || why == "env.log",
        "{reason}"
    );
    assert_crashed(accepted, error, label).await;
}

#[test]
fn the_committed_adjuster_is_built_from_its_source() {
    let built = wat::parse_file(adjuster_source()).unwrap();
    if std::env::var_os("NRI_WASM_REBUILD").is_some() {
        std::fs::write(adjuster_module(), &built).unwrap();
    }
    let committed = std::fs::read(adjuster_module()).unwrap();
    assert!(
        committed == built,
        "guests/adjuster.wasm is stale: run guests/rebuild.sh"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_adjuster_registers_under_its_file_name_adjusts_and_validates() {
    let transport = wasm();
    let bytes = std::fs::read(adjuster_module()).unwrap();
    let (_dir, loaded) = load(&transport, "30-adjuster", &bytes).await;
    let mut accepted = loaded.expect("the adjuster loads");
    let registration = accepted
        .calls
        .recv()
        .await
        .expect("a synthesised registration");
    let RuntimeRequest::RegisterPlugin(request) = registration.request() else {
        panic!("not a registration: {registration:?}");
    };
    assert_eq!(
        (request.plugin_idx.as_str(), request.plugin_name.as_str()),
        ("30", "adjuster")
    );

    assert_eq!(configure(&accepted, "").await.unwrap(), 0x6af);
    assert_eq!(
        configure(&accepted, "validate: true").await.unwrap(),
        0x26af
    );

    let adjust = create(&accepted, TIMEOUT)
        .await
        .unwrap()
        .expect("an adjustment");
    assert_eq!(
        adjust.annotations.get("adjusted-by").map(String::as_str),
        Some("wasm")
    );
    assert_eq!(adjust.env.len(), 1);
    assert_eq!(
        (adjust.env[0].key.as_str(), adjust.env[0].value.as_str()),
        ("NRI_WASM", "adjusted")
    );

    let mut validate = ValidateContainerAdjustmentRequest::default();
    let verdict = transport::call(accepted.connection.as_ref(), &validate, TIMEOUT)
        .await
        .unwrap();
    assert!(!verdict.reject);
    validate.adjust = Some(ContainerAdjustment {
        annotations: [("team".to_string(), "wasm-deny".to_string())].into(),
        ..Default::default()
    });
    let verdict = transport::call(accepted.connection.as_ref(), &validate, TIMEOUT)
        .await
        .unwrap();
    assert!(verdict.reject);
    assert_eq!(verdict.reason, "denied by the WASM validator");

    // Many calls: requests are freed, the heap does not creep.
    for _ in 0..2000 {
        create(&accepted, TIMEOUT).await.unwrap();
    }
    let stop = transport::call(
        accepted.connection.as_ref(),
        &StopContainerRequest::default(),
        TIMEOUT,
    )
    .await;
    assert!(stop.unwrap().update.is_empty());
    accepted.connection.close().await;
    let closed = configure(&accepted, "").await.expect_err("closed");
    assert!(matches!(closed, CallError::Closed { .. }), "{closed:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn only_wasm_modules_are_launched() {
    let transport = wasm();
    assert!(transport.launches(PluginKind::Wasm));
    assert!(!transport.launches(PluginKind::Executable));
    let dir = tempfile::tempdir().unwrap();
    let script = install(dir.path(), "10-script", b"#!/bin/sh\n");
    assert!(matches!(
        transport.launch(&script).await,
        Err(nri_core::transport::LaunchError::Unsupported)
    ));
    assert!(transport.accept().await.is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn an_infinite_loop_times_out_without_stalling_the_runtime() {
    let transport = WasmTransport::new(WasmOptions::default()).unwrap();
    let guest = Hostile {
        create: Some("(loop $forever (br $forever)) (i64.const 0)"),
        ..Default::default()
    };
    let (_dir, loaded) = load(&transport, "10-loop", &guest.module()).await;
    let accepted = loaded.unwrap();
    assert_eq!(configure(&accepted, "").await.unwrap(), 8);

    // A ticker on the same (single) thread keeps running while the guest
    // loops: the guest yields at every epoch tick.
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = {
        let ticks = Arc::clone(&ticks);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let error = create(&accepted, timeout)
        .await
        .expect_err("the loop never returns");
    let took = started.elapsed();
    ticker.abort();
    assert_eq!(error, CallError::Timeout { after: timeout });
    assert!(took >= timeout, "ended early: {took:?}");
    assert!(took < timeout * 3, "ended late: {took:?}");
    // A stalled thread would let the ticker run at most once, after the
    // call; a yielding guest lets it run about once per epoch tick (10 ms),
    // fewer on a loaded machine.
    assert!(
        ticks.load(Ordering::Relaxed) >= 4,
        "the runtime stalled: {} ticks in {took:?}",
        ticks.load(Ordering::Relaxed)
    );
    assert_crashed(accepted, error, "loop").await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_memory_bomb_hits_the_limit_and_crashes() {
    let limit = 4 << 20;
    let transport = WasmTransport::new(WasmOptions::default().with_memory_limit(limit)).unwrap();
    let bomb = "(loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (i64.const 0)";
    crashes_on_create(&transport, "10-bomb", bomb, "trapped").await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_module_that_wants_more_than_the_limit_does_not_load() {
    let transport = WasmTransport::new(WasmOptions::default().with_memory_limit(1 << 20)).unwrap();
    let guest = Hostile {
        pages: Some(32),
        ..Default::default()
    };
    let (_dir, loaded) = load(&transport, "10-big", &guest.module()).await;
    let error = loaded.expect_err("2 MiB of initial memory is over 1 MiB");
    assert!(matches!(error, LoadError::Instantiate(_)), "{error}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_trap_crashes_the_plugin() {
    crashes_on_create(&wasm(), "10-trap", "unreachable", "trapped").await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_lying_size_crashes_the_plugin() {
    // 0x7fff_0000 bytes at 16: far past the one page of memory.
    let liar = "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 0x7fff0000))";
    crashes_on_create(&wasm(), "10-liar", liar, "outside").await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_undecodable_reply_crashes_the_plugin() {
    // Five bytes at 32 that are no CreateContainerResponse.
    let garbage = "(i64.or (i64.shl (i64.const 32) (i64.const 32)) (i64.const 5))";
    crashes_on_create(&wasm(), "10-garbage", garbage, "undecodable").await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_error_string_fails_the_call_and_keeps_the_plugin() {
    let transport = wasm();
    // The two bytes at 16 as an error string (bit 31 of the size).
    let guest = Hostile {
        create: Some("(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 0x80000002))"),
        ..Default::default()
    };
    let (_dir, loaded) = load(&transport, "10-refuses", &guest.module()).await;
    let accepted = loaded.unwrap();
    configure(&accepted, "").await.unwrap();
    let error = create(&accepted, TIMEOUT)
        .await
        .expect_err("an error reply");
    assert!(
        matches!(&error, CallError::Failed { code: 2, message } if message.len() == 2),
        "{error:?}"
    );
    assert_eq!(
        configure(&accepted, "").await.unwrap(),
        8,
        "the plugin stays"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_bad_log_call_crashes_the_plugin() {
    let bad_log = "(drop (call $log (i32.const 0xfff0) (i32.const 0x100))) (i64.const 0)";
    crashes_on_create(&wasm(), "10-badlog", bad_log, "env.log").await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_export_fails_the_load_and_names_it() {
    let transport = wasm();
    for export in [
        "plugin_stop_container",
        "plugin_post_update_pod_sandbox",
        "malloc",
        "free",
        "plugin_api_version",
    ] {
        let guest = Hostile {
            without: Some(export),
            ..Default::default()
        };
        let (_dir, loaded) = load(&transport, "10-partial", &guest.module()).await;
        let error = loaded.expect_err("incomplete");
        assert!(
            matches!(&error, LoadError::MissingExport { export: e, .. } if e == export),
            "{export}: {error}"
        );
        assert!(error.to_string().contains(export), "{error}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_api_version_fails_the_load() {
    let transport = wasm();
    let guest = Hostile {
        api_version: Some(2),
        ..Default::default()
    };
    let (_dir, loaded) = load(&transport, "10-future", &guest.module()).await;
    let error = loaded.expect_err("version 2");
    assert!(
        matches!(error, LoadError::ApiVersion { host: 1, plugin: 2 }),
        "{error}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_looping_or_trapping_initializer_fails_the_load() {
    let options = WasmOptions::default().with_setup_timeout(Duration::from_millis(200));
    let transport = WasmTransport::new(options).unwrap();
    for (label, body) in [("10-spin", "(loop $l (br $l))"), ("20-trap", "unreachable")] {
        let guest = Hostile {
            initialize: Some(body),
            ..Default::default()
        };
        let started = Instant::now();
        let (_dir, loaded) = load(&transport, label, &guest.module()).await;
        let error = loaded.expect_err("a broken _initialize");
        assert!(
            error.to_string().contains("_initialize"),
            "{label}: {error}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{label}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_with_the_magic_fails_the_load() {
    let transport = wasm();
    let mut bytes = nri_core::discovery::WASM_MAGIC.to_vec();
    bytes.extend_from_slice(&[0xff; 64]);
    let (_dir, loaded) = load(&transport, "10-garbage", &bytes).await;
    assert!(matches!(loaded, Err(LoadError::Compile(_))));
}

#[tokio::test(flavor = "current_thread")]
async fn deadlines_hold_after_the_transport_is_dropped() {
    let transport = wasm();
    let guest = Hostile {
        create: Some("(loop $forever (br $forever)) (i64.const 0)"),
        ..Default::default()
    };
    let (_dir, loaded) = load(&transport, "10-orphan", &guest.module()).await;
    let accepted = loaded.unwrap();
    // The adaptation may outlive the transport: the loaded plugin keeps
    // the clock that interrupts it.
    drop(transport);
    configure(&accepted, "").await.unwrap();
    let timeout = Duration::from_millis(200);
    let error = create(&accepted, timeout)
        .await
        .expect_err("the loop never returns");
    assert_eq!(error, CallError::Timeout { after: timeout });
}

#[tokio::test(flavor = "current_thread")]
async fn a_guest_asleep_in_a_host_call_times_out() {
    // CreateContainer sleeps for 60 s in WASI poll_oneoff: a host call,
    // where no epoch check runs; the backstop timer ends the call.
    let guest = Hostile {
        extra: Some(
            "  (import \"wasi_snapshot_preview1\" \"poll_oneoff\" \
             (func $poll (param i32 i32 i32 i32) (result i32)))\n  \
             (data (i32.const 80) \"\\01\\00\\00\\00\\00\\00\\00\\00\\00\\58\\47\\f8\\0d\\00\\00\\00\")\n",
        ),
        // One relative clock subscription (monotonic, 60 s) at 64, its
        // event at 128, the event count at 192.
        create: Some(
            "(drop (call $poll (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 192))) \
             (i64.const 0)",
        ),
        ..Default::default()
    };
    let transport = wasm();
    let (_dir, loaded) = load(&transport, "10-sleeper", &guest.module()).await;
    let accepted = loaded.unwrap();
    configure(&accepted, "").await.unwrap();
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let error = create(&accepted, timeout)
        .await
        .expect_err("the guest sleeps for a minute");
    let took = started.elapsed();
    assert_eq!(error, CallError::Timeout { after: timeout });
    assert!(took >= timeout, "ended early: {took:?}");
    assert!(
        took < Duration::from_secs(30),
        "the sleep ran out: {took:?}"
    );
    assert_crashed(accepted, error, "sleeper").await;
}

/// Loads the adjuster through a transport caching in `cache`, and checks
/// it serves an event.
async fn load_cached(cache: &std::path::Path) -> WasmTransport {
    let transport = WasmTransport::new(WasmOptions::default().with_cache_dir(cache)).unwrap();
    let bytes = std::fs::read(adjuster_module()).unwrap();
    let (_dir, loaded) = load(&transport, "30-adjuster", &bytes).await;
    let accepted = loaded.expect("the adjuster loads");
    configure(&accepted, "").await.unwrap();
    assert!(create(&accepted, TIMEOUT).await.unwrap().is_some());
    transport
}

#[tokio::test(flavor = "current_thread")]
async fn a_cold_load_fills_the_cache_and_a_warm_load_uses_it() {
    use std::os::unix::fs::MetadataExt as _;
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("wasm-cache");
    assert!(wasm().cache_stats().is_none(), "no cache unless asked");

    let cold = load_cached(&cache).await;
    let stats = cold.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (0, 1), "cold: {stats:?}");
    assert_eq!(std::fs::metadata(&cache).unwrap().mode() & 0o7777, 0o700);
    let entries = walk(&cache);
    assert!(
        !entries.is_empty(),
        "the compiled module was not written to {}",
        cache.display()
    );
    drop(cold);

    // A new transport (a new engine, as after a restart) finds it.
    let warm = load_cached(&cache).await;
    let stats = warm.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (1, 0), "warm: {stats:?}");
}

/// The files under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn an_unsafe_cache_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("shared");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let error = WasmTransport::new(WasmOptions::default().with_cache_dir(&cache)).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::Cache(nri_transport_wasm::CacheError::Writable { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("refusing"), "{error}");
}

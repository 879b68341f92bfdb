//! The test-only relay guest (guests/relay.wat): every method reaches the
//! relay with its request and comes back with the relay's reply, an error
//! string fails the call, a failing or silent relay crashes the plugin at
//! the deadline, and the ordinary loader does not link its import.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::install;
use nri_core::discovery::{PluginKind, Preinstalled};
use nri_core::proto::api::{ConfigureRequest, ConfigureResponse};
use nri_core::proto::identity::PluginId;
use nri_core::transport::{
    self, Accepted, CallError, CloseReason, METHODS, Method, PluginRequest, PluginResponse,
};
use nri_transport_wasm::{RELAY_GUEST, TestRelay, WasmOptions, WasmTransport};
use prost::Message as _;

fn relay_source() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/relay.wat")
}

#[test]
fn the_committed_relay_is_built_from_its_source() {
    let built = wat::parse_file(relay_source()).unwrap();
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/relay.wasm");
    if std::env::var_os("NRI_WASM_REBUILD").is_some() {
        std::fs::write(&module, &built).unwrap();
        // RELAY_GUEST is the file as it was when this test was compiled.
        return;
    }
    let committed = std::fs::read(&module).unwrap();
    assert!(
        committed == built && RELAY_GUEST == built.as_slice(),
        "guests/relay.wasm is stale: run guests/rebuild.sh"
    );
}

/// How the relay under test answers.
#[derive(Clone, Copy)]
enum Answer {
    /// Echoes the request's method with its default reply, Configure with
    /// events = the request's size.
    Reply,
    Error,
    Trap,
    Never,
}

struct Recorder {
    answer: Answer,
    seen: Mutex<Vec<(Method, Vec<u8>)>>,
}

#[async_trait::async_trait]
impl TestRelay for Recorder {
    async fn call(
        &self,
        method: Method,
        request: Vec<u8>,
    ) -> Result<Result<Vec<u8>, String>, String> {
        self.seen.lock().unwrap().push((method, request.clone()));
        match self.answer {
            Answer::Reply if method == Method::Configure => Ok(Ok(ConfigureResponse {
                events: request.len() as i32,
            }
            .encode_to_vec())),
            Answer::Reply => {
                let reply = PluginResponse::decode(method, &[][..]).unwrap();
                let mut bytes = Vec::new();
                reply.encode_raw(&mut bytes);
                Ok(Ok(bytes))
            }
            Answer::Error => Ok(Err("refused by the relay".into())),
            Answer::Trap => Err("the relay failed".into()),
            Answer::Never => std::future::pending().await,
        }
    }
}

async fn relay(answer: Answer) -> (WasmTransport, Arc<Recorder>, Accepted) {
    let transport = WasmTransport::new(WasmOptions::default()).unwrap();
    let recorder = Arc::new(Recorder {
        answer,
        seen: Mutex::new(Vec::new()),
    });
    let plugin = Preinstalled {
        id: PluginId::new("10", "relay").unwrap(),
        path: "relay.wasm".into(),
        kind: PluginKind::Wasm,
        config: String::new(),
    };
    let accepted = transport
        .load_test_relay(&plugin, recorder.clone())
        .await
        .unwrap();
    (transport, recorder, accepted)
}

#[tokio::test(flavor = "current_thread")]
async fn every_method_reaches_the_relay_with_its_request() {
    let (_transport, recorder, accepted) = relay(Answer::Reply).await;
    let configure = ConfigureRequest {
        runtime_name: "relay-test".into(),
        ..Default::default()
    };
    let reply = transport::call(
        accepted.connection.as_ref(),
        &configure,
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(reply.events as usize, configure.encoded_len());
    for &method in METHODS {
        let request = PluginRequest::decode(method, &[][..]).unwrap();
        let reply = accepted
            .connection
            .call(request.borrowed(), Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(reply.method(), method);
    }
    let seen = recorder.seen.lock().unwrap();
    assert_eq!(seen[0], (Method::Configure, configure.encode_to_vec()));
    let methods: Vec<Method> = seen[1..].iter().map(|(m, _)| *m).collect();
    assert_eq!(methods, METHODS);
}

#[tokio::test(flavor = "current_thread")]
async fn an_error_string_from_the_relay_fails_the_call_only() {
    let (_transport, _recorder, accepted) = relay(Answer::Error).await;
    let request = PluginRequest::decode(Method::StartContainer, &[][..]).unwrap();
    for _ in 0..2 {
        let error = accepted
            .connection
            .call(request.borrowed(), Duration::from_secs(2))
            .await
            .unwrap_err();
        let CallError::Failed { message, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(message, "refused by the relay");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_relay_traps_the_guest() {
    let (_transport, _recorder, accepted) = relay(Answer::Trap).await;
    let request = PluginRequest::decode(Method::StartContainer, &[][..]).unwrap();
    let error = accepted
        .connection
        .call(request.borrowed(), Duration::from_secs(2))
        .await
        .unwrap_err();
    let CallError::Closed { reason } = &error else {
        panic!("{error:?}")
    };
    assert!(
        matches!(reason, CloseReason::Failed(text) if text.contains("the relay failed")),
        "{reason:?}"
    );
    let later = accepted
        .connection
        .call(request.borrowed(), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(later, CallError::Closed { .. }), "{later:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_silent_relay_times_out_at_the_deadline() {
    let (_transport, _recorder, accepted) = relay(Answer::Never).await;
    let request = PluginRequest::decode(Method::StartContainer, &[][..]).unwrap();
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let error = accepted
        .connection
        .call(request.borrowed(), timeout)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, CallError::Timeout { .. }), "{error:?}");
    assert!(took >= timeout && took < timeout * 2, "{took:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_ordinary_loader_does_not_link_the_test_import() {
    let transport = WasmTransport::new(WasmOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugin = install(dir.path(), "10-relay", RELAY_GUEST);
    let error = transport.load(&plugin).await.unwrap_err();
    assert!(error.to_string().contains("nri_test"), "{error}");
}

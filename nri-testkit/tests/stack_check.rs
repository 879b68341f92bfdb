//! Both RPC stacks carry nri-proto's messages: a ttrpc client and server and
//! a tonic client and server, each on a real unix socket.

// Tests may panic on broken fixtures; the lint is for library code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nri_proto::api::{ConfigureResponse, CreateContainerResponse};
use nri_proto::event::{Event, EventMask};
use nri_testkit::stack_check;
use nri_testkit::stack_check::{ANNOTATION_KEY, ENV_KEY};
use prost::Message;

#[tokio::test]
async fn ttrpc_and_grpc_exchange_the_same_messages() {
    let dir = tempfile::Builder::new()
        .prefix("nri-")
        .tempdir()
        .expect("temp dir");
    let report = stack_check::run(dir.path()).await.expect("exchange runs");

    let methods: Vec<&str> = report.calls.iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        [
            "Configure",
            "Synchronize",
            "CreateContainer",
            "StopContainer"
        ]
    );
    for call in &report.calls {
        assert_eq!(
            call.ttrpc_response, call.grpc_response,
            "{}: both stacks return the same bytes",
            call.method
        );
        assert!(call.same_response, "{}", call.method);
    }
    assert!(report.all_match());

    // The messages really went through: decode what the plugin answered.
    let configure = ConfigureResponse::decode(report.calls[0].ttrpc_response.as_slice())
        .expect("ConfigureResponse");
    assert_eq!(
        EventMask::from_bits(configure.events),
        EventMask::of([Event::CreateContainer, Event::StopContainer])
    );
    let created = CreateContainerResponse::decode(report.calls[2].grpc_response.as_slice())
        .expect("CreateContainerResponse");
    let adjust = created.adjust.expect("an adjustment");
    assert_eq!(adjust.env.len(), 1);
    assert_eq!(
        (adjust.env[0].key.as_str(), adjust.env[0].value.as_str()),
        (ENV_KEY, "sidecar")
    );
    assert_eq!(
        adjust.annotations.get(ANNOTATION_KEY).map(String::as_str),
        Some("web")
    );

    let text = report.to_string();
    assert!(text.contains("identical"), "{text}");
}

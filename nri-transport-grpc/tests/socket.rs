#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The runtime's endpoint: the unix socket rules of `GrpcTransport::listen`
//! (shared with ttrpc) and loopback-only TCP.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use common::{Dir, unix_channel, within};
use nri_core::transport::Transport;
use nri_proto::api::RegisterPluginRequest;
use nri_proto::api::runtime_client::RuntimeClient;
use nri_transport_grpc::{Endpoint, EndpointError, GrpcTransport, ListenError, SocketError};

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
}

/// The runtime answers a RegisterPlugin without metadata, which shows
/// that it is the gRPC `Runtime` service that listens there.
async fn answers_grpc(channel: tonic::transport::Channel) {
    let status = RuntimeClient::new(channel)
        .register_plugin(RegisterPluginRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn a_missing_directory_is_created_with_mode_0700() {
    let dir = Dir::new();
    let path = dir.path("a/b/nri-grpc.sock");
    let transport = GrpcTransport::listen(&path).unwrap();
    for created in [dir.path("a"), dir.path("a/b")] {
        let mode = std::fs::metadata(&created).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{created:?}: {mode:o}");
    }
    assert!(is_socket(&path));
    assert_eq!(transport.endpoint(), &Endpoint::unix(&path));
    within("a call", async {
        answers_grpc(unix_channel(&path).await).await
    })
    .await;
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = Dir::new();
    let path = dir.path("nri-grpc.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(is_socket(&path));
    assert!(
        UnixStream::connect(&path).is_err(),
        "the old socket is live"
    );

    // Binding over the file would fail had it not been removed.
    let _transport = GrpcTransport::listen(&path).unwrap();
    within("a call", async {
        answers_grpc(unix_channel(&path).await).await
    })
    .await;
}

#[tokio::test]
async fn a_regular_file_is_refused_and_left_alone() {
    let dir = Dir::new();
    let path = dir.path("nri-grpc.sock");
    std::fs::write(&path, "precious").unwrap();
    let refused = GrpcTransport::listen(&path);
    assert!(
        matches!(
            refused,
            Err(ListenError::Socket(SocketError::NotASocket(_)))
        ),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[tokio::test]
async fn a_live_socket_is_refused() {
    let dir = Dir::new();
    let path = dir.path("nri-grpc.sock");
    let live = UnixListener::bind(&path).unwrap();
    let refused = GrpcTransport::listen(&path);
    assert!(
        matches!(refused, Err(ListenError::Socket(SocketError::InUse(_)))),
        "{refused:?}"
    );
    // The other server's socket still works.
    let _client = UnixStream::connect(&path).unwrap();
    live.accept().unwrap();
}

#[tokio::test]
async fn shut_down_removes_the_socket_and_stops_accepting() {
    let dir = Dir::new();
    let path = dir.path("nri-grpc.sock");
    let transport = GrpcTransport::listen(&path).unwrap();
    assert!(is_socket(&path));
    transport.shut_down();
    assert!(!path.exists());
    transport.shut_down();
    assert!(
        within("accept after shutdown", transport.accept())
            .await
            .is_none()
    );
}

#[tokio::test]
async fn drop_removes_the_socket() {
    let dir = Dir::new();
    let path = dir.path("nri-grpc.sock");
    let transport = GrpcTransport::listen(&path).unwrap();
    assert!(is_socket(&path));
    drop(transport);
    assert!(!path.exists());
}

#[tokio::test]
async fn shut_down_leaves_a_successors_socket() {
    let dir = Dir::new();
    let path = dir.path("nri-grpc.sock");
    let transport = GrpcTransport::listen(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let successor = UnixListener::bind(&path).unwrap();
    transport.shut_down();
    assert!(is_socket(&path), "the successor's socket was removed");
    let _client = UnixStream::connect(&path).unwrap();
    successor.accept().unwrap();
}

/// A transport on a free loopback TCP port, and the address it got.
async fn listen_on_loopback() -> (GrpcTransport, std::net::SocketAddr) {
    let transport = GrpcTransport::listen_tcp("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let Endpoint::Tcp(address) = transport.endpoint().clone() else {
        panic!("not TCP: {}", transport.endpoint());
    };
    (transport, address)
}

#[tokio::test]
async fn tcp_on_loopback_reports_the_port_it_got() {
    let (_transport, address) = listen_on_loopback().await;
    assert!(address.ip().is_loopback(), "{address}");
    assert_ne!(address.port(), 0);
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap();
    let channel = within("connect", endpoint.connect()).await.unwrap();
    within("a call", answers_grpc(channel)).await;
}

#[tokio::test]
async fn shut_down_closes_the_listener_while_the_transport_lives() {
    let (transport, address) = listen_on_loopback().await;
    transport.shut_down();
    // Connections were queued by the kernel until the listener closed,
    // which happens once its accept loop has seen the shutdown.
    within("the listener's close", async {
        loop {
            match tokio::net::TcpStream::connect(address).await {
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => return,
                // Queued, or reset as the listener closed.
                _ => tokio::task::yield_now().await,
            }
        }
    })
    .await;
    drop(transport);
}

#[tokio::test]
async fn tcp_off_loopback_is_refused() {
    for address in ["10.1.2.3:0", "0.0.0.0:0", "[::]:0"] {
        let refused = GrpcTransport::listen_tcp(address.parse().unwrap()).await;
        assert!(
            matches!(
                refused,
                Err(ListenError::Endpoint(EndpointError::NotLoopback(_)))
            ),
            "{address}: {refused:?}"
        );
    }
}

//! The listening socket's rules, on real sockets in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nri_host::SocketError;
use nri_host::socket::bind;

/// A client reaches `socket` through its path.
async fn assert_serves(socket: &nri_host::ListeningSocket) {
    let (accepted, connected) = tokio::join!(
        socket.listener().accept(),
        tokio::net::UnixStream::connect(socket.path())
    );
    accepted.unwrap();
    connected.unwrap();
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
}

#[tokio::test]
async fn a_missing_directory_is_created_with_mode_0700_and_a_client_connects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/nri.sock");
    let socket = bind(&path).unwrap();
    let mode = std::fs::metadata(dir.path().join("a/b"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(socket.path(), path);
    assert_serves(&socket).await;
}

#[tokio::test]
async fn an_existing_directory_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let _socket = bind(&dir.path().join("nri.sock")).unwrap();
    let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o711);
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nri.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    // Nobody serves on a stale socket.
    assert!(std::os::unix::net::UnixStream::connect(&path).is_err());
    let socket = bind(&path).unwrap();
    assert_serves(&socket).await;
}

#[tokio::test]
async fn a_live_socket_is_refused_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nri.sock");
    let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let refused = bind(&path);
    assert!(matches!(refused, Err(SocketError::InUse(_))), "{refused:?}");
    // The live listener still owns the path.
    std::os::unix::net::UnixStream::connect(&path).unwrap();
    live.accept().unwrap();
}

#[tokio::test]
async fn anything_but_a_socket_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nri.sock");
    std::fs::write(&path, "keep me").unwrap();
    let refused = bind(&path);
    assert!(
        matches!(refused, Err(SocketError::NotASocket(_))),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[tokio::test]
async fn a_socket_of_another_user_is_refused() {
    if !rustix_is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root; this test needs it"
        );
        eprintln!("skipped: changing a socket's owner needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nri.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    std::os::unix::fs::lchown(&path, Some(4321), None).unwrap();
    let refused = bind(&path);
    assert!(
        matches!(refused, Err(SocketError::NotOurs { owner: 4321, .. })),
        "{refused:?}"
    );
    assert!(is_socket(&path));
}

#[tokio::test]
async fn a_path_without_a_directory_is_refused() {
    let refused = bind(Path::new("nri.sock"));
    assert!(
        matches!(refused, Err(SocketError::BadPath(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn remove_file_removes_only_the_socket_it_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nri.sock");
    let first = bind(&path).unwrap();
    first.remove_file();
    assert!(!path.exists());

    // A successor bound the path meanwhile: its socket survives.
    let second = bind(&path).unwrap();
    first.remove_file();
    assert!(is_socket(&path));
    second.remove_file();
    assert!(!path.exists());
}

fn rustix_is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

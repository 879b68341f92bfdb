#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Who can connect to a socket nri-host binds, whatever the umask: the
//! whole file is one test, because it sets the process's umask to 000 (the
//! worst case) and nothing else may run meanwhile. Other users are real:
//! this test binary, run again as another uid and gid, tries to connect.
//! Needs root (as CI runs); elsewhere it checks what it can and says so.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use nri_host::SocketError;
use nri_host::socket::{Access, bind_with};

/// Set in the prober's environment: the socket to try.
const PROBE: &str = "NRI_TEST_PROBE_SOCKET";

/// A user and a group no one else in the test uses.
const NOBODY: u32 = 65534;
const GROUP: u32 = 4321;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// Not a test of its own: run by `access_does_not_depend_on_the_umask` as
/// another user, it connects to the socket and prints the outcome.
#[test]
fn probe() {
    if let Some(socket) = std::env::var_os(PROBE) {
        match std::os::unix::net::UnixStream::connect(socket) {
            Ok(_) => println!("probe: connected"),
            Err(error) => println!("probe: refused: {}", error.kind()),
        }
    }
}

/// Whether the prober, as `uid`/`gid`, could connect to `socket`.
fn connects_as(socket: &Path, uid: u32, gid: u32) -> bool {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "probe", "--nocapture", "--test-threads", "1"])
        .env(PROBE, socket)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("probe: "),
        "the probe did not run: {printed} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed.contains("probe: connected")
}

#[tokio::test]
async fn access_does_not_depend_on_the_umask() {
    rustix::process::umask(rustix::fs::Mode::empty());
    let dir = tempfile::tempdir().unwrap();
    // Other users must reach what is inside (the runtime's own
    // directories below decide).
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();

    // The default: the owner only, in a directory created 0700.
    let owner = dir.path().join("owner/nri/nri.sock");
    let socket = bind_with(&owner, Access::Owner).unwrap();
    assert_eq!(mode(&owner), 0o600);
    assert_eq!(mode(owner.parent().unwrap()), 0o700);

    // A group: 0660 and that group, the directory created 0711.
    let grouped = dir.path().join("group/nri/nri.sock");
    let group_socket = bind_with(&grouped, Access::Group(GROUP)).unwrap();
    assert_eq!(mode(&grouped), 0o660);
    assert_eq!(std::fs::symlink_metadata(&grouped).unwrap().gid(), GROUP);
    assert_eq!(mode(grouped.parent().unwrap()), 0o711);

    // An existing directory others may write to: refused; with the sticky
    // bit: used.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = bind_with(&open.join("nri.sock"), Access::Owner);
    assert!(
        matches!(
            refused,
            Err(SocketError::UnsafeDirectory { mode: 0o777, .. })
        ),
        "{refused:?}"
    );
    assert!(!open.join("nri.sock").exists());
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let sticky = bind_with(&open.join("nri.sock"), Access::Owner).unwrap();
    assert_eq!(mode(&open.join("nri.sock")), 0o600);

    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root; connecting as other users needs it"
        );
        eprintln!("skipped the connections as other users: they need root");
        return;
    }
    // The user the attack used cannot connect to the owner-only socket,
    // even in a directory it may traverse...
    std::fs::set_permissions(
        owner.parent().unwrap(),
        std::fs::Permissions::from_mode(0o711),
    )
    .unwrap();
    assert!(!connects_as(&owner, NOBODY, NOBODY));
    // ...nor to the sticky directory's...
    assert!(!connects_as(&open.join("nri.sock"), NOBODY, NOBODY));
    // ...and reaches the group's socket only as a member of the group.
    assert!(connects_as(&grouped, NOBODY, GROUP));
    assert!(!connects_as(&grouped, NOBODY, NOBODY));
    // The runtime's user (root here) always may.
    assert!(connects_as(&owner, 0, 0));
    drop((socket, group_socket, sticky));
}

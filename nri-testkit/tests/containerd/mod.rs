//! A real containerd (with its CRI plugin) and runc for end-to-end tests:
//! on a temporary root, state and socket, with the test's own images
//! imported; nothing left behind when dropped, even after a failed check.

#![allow(dead_code)] // each test file uses part of it

pub mod calls;
mod cleanup;
mod image;
pub mod node;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nri_cri::cri;
use nri_cri::cri::runtime_service_client::RuntimeServiceClient;
use nri_cri::socket::UnixChannel;

/// The sandbox (pause) image.
pub const PAUSE_IMAGE: &str = "docker.io/nri-e2e/pause:1";
/// The workload image: a static busybox.
pub const BUSYBOX_IMAGE: &str = "docker.io/nri-e2e/busybox:1";

/// The static busybox of Debian's busybox-static.
const BUSYBOX: &str = "/bin/busybox";

/// How long containerd may take to answer CRI after it starts.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// What is missing for the tests to run here, if anything.
pub fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    for binary in [
        "containerd",
        "ctr",
        "runc",
        "containerd-shim-runc-v2",
        "umount",
    ] {
        if which(binary).is_none() {
            missing.push(format!(
                "`{binary}` on PATH (Debian packages containerd and runc)"
            ));
        }
    }
    if !image::is_static_executable(Path::new(BUSYBOX)) {
        missing.push(format!(
            "a static busybox at {BUSYBOX} (Debian package busybox-static)"
        ));
    }
    if !rustix::process::geteuid().is_root() {
        missing.push("root (containerd and runc run containers as root)".into());
    }
    missing
}

/// The executable `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A containerd serving CRI on a socket of its own.
pub struct Containerd {
    root: PathBuf,
    process: Option<Child>,
    /// The directories outside the root that containerd's shims create and
    /// that did not exist before (removed at the end when empty).
    created_outside: Vec<PathBuf>,
    /// The cgroup parent of every pod the tests run (a directory of each
    /// cgroup hierarchy, removed at the end).
    pub cgroup_parent: String,
}

impl Containerd {
    /// Writes the configuration and the images under `root` (created, and
    /// removed with everything under it when dropped), starts containerd,
    /// waits for its CRI service, and imports the images.
    pub async fn start(root: &Path) -> Containerd {
        std::fs::create_dir_all(root).expect("root");
        let root = root.canonicalize().expect("root");
        let created_outside = cleanup::SHIM_DIRS
            .iter()
            .map(PathBuf::from)
            .filter(|dir| !dir.exists())
            .collect();
        let mut containerd = Containerd {
            cgroup_parent: format!("/nri-e2e-{}", std::process::id()),
            root,
            process: None,
            created_outside,
        };
        std::fs::write(containerd.config_path(), containerd.config()).expect("config");
        containerd.launch().await;
        let archive = containerd.root.join("images.tar");
        image::write_archive(Path::new(BUSYBOX), &[PAUSE_IMAGE, BUSYBOX_IMAGE], &archive)
            .expect("image archive");
        let output = tokio::process::Command::new("ctr")
            .arg("--address")
            .arg(containerd.socket())
            .args(["--namespace", "k8s.io", "images", "import"])
            .arg(&archive)
            .output()
            .await
            .expect("ctr");
        assert!(
            output.status.success(),
            "ctr images import: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        containerd
    }

    /// The temporary root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// containerd's socket (CRI and its own API).
    pub fn socket(&self) -> PathBuf {
        self.root.join("containerd.sock")
    }

    /// containerd's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("containerd.log")).unwrap_or_default()
    }

    fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    fn config(&self) -> String {
        let dir = |name: &str| self.root.join(name).display().to_string();
        std::fs::create_dir_all(dir("cni")).expect("cni dir");
        format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}"
    conf_dir = "{cni}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{runc}"
"#,
            root = dir("root"),
            state = dir("state"),
            socket = self.socket().display(),
            opt = dir("opt"),
            pause = PAUSE_IMAGE,
            cni = dir("cni"),
            runc = dir("runc"),
        )
    }

    /// Starts containerd and waits until it answers CRI's Version.
    pub async fn launch(&mut self) {
        assert!(self.process.is_none(), "containerd runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("containerd.log"))
            .expect("log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("containerd");
        self.process = Some(child);
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            let answered = self.client().version(cri::VersionRequest::default()).await;
            if answered.is_ok() {
                return;
            }
            if let Some(status) = self
                .process
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("containerd exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not serve CRI within {START_PATIENCE:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops containerd (SIGTERM, then waits); its shims and containers
    /// keep running, as when containerd restarts on a node.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            cleanup::terminate(&mut child);
        }
    }

    /// A CRI client of containerd itself.
    pub fn client(&self) -> RuntimeServiceClient<UnixChannel> {
        RuntimeServiceClient::new(UnixChannel::new(self.socket()))
    }

    /// The cgroup parent of a pod named `pod`.
    pub fn pod_cgroup(&self, pod: &str) -> String {
        format!("{}/{pod}", self.cgroup_parent)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let leftovers = cleanup::clean_up(
            &self.root,
            self.process.take(),
            &self.cgroup_parent,
            &self.created_outside,
        );
        if !leftovers.is_empty() && !std::thread::panicking() {
            panic!("cleaning up left {leftovers:?}");
        }
    }
}

//! Leaving nothing behind: containerd, its shims and their containers,
//! mounts under the root, shim sockets, the tests' cgroups, the root.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use sha2::{Digest as _, Sha256};

/// Where containerd 1.6 puts its shims' sockets, whatever its state
/// directory (containerd `runtime/v2/shim/util_unix.go`).
const SHIM_SOCKET_DIR: &str = "/run/containerd/s";

/// The directories of [`SHIM_SOCKET_DIR`], deepest first.
pub const SHIM_DIRS: &[&str] = &[SHIM_SOCKET_DIR, "/run/containerd"];

/// What could not be cleaned up.
#[derive(Debug, Default)]
pub struct Leftovers(pub Vec<String>);

impl Leftovers {
    /// Nothing was left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A process of /proc: its id, parent and command line.
struct Process {
    pid: i32,
    ppid: i32,
    args: Vec<String>,
}

fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name is in parentheses and may hold anything.
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split(' ').nth(1)?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some(Process { pid, ppid, args })
        })
        .collect()
}

fn kill(pid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = kill_process(pid, signal);
    }
}

/// SIGTERM, up to 10 seconds to exit, then SIGKILL; reaps the child.
pub fn terminate(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        kill(pid, Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The value after `flag` in a command line.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1).map(String::as_str)
}

/// The socket of the shim started with these arguments (containerd 1.6
/// names it by a hash of its own address, namespace and the shim's id).
fn shim_socket(args: &[String]) -> Option<PathBuf> {
    let address = flag(args, "-address")?;
    let namespace = flag(args, "-namespace")?;
    let id = flag(args, "-id")?;
    let key = format!("{address}/{namespace}/{id}");
    Some(Path::new(SHIM_SOCKET_DIR).join(format!("{:x}", Sha256::digest(key.as_bytes()))))
}

/// Kills every shim serving the containerd under `root` and every process
/// below them (the containers), and removes their sockets.
fn kill_shims(root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    let all = processes();
    let shims: Vec<&Process> = all
        .iter()
        .filter(|p| {
            p.args
                .first()
                .is_some_and(|a| a.contains("containerd-shim"))
                && p.args.iter().any(|a| a.contains(&root))
        })
        .collect();
    let mut doomed: Vec<i32> = shims.iter().map(|p| p.pid).collect();
    let mut at = 0;
    while at < doomed.len() {
        let parent = doomed[at];
        doomed.extend(all.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        at += 1;
    }
    // Children first, so that no shim restarts or reaps in between.
    for pid in doomed.iter().rev() {
        kill(*pid, Signal::KILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && doomed
            .iter()
            .any(|pid| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(*pid))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut left = Vec::new();
    for shim in shims {
        if let Some(socket) = shim_socket(&shim.args) {
            match std::fs::remove_file(&socket) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => left.push(format!("{}: {e}", socket.display())),
            }
        }
    }
    left
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = stat[stat.rfind(')')? + 2..].to_string();
            after.chars().next()
        })
        .is_none_or(|state| state == 'Z')
}

/// Every mount point at or under `root`, deepest first.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = nri_cri::oci::mount_points(&text)
        .map(PathBuf::from)
        .filter(|point| point.starts_with(root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

fn unmount_all(root: &Path) -> Vec<String> {
    for point in mounts_under(root) {
        let _ = std::process::Command::new("umount")
            .arg("--lazy")
            .arg(&point)
            .status();
    }
    mounts_under(root)
        .into_iter()
        .map(|p| format!("mount {}", p.display()))
        .collect()
}

/// Removes the cgroup `parent` (and everything below it) from every
/// hierarchy, deepest first.
fn remove_cgroups(parent: &str) -> Vec<String> {
    let relative = parent.trim_start_matches('/');
    let mut tops = vec![Path::new("/sys/fs/cgroup").join(relative)];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        tops.extend(entries.flatten().map(|e| e.path().join(relative)));
    }
    let mut left = Vec::new();
    for top in tops.into_iter().filter(|t| t.is_dir()) {
        let mut dirs = Vec::new();
        collect_dirs(&top, &mut dirs);
        dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for dir in dirs {
            // A cgroup whose last process just died may take a moment.
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::remove_dir(&dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if dir.exists() {
                left.push(format!("cgroup {}", dir.display()));
            }
        }
    }
    left
}

fn collect_dirs(dir: &Path, into: &mut Vec<PathBuf>) {
    into.push(dir.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), into);
            }
        }
    }
}

/// Stops containerd, kills its shims and containers, unmounts, removes
/// cgroups, the root and the directories of `created_outside` that are
/// empty; returns what remains.
pub fn clean_up(
    root: &Path,
    containerd: Option<Child>,
    cgroup_parent: &str,
    created_outside: &[PathBuf],
) -> Leftovers {
    let mut left = Vec::new();
    if let Some(mut child) = containerd {
        terminate(&mut child);
    }
    left.extend(kill_shims(root));
    left.extend(unmount_all(root));
    left.extend(remove_cgroups(cgroup_parent));
    if let Err(e) = std::fs::remove_dir_all(root)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        left.push(format!("{}: {e}", root.display()));
    }
    for dir in created_outside {
        // Only when empty: a containerd of the host may have started since.
        let _ = std::fs::remove_dir(dir);
    }
    let root_text = root.display().to_string();
    for process in processes() {
        if process.args.iter().any(|a| a.contains(&root_text)) {
            left.push(format!("process {} {:?}", process.pid, process.args));
        }
    }
    Leftovers(left)
}

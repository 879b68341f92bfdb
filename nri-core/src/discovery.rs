//! Finding pre-installed plugins and their configuration on disk
//! (containerd/nri `pkg/adaptation/adaptation.go`, `discoverPlugins`).
//! Filesystem only: launching
//! them is another module's job.
//!
//! Every executable in the plugin directory named `NN-name` is a plugin, in
//! file-name order. Its configuration is `<config_dir>/NN-name.conf`, else
//! `<config_dir>/name.conf`, else empty. A plugin whose first eight bytes are
//! the WebAssembly magic ([`WASM_MAGIC`]) is a [`PluginKind::Wasm`] module, to
//! be loaded into the runtime's process rather than executed, as upstream
//! decides (containerd/nri `pkg/adaptation/plugin.go`, `isWasm`); any other
//! file is a [`PluginKind::Executable`].
//!
//! # Differences from upstream
//!
//! - **One bad plugin does not stop the others.** Upstream fails discovery,
//!   and so the runtime's NRI start, when an executable is not named
//!   `NN-name` or a configuration file cannot be read. Here that plugin is
//!   left out with a `tracing` warning and listed in [`Discovery::skipped`].
//! - **Symlinks are followed.** Upstream judges the link itself (always
//!   "executable"), so a link to a directory or to a non-executable file is
//!   launched and fails later. Here a link counts as its target; a dangling
//!   link is skipped with a reason.
//! - **Configuration is bounded**: a file over [`MAX_CONFIG_LEN`] bytes, or
//!   one that is not UTF-8 (the protocol's `config` is a string), skips the
//!   plugin instead of being read whole.
//!
//! Directories and files without any execute bit are not plugins; they are
//! ignored silently, as upstream does, and not listed in `skipped`.

use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::proto::identity::PluginId;

/// Largest configuration file read for a plugin, in bytes (1 MiB).
pub const MAX_CONFIG_LEN: u64 = 1 << 20;

/// The eight bytes a WebAssembly module starts with: `\0asm` and binary
/// format version 1.
pub const WASM_MAGIC: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// What kind of file a pre-installed plugin is, and so how it is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PluginKind {
    /// A program, run as a child process.
    #[default]
    Executable,
    /// A WebAssembly module (it starts with [`WASM_MAGIC`]), loaded into the
    /// runtime's process by a transport that runs WebAssembly.
    Wasm,
}

impl PluginKind {
    /// The kind of the file at `path`, judged by its first eight bytes. A
    /// file that cannot be read, or is shorter, is an executable (executing
    /// it then reports the problem), as upstream judges it.
    pub fn of_file(path: &Path) -> PluginKind {
        let mut head = [0u8; WASM_MAGIC.len()];
        let read = File::open(path).and_then(|file| file.take(head.len() as u64).read(&mut head));
        match read {
            Ok(n) if n == head.len() && head == WASM_MAGIC => PluginKind::Wasm,
            _ => PluginKind::Executable,
        }
    }
}

/// A pre-installed plugin found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preinstalled {
    /// Index and name, from the file name.
    pub id: PluginId,
    /// The executable or module.
    pub path: PathBuf,
    /// Whether it is executed or loaded as a WebAssembly module.
    pub kind: PluginKind,
    /// Its configuration, passed verbatim in `ConfigureRequest.config`;
    /// empty when it has no configuration file.
    pub config: String,
}

/// An executable that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The executable (or directory entry) left out.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// What [`discover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The plugins to launch, sorted by file name.
    pub plugins: Vec<Preinstalled>,
    /// Executables left out, sorted by file name.
    pub skipped: Vec<Skipped>,
}

/// Why the plugin directory could not be searched.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Reading the plugin directory failed (other than its not existing).
    #[error("cannot read plugin directory {}: {source}", .path.display())]
    ReadDir {
        /// The plugin directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Finds the pre-installed plugins in `plugin_dir` and reads their
/// configuration from `config_dir`. A missing `plugin_dir` means no plugins.
pub fn discover(plugin_dir: &Path, config_dir: &Path) -> Result<Discovery, DiscoveryError> {
    let read_error = |source| DiscoveryError::ReadDir {
        path: plugin_dir.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(plugin_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Discovery::default()),
        Err(e) => return Err(read_error(e)),
    };
    let mut names: Vec<OsString> = entries
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    names.sort();

    let mut found = Discovery::default();
    for file_name in names {
        let path = plugin_dir.join(&file_name);
        match examine(&path, &file_name, config_dir) {
            Ok(Some(plugin)) => found.plugins.push(plugin),
            Ok(None) => tracing::debug!(path = %path.display(), "not a plugin, ignored"),
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "skipping pre-installed plugin");
                found.skipped.push(Skipped { path, reason });
            }
        }
    }
    Ok(found)
}

/// One directory entry: `Ok(None)` if it is not a plugin at all, `Err` with
/// a reason if it is an executable that cannot be used.
fn examine(
    path: &Path,
    file_name: &OsString,
    config_dir: &Path,
) -> Result<Option<Preinstalled>, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot inspect: {e}"))?;
    if meta.is_dir() || !is_executable(&meta) {
        return Ok(None);
    }
    let name = file_name
        .to_str()
        .ok_or_else(|| "file name is not UTF-8".to_string())?;
    let id = PluginId::from_file_name(name).map_err(|e| e.to_string())?;
    let config = read_config(config_dir, &id)?;
    Ok(Some(Preinstalled {
        id,
        path: path.to_path_buf(),
        kind: PluginKind::of_file(path),
        config,
    }))
}

#[cfg(unix)]
fn is_executable(meta: &Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(meta: &Metadata) -> bool {
    meta.is_file()
}

/// The configuration of plugin `id`: the first of `NN-name.conf` and
/// `name.conf` in `config_dir` that exists, or empty.
fn read_config(config_dir: &Path, id: &PluginId) -> Result<String, String> {
    for candidate in [format!("{id}.conf"), format!("{}.conf", id.name())] {
        let path = config_dir.join(candidate);
        let cannot_read = |e: io::Error| format!("cannot read config {}: {e}", path.display());
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(cannot_read(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot_read)?;
        if bytes.len() as u64 > MAX_CONFIG_LEN {
            return Err(format!(
                "config {} is larger than {MAX_CONFIG_LEN} bytes",
                path.display()
            ));
        }
        return String::from_utf8(bytes)
            .map_err(|_| format!("config {} is not UTF-8", path.display()));
    }
    Ok(String::new())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use tempfile::TempDir;

    struct Dirs {
        _root: TempDir,
        plugins: PathBuf,
        conf: PathBuf,
    }

    fn dirs() -> Dirs {
        let root = tempfile::tempdir().expect("tempdir");
        let (plugins, conf) = (root.path().join("plugins"), root.path().join("conf"));
        fs::create_dir(&plugins).expect("mkdir");
        fs::create_dir(&conf).expect("mkdir");
        Dirs {
            _root: root,
            plugins,
            conf,
        }
    }

    fn file(dir: &Path, name: &str, mode: u32, contents: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, contents).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    fn run(d: &Dirs) -> Discovery {
        discover(&d.plugins, &d.conf).expect("discovers")
    }

    fn ids(found: &Discovery) -> Vec<String> {
        found.plugins.iter().map(|p| p.id.to_string()).collect()
    }

    fn skipped_names(found: &Discovery) -> Vec<String> {
        let name = |s: &Skipped| s.path.file_name().map(|n| n.to_string_lossy().into_owned());
        found.skipped.iter().filter_map(name).collect()
    }

    #[test]
    fn plugins_come_in_file_name_order() {
        let d = dirs();
        for name in ["20-b", "10-a", "05-c", "10-0"] {
            file(&d.plugins, name, 0o755, b"#!/bin/sh\n");
        }
        let found = run(&d);
        assert_eq!(ids(&found), ["05-c", "10-0", "10-a", "20-b"]);
        assert_eq!(found.plugins[0].path, d.plugins.join("05-c"));
        assert!(found.plugins.iter().all(|p| p.config.is_empty()));
        assert!(found.skipped.is_empty());
    }

    #[test]
    fn non_executables_and_directories_are_ignored() {
        let d = dirs();
        file(&d.plugins, "10-data", 0o644, b"");
        file(&d.plugins, "README", 0o600, b"");
        file(&d.plugins, "20-owner-only", 0o100, b"");
        fs::create_dir(d.plugins.join("30-dir")).expect("mkdir");
        let found = run(&d);
        assert_eq!(ids(&found), ["20-owner-only"]);
        assert!(found.skipped.is_empty());
    }

    #[test]
    fn badly_named_executables_are_skipped_not_fatal() {
        let d = dirs();
        for name in ["plugin", "1-short", "xx-name", "10-", "10-good"] {
            file(&d.plugins, name, 0o755, b"");
        }
        let found = run(&d);
        assert_eq!(ids(&found), ["10-good"]);
        assert_eq!(
            skipped_names(&found),
            ["1-short", "10-", "plugin", "xx-name"]
        );
        assert!(
            found.skipped[0].reason.contains("NN-name"),
            "{:?}",
            found.skipped
        );
    }

    #[test]
    fn config_precedence() {
        let d = dirs();
        for name in ["10-both", "20-short", "30-none"] {
            file(&d.plugins, name, 0o755, b"");
        }
        file(&d.conf, "10-both.conf", 0o644, b"full");
        file(&d.conf, "both.conf", 0o644, b"short");
        file(&d.conf, "short.conf", 0o644, b"key: value\n");
        file(&d.conf, "30-other.conf", 0o644, b"not mine");
        let configs: Vec<String> = run(&d).plugins.into_iter().map(|p| p.config).collect();
        assert_eq!(configs, ["full", "key: value\n", ""]);
    }

    #[test]
    fn unreadable_or_oversized_config_skips_that_plugin() {
        let d = dirs();
        for name in ["10-big", "20-dir", "30-binary", "40-fine"] {
            file(&d.plugins, name, 0o755, b"");
        }
        let big = fs::File::create(d.conf.join("big.conf")).expect("create");
        big.set_len(MAX_CONFIG_LEN + 1).expect("truncate");
        fs::create_dir(d.conf.join("20-dir.conf")).expect("mkdir");
        file(&d.conf, "binary.conf", 0o644, &[0xff, 0xfe]);
        let found = run(&d);
        assert_eq!(ids(&found), ["40-fine"]);
        assert_eq!(skipped_names(&found), ["10-big", "20-dir", "30-binary"]);
        assert!(found.skipped[0].reason.contains("larger than"));
        // Exactly the limit is fine.
        let exact = fs::File::create(d.conf.join("big.conf")).expect("create");
        exact.set_len(MAX_CONFIG_LEN).expect("truncate");
        assert_eq!(ids(&run(&d))[0], "10-big");
    }

    #[test]
    fn symlinks_count_as_their_target() {
        let d = dirs();
        let target = file(&d.conf, "real-plugin", 0o755, b"");
        symlink(&target, d.plugins.join("10-link")).expect("symlink");
        symlink(d.conf.join("data.conf"), d.plugins.join("20-to-data")).expect("symlink");
        file(&d.conf, "data.conf", 0o644, b"");
        symlink(&d.conf, d.plugins.join("30-to-dir")).expect("symlink");
        symlink(d.plugins.join("nowhere"), d.plugins.join("40-dangling")).expect("symlink");
        let found = run(&d);
        assert_eq!(ids(&found), ["10-link"]);
        assert_eq!(skipped_names(&found), ["40-dangling"]);
    }

    #[test]
    fn wasm_modules_are_told_apart_by_their_magic() {
        let d = dirs();
        let mut module = WASM_MAGIC.to_vec();
        module.extend_from_slice(b"\x01\x04rest");
        file(&d.plugins, "10-module", 0o755, &module);
        file(&d.plugins, "20-exact", 0o755, &WASM_MAGIC);
        file(&d.plugins, "30-script", 0o755, b"#!/bin/sh\n");
        file(&d.plugins, "40-short", 0o755, &WASM_MAGIC[..7]);
        // Version 2 of the binary format is not what upstream loads.
        file(&d.plugins, "50-version2", 0o755, b"\0asm\x02\0\0\0");
        // Without an execute bit a module is no plugin, as for executables.
        file(&d.plugins, "60-data", 0o644, &module);
        let kinds: Vec<(String, PluginKind)> = run(&d)
            .plugins
            .into_iter()
            .map(|p| (p.id.to_string(), p.kind))
            .collect();
        use PluginKind::{Executable, Wasm};
        let expected = [
            ("10-module", Wasm),
            ("20-exact", Wasm),
            ("30-script", Executable),
            ("40-short", Executable),
            ("50-version2", Executable),
        ];
        let expected: Vec<(String, PluginKind)> =
            expected.iter().map(|(n, k)| (n.to_string(), *k)).collect();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn missing_directory_is_empty_other_errors_are_errors() {
        let d = dirs();
        let missing = discover(&d.plugins.join("absent"), &d.conf).expect("no error");
        assert_eq!(missing, Discovery::default());
        let not_a_dir = file(&d.conf, "plain", 0o644, b"");
        let err = discover(&not_a_dir, &d.conf).expect_err("not a directory");
        assert!(err.to_string().contains("plain"), "{err}");
        // A missing config directory just means no configuration.
        file(&d.plugins, "10-a", 0o755, b"");
        let found = discover(&d.plugins, &d.conf.join("absent")).expect("discovers");
        assert_eq!(ids(&found), ["10-a"]);
    }
}

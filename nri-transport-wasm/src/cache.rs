//! The opt-in on-disk cache of compiled modules: wasmtime's own cache
//! (`wasmtime::Cache`), in a directory this module creates or checks first.
//!
//! A cached artifact is native code the runtime maps and runs without
//! compiling or validating it again, and the runtime usually runs as root:
//! whoever can write the directory can run code in the runtime. So the
//! directory is created with mode 0700 whatever the umask, and one that
//! belongs to another user or that its group or others may write is
//! refused. So is one inside a directory another user could use to swap it
//! for theirs: every directory above it must belong to root or to this
//! process's user, and those that group or others may write must be sticky
//! (as `/tmp` is, where nobody can rename what they do not own).

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use wasmtime::{Cache, CacheConfig};

/// Why the module cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The directory could not be created or inspected.
    #[error("cannot use {} as the WASM module cache: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The path exists and is not a directory.
    #[error("the WASM module cache {} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The directory belongs to another user, who could plant code the
    /// runtime would run.
    #[error(
        "refusing the WASM module cache {}: it belongs to uid {owner}, not to this process's uid {uid}",
        path.display()
    )]
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The process's effective uid.
        uid: u32,
    },
    /// Group or others may write the directory, and so plant code the
    /// runtime would run.
    #[error(
        "refusing the WASM module cache {}: its mode {mode:o} lets group or others write it (use 0700)",
        path.display()
    )]
    Writable {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A directory above the cache belongs to another user, or group or
    /// others may write it without its sticky bit: they could rename the
    /// cache away and put a directory of their own in its place.
    #[error(
        "refusing the WASM module cache {}: the directory above it, {}, {reason}",
        path.display(),
        parent.display()
    )]
    UnsafeParent {
        /// The cache directory.
        path: PathBuf,
        /// The directory above it that is not safe.
        parent: PathBuf,
        /// Why, in words.
        reason: String,
    },
    /// wasmtime refused the cache configuration.
    #[error("cannot set up the WASM module cache in {}: {reason}", path.display())]
    Setup {
        /// The directory.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
    },
}

/// How often the cache served a compiled module, and how often it had to
/// compile one (and then stored it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Modules loaded from the cache.
    pub hits: usize,
    /// Modules compiled because the cache did not have them.
    pub misses: usize,
}

/// Creates `dir` (mode 0700) unless it exists, checks it is safe, and
/// starts wasmtime's cache in it.
pub(crate) fn open(dir: &Path) -> Result<Cache, CacheError> {
    let dir = prepare(dir)?;
    let mut config = CacheConfig::new();
    config.with_directory(&dir);
    Cache::new(config).map_err(|e| CacheError::Setup {
        path: dir,
        reason: format!("{e:#}"),
    })
}

/// The cache directory, created if missing, as a checked canonical path.
fn prepare(dir: &Path) -> Result<PathBuf, CacheError> {
    let io_error = |source| CacheError::Io {
        path: dir.to_path_buf(),
        source,
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        // The umask may have taken bits from 0700 (never added any): set
        // the mode the cache needs exactly.
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_error)?,
        // An existing directory is checked, never changed.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error(e)),
    }
    // Check what the path leads to, past any symbolic link, and hand
    // wasmtime that path.
    let path = std::fs::canonicalize(dir).map_err(io_error)?;
    let metadata = std::fs::metadata(&path).map_err(io_error)?;
    if !metadata.is_dir() {
        return Err(CacheError::NotADirectory { path });
    }
    let uid = rustix::process::geteuid().as_raw();
    if metadata.uid() != uid {
        return Err(CacheError::NotOwned {
            path,
            owner: metadata.uid(),
            uid,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(CacheError::Writable { path, mode });
    }
    for parent in path.ancestors().skip(1) {
        let metadata = std::fs::metadata(parent).map_err(io_error)?;
        let unsafe_parent = |reason: String| CacheError::UnsafeParent {
            path: path.clone(),
            parent: parent.to_path_buf(),
            reason,
        };
        if metadata.uid() != 0 && metadata.uid() != uid {
            return Err(unsafe_parent(format!(
                "belongs to uid {}, neither root nor this process's uid {uid}",
                metadata.uid()
            )));
        }
        let mode = metadata.mode() & 0o7777;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(unsafe_parent(format!(
                "has mode {mode:o}: group or others may write it and it is not sticky"
            )));
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The umask is process-wide: the tests of this module, the only unit
    /// tests that create files, take turns.
    static FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn files() -> std::sync::MutexGuard<'static, ()> {
        FILES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn a_new_directory_is_private_whatever_the_umask() {
        let _files = files();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/b")).unwrap();
        let dir = root.path().join("a/b/cache");
        // A umask that leaves 0700 as 0100 (only search for the owner).
        let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o677));
        let prepared = prepare(&dir);
        rustix::process::umask(old);
        let path = prepared.unwrap();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_directory_others_may_write_is_refused() {
        let _files = files();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = prepare(&dir).unwrap_err();
        assert!(
            matches!(error, CacheError::Writable { mode: 0o777, .. }),
            "{error}"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        assert!(matches!(
            prepare(&dir).unwrap_err(),
            CacheError::Writable { .. }
        ));
        // Readable by others is allowed: nobody else can plant code.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&dir).unwrap();
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let _files = files();
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: only root can give a directory to another user");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        let error = prepare(&dir).unwrap_err();
        assert!(
            matches!(error, CacheError::NotOwned { owner: 65534, .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("belongs to uid 65534"),
            "{error}"
        );
    }

    #[test]
    fn a_directory_above_that_others_may_write_is_refused_unless_sticky() {
        let _files = files();
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        let dir = shared.join("cache");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = prepare(&dir).unwrap_err();
        assert!(
            matches!(&error, CacheError::UnsafeParent { parent, .. } if parent.ends_with("shared")),
            "{error}"
        );
        assert!(error.to_string().contains("not sticky"), "{error}");
        // Sticky, as /tmp is: nobody else can rename the cache away.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        prepare(&dir).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o770)).unwrap();
        assert!(matches!(
            prepare(&dir).unwrap_err(),
            CacheError::UnsafeParent { .. }
        ));
    }

    #[test]
    fn a_directory_above_of_another_user_is_refused() {
        let _files = files();
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root: only root can give a directory to another user"
            );
            eprintln!("skipping: only root can give a directory to another user");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let theirs = root.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        let dir = theirs.join("cache");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
        let error = prepare(&dir).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("belongs to uid 65534, neither root"),
            "{error}"
        );
    }

    #[test]
    fn a_file_is_not_a_cache() {
        let _files = files();
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("cache");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            prepare(&file).unwrap_err(),
            CacheError::NotADirectory { .. }
        ));
    }
}

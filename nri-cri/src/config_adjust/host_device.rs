//! The host's node of a device given by type and numbers: CRI names a
//! device by its host path, NRI by its numbers.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

/// How deep below `/dev` a node is looked for (`/dev/dri/card0`).
const SEARCH_DEPTH: usize = 2;

/// A device's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A character device.
    Char,
    /// A block device.
    Block,
}

impl Kind {
    fn links(self) -> &'static str {
        match self {
            Kind::Char => "/dev/char",
            Kind::Block => "/dev/block",
        }
    }
}

/// The host path of the device: udev's link `/dev/{char,block}/MAJOR:MINOR`
/// when it exists (hosts without udev, such as many containers and small
/// VMs, have none), else a node of that type and numbers in `/dev`, else
/// the link's path (the runtime then reports it missing).
pub(crate) fn path(kind: Kind, major: i64, minor: i64) -> String {
    let link = format!("{}/{major}:{minor}", kind.links());
    if Path::new(&link).exists() {
        return link;
    }
    let (Ok(major), Ok(minor)) = (u32::try_from(major), u32::try_from(minor)) else {
        return link;
    };
    find(Path::new("/dev"), kind, major, minor, SEARCH_DEPTH)
        .map_or(link, |found| found.display().to_string())
}

/// A node under `dir` of this type and numbers, nearest first.
fn find(dir: &Path, kind: Kind, major: u32, minor: u32, depth: usize) -> Option<PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    let mut subdirs = Vec::new();
    for entry in entries {
        let Ok(metadata) = entry.path().symlink_metadata() else {
            continue;
        };
        let file_type = metadata.file_type();
        let matches_kind = match kind {
            Kind::Char => file_type.is_char_device(),
            Kind::Block => file_type.is_block_device(),
        };
        let rdev = metadata.rdev();
        if matches_kind && rustix::fs::major(rdev) == major && rustix::fs::minor(rdev) == minor {
            return Some(entry.path());
        }
        if file_type.is_dir() {
            subdirs.push(entry.path());
        }
    }
    if depth == 0 {
        return None;
    }
    subdirs
        .into_iter()
        .find_map(|sub| find(&sub, kind, major, minor, depth - 1))
}

//! Mount propagation of host paths, from `/proc/self/mountinfo`.

use super::MountPropagation;
use super::path;

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The propagation of the host mount holding `path`.
pub(super) fn propagation_of(path: &str) -> Result<MountPropagation, String> {
    let text = std::fs::read_to_string(MOUNTINFO)
        .map_err(|error| format!("reading {MOUNTINFO}: {error}"))?;
    lookup(&text, path).ok_or_else(|| format!("no mount in {MOUNTINFO} holds {path:?}"))
}

/// Every mount point of mountinfo text (`/proc/self/mountinfo`), in the
/// order listed, with the kernel's escapes undone; malformed lines are
/// skipped.
pub fn mount_points(mountinfo: &str) -> impl Iterator<Item = String> + '_ {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape)
}

/// The propagation of the mount holding `path` in mountinfo text: the mount
/// with the longest mount point containing the cleaned path; of several
/// mounts on that mount point, the last one listed (the one on top).
pub(super) fn lookup(mountinfo: &str, path: &str) -> Option<MountPropagation> {
    let path = path::clean(path);
    let mut best: Option<(usize, MountPropagation)> = None;
    for (mount_point, propagation) in mountinfo.lines().filter_map(parse_line) {
        if !path::is_within(&path, &mount_point) {
            continue;
        }
        let len = mount_point.len();
        if best.is_none_or(|(best_len, _)| len >= best_len) {
            best = Some((len, propagation));
        }
    }
    best.map(|(_, propagation)| propagation)
}

/// The mount point and propagation of one mountinfo line, `None` if the line
/// is malformed. Fields: ID, parent ID, major:minor, root, mount point, mount
/// options, optional fields, `-`, file system type, source, super options.
fn parse_line(line: &str) -> Option<(String, MountPropagation)> {
    let mut fields = line.split(' ');
    let mount_point = fields.nth(4)?;
    fields.next()?; // mount options
    let (mut shared, mut slave) = (false, false);
    let mut terminated = false;
    for field in fields {
        if field == "-" {
            terminated = true;
            break;
        }
        shared |= field.starts_with("shared:");
        slave |= field.starts_with("master:");
    }
    if !terminated {
        return None;
    }
    let propagation = if shared {
        MountPropagation::Shared
    } else if slave {
        MountPropagation::Slave
    } else {
        MountPropagation::Private
    };
    Some((path::clean(&unescape(mount_point)), propagation))
}

/// Undoes the kernel's octal escapes (`\040` for a space) in a mount point.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = bytes
                .get(i + 1..i + 4)
                .filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)))
                .and_then(|digits| {
                    let text = std::str::from_utf8(digits).ok()?;
                    u8::from_str_radix(text, 8).ok()
                })
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MountPropagation::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw
40 22 8:2 / /mnt/data rw,relatime master:7 - ext4 /dev/sdb1 rw
41 40 8:3 / /mnt/data/private rw,relatime - ext4 /dev/sdb2 rw
42 22 8:4 / /mnt/data2 rw shared:9 master:7 - ext4 /dev/sdc1 rw
43 22 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
44 22 0:41 / /stack rw shared:10 - tmpfs tmpfs rw
45 44 0:42 / /stack rw - tmpfs tmpfs rw
garbage line
";

    #[test]
    fn mount_points_are_listed_unescaped() {
        let points: Vec<String> = mount_points(SAMPLE).collect();
        assert_eq!(points.len(), 8, "every line but the malformed one");
        assert!(
            points.contains(&"/mnt/with space".to_string()),
            "{points:?}"
        );
    }

    #[test]
    fn longest_containing_mount_point_wins() {
        let cases = [
            ("/", Some(Shared)),
            ("/usr/lib", Some(Shared)),
            ("/dev/null", Some(Shared)),
            ("/mnt/data", Some(Slave)),
            ("/mnt/data/x/y", Some(Slave)),
            ("/mnt/data/private/z", Some(Private)),
            ("/mnt/data2", Some(Shared)),
            ("/mnt/data/../data2/x", Some(Shared)),
            ("/mnt/with space/x", Some(Private)),
            // The mount on top of /stack is the one listed last.
            ("/stack/x", Some(Private)),
        ];
        for (path, want) in cases {
            assert_eq!(lookup(SAMPLE, path), want, "{path}");
        }
    }

    #[test]
    fn nothing_found_without_a_root_mount() {
        let text = "40 22 8:2 / /mnt/data rw master:7 - ext4 /dev/sdb1 rw\n";
        assert_eq!(lookup(text, "/etc"), None);
        assert_eq!(lookup(text, "/mnt/database"), None);
        assert_eq!(lookup(text, "relative"), None);
    }

    #[test]
    fn unescape_decodes_octal_only() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/a\\134b"), "/a\\b");
        assert_eq!(unescape("/a\\9b"), "/a\\9b");
        assert_eq!(unescape("/a\\"), "/a\\");
    }
}

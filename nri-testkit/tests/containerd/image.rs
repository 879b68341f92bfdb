//! The images of the end-to-end tests, built here: an OCI image layout, as
//! a tar archive `ctr images import` takes, of one layer holding a static
//! busybox and its applets as symbolic links. No registry is needed.

use std::io::Write as _;
use std::path::Path;

use serde_json::json;
use sha2::{Digest as _, Sha256};

/// The applets the tests' containers run.
const APPLETS: &[&str] = &[
    "sh", "env", "cat", "ls", "sleep", "echo", "true", "grep", "mkdir", "kill",
];

/// An image's content, named by its digest.
struct Blob {
    digest: String,
    bytes: Vec<u8>,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
        Blob { digest, bytes }
    }

    fn descriptor(&self, media_type: &str) -> serde_json::Value {
        json!({"mediaType": media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

fn tar_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

/// The root file system: busybox at /bin/busybox, its applets linked to
/// it, and the directories a container needs.
fn layer(busybox: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for dir in [
        "bin", "dev", "etc", "proc", "sys", "tmp", "run", "root", "var",
    ] {
        let mut header = tar_header(tar::EntryType::Directory, 0o755, 0);
        tar.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    }
    let mut header = tar_header(tar::EntryType::Regular, 0o755, busybox.len() as u64);
    tar.append_data(&mut header, "bin/busybox", busybox)?;
    for applet in APPLETS {
        let mut header = tar_header(tar::EntryType::Symlink, 0o777, 0);
        tar.append_link(&mut header, format!("bin/{applet}"), "busybox")?;
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut header = tar_header(tar::EntryType::Regular, 0o644, passwd.len() as u64);
    tar.append_data(&mut header, "etc/passwd", &passwd[..])?;
    tar.into_inner()
}

fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Writes an OCI image-layout archive to `archive` holding one image under
/// every name of `names` (full references, `docker.io/...:tag`), whose
/// default command sleeps (it serves as the pause image too).
pub fn write_archive(busybox: &Path, names: &[&str], archive: &Path) -> std::io::Result<()> {
    let layer = Blob::new(layer(&std::fs::read(busybox)?)?);
    let config = Blob::new(serde_json::to_vec(&json!({
        "architecture": architecture(),
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sleep", "2147483647"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    }))?);
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";
    let manifest = Blob::new(serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config.descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [layer.descriptor("application/vnd.oci.image.layer.v1.tar")],
    }))?);
    let manifests: Vec<_> = names
        .iter()
        .map(|name| {
            let mut descriptor = manifest.descriptor(manifest_type);
            let tag = name.rsplit_once(':').map_or("latest", |(_, tag)| tag);
            descriptor["annotations"] = json!({
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            });
            descriptor
        })
        .collect();
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests}))?;

    let mut tar = tar::Builder::new(std::fs::File::create(archive)?);
    let mut add = |path: &str, bytes: &[u8]| {
        let mut header = tar_header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
        tar.append_data(&mut header, path, bytes)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json", &index)?;
    for blob in [&layer, &config, &manifest] {
        let hex = blob.digest.trim_start_matches("sha256:");
        add(&format!("blobs/sha256/{hex}"), &blob.bytes)?;
    }
    tar.into_inner()?.flush()
}

/// Whether the ELF executable at `path` is static (has no interpreter).
pub fn is_static_executable(path: &Path) -> bool {
    const PT_INTERP: u32 = 3;
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    // 64-bit little-endian ELF only (the architectures the tests run on).
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false;
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        bytes
            .get(at..at + 4)
            .is_some_and(|kind| u32::from_le_bytes(kind.try_into().unwrap()) != PT_INTERP)
    })
}

//! The recorded sessions in `tests/interop/`.

use std::path::{Path, PathBuf};

/// The directory holding the recordings.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// A recorded session: both directions and the decoded transcript.
pub struct Session {
    pub name: String,
    pub plugin_to_runtime: Vec<u8>,
    pub runtime_to_plugin: Vec<u8>,
    pub transcript: String,
}

/// Every session, by name.
pub fn sessions() -> Vec<Session> {
    let dir = interop_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/interop exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".plugin-to-runtime.bin").map(str::to_string))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no recordings in {}", dir.display());
    let read =
        |file: String| std::fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    names
        .into_iter()
        .map(|name| Session {
            plugin_to_runtime: read(format!("{name}.plugin-to-runtime.bin")),
            runtime_to_plugin: read(format!("{name}.runtime-to-plugin.bin")),
            transcript: String::from_utf8(read(format!("{name}.md"))).expect("UTF-8 transcript"),
            name,
        })
        .collect()
}

//! Guests for the tests: the adjuster (guests/adjuster.wat) and hostile
//! modules made from one template, each breaking one rule.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use nri_core::discovery::{PluginKind, Preinstalled};
use nri_core::proto::identity::PluginId;
use nri_core::transport::{METHODS, Method};

/// The adjuster's source.
pub fn adjuster_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/adjuster.wat")
}

/// The committed build of the adjuster.
pub fn adjuster_module() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/adjuster.wasm")
}

/// How a template guest misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Hostile {
    /// Body of `plugin_create_container` (params `$ptr`, `$size`; result
    /// i64); default: an empty reply.
    pub create: Option<&'static str>,
    /// What `plugin_api_version` returns; default 1.
    pub api_version: Option<u64>,
    /// An export to leave out.
    pub without: Option<&'static str>,
    /// Initial memory in pages; default 1.
    pub pages: Option<u32>,
    /// Body of `_initialize`; default: nothing.
    pub initialize: Option<&'static str>,
    /// More imports (and data segments), after `env.log`.
    pub extra: Option<&'static str>,
}

impl Hostile {
    /// The module's text.
    pub fn wat(&self) -> String {
        let mut text = String::from(
            "(module\n  (import \"env\" \"log\" (func $log (param i32 i32) (result i64)))\n",
        );
        text += self.extra.unwrap_or("");
        text += &format!(
            "  (memory (export \"memory\") {})\n",
            self.pages.unwrap_or(1)
        );
        // ConfigureResponse{events: CreateContainer} at 16.
        text += "  (data (i32.const 16) \"\\10\\08\")\n";
        text += "  (data (i32.const 32) \"\\ff\\ff\\ff\\ff\\0f\")\n";
        text += "  (global $heap (mut i32) (i32.const 1024))\n";
        let mut export = |name: &str, body: String| {
            if self.without != Some(name) {
                text += &body;
            }
        };
        export(
            "_initialize",
            format!(
                "  (func (export \"_initialize\") {})\n",
                self.initialize.unwrap_or("")
            ),
        );
        export(
            "plugin_api_version",
            format!(
                "  (func (export \"plugin_api_version\") (result i64) (i64.const {}))\n",
                self.api_version.unwrap_or(1)
            ),
        );
        // A bump allocator that never frees: the tests make few calls.
        export(
            "malloc",
            "  (func (export \"malloc\") (param $size i32) (result i32) (local $ptr i32)\n    \
             (local.set $ptr (global.get $heap))\n    \
             (global.set $heap (i32.add (global.get $heap) (local.get $size)))\n    \
             (local.get $ptr))\n"
                .into(),
        );
        export("free", "  (func (export \"free\") (param i32))\n".into());
        for &method in METHODS {
            let name = nri_transport_wasm::export_name(method);
            let body = match method {
                Method::Configure => {
                    "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 2))"
                }
                Method::CreateContainer => self.create.unwrap_or("(i64.const 0)"),
                _ => "(i64.const 0)",
            };
            export(
                &name,
                format!(
                    "  (func (export \"{name}\") (param $ptr i32) (param $size i32) (result i64)\n    {body})\n"
                ),
            );
        }
        text + ")\n"
    }

    /// The module's bytes.
    pub fn module(&self) -> Vec<u8> {
        wat::parse_str(self.wat()).expect("the template is valid WAT")
    }
}

/// Writes `bytes` as the executable plugin file `dir/label` and describes
/// it as discovery would.
pub fn install(dir: &Path, label: &str, bytes: &[u8]) -> Preinstalled {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(label);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Preinstalled {
        id: PluginId::from_file_name(label).unwrap(),
        kind: PluginKind::of_file(&path),
        path,
        config: String::new(),
    }
}

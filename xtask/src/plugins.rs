//! `cargo xtask plugins [--bin NAME]...`: the sample plugins as they are
//! deployed, one static executable each.
//!
//! A runtime keeps every plugin running for the life of the node, so a
//! plugin's resident memory is paid on every node. Upstream's Go plugins are
//! static executables (`CGO_ENABLED=0`); these are too, on glibc: each
//! binary is linked with `-C target-feature=+crt-static` (a static-PIE), so
//! it maps no dynamic loader and no shared C, maths or unwinder library, only
//! the parts of them it calls. `nri-echo` also allocates with mimalloc (the
//! crate's `mimalloc` feature). Measured with `nri-harness bench --plugins 1`
//! (nri-echo's peak resident memory): about 4,300 KiB dynamically linked,
//! about 3,400 KiB static, about 3,700 KiB static with mimalloc.
//!
//! The flag goes through `cargo rustc`, which passes it to the plugin's own
//! final compilation only, one binary per invocation. In `RUSTFLAGS` it would
//! also reach build scripts and procedural macros, which cannot be linked
//! statically, unless every build named a `--target`.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::workspace;

/// The package holding the sample plugins.
const PACKAGE: &str = "nri-sample-plugins";

/// Builds `bins` (every binary of the sample plugins when empty) with the
/// release profile into `target/release/`.
pub fn run(bins: &[String]) -> Result<ExitCode> {
    let root = workspace::root();
    let known = plugin_binaries(&root)?;
    let wanted: Vec<String> = if bins.is_empty() {
        known.clone()
    } else {
        if let Some(unknown) = bins.iter().find(|bin| !known.contains(bin)) {
            bail!(
                "{PACKAGE} has no binary {unknown}; it has: {}",
                known.join(", ")
            );
        }
        bins.to_vec()
    };
    let static_c = cfg!(all(target_os = "linux", target_env = "gnu"));
    if !static_c {
        println!("plugins: not a glibc Linux host: the plugins link the C library as usual");
    }
    for bin in &wanted {
        let mut build = Command::new(workspace::cargo());
        build.current_dir(&root).args([
            "rustc",
            "--release",
            "--package",
            PACKAGE,
            "--features",
            "mimalloc",
            "--bin",
            bin,
        ]);
        if static_c {
            build.args(["--", "-C", "target-feature=+crt-static"]);
        }
        println!("plugins: running {build:?}");
        let status = build
            .status()
            .with_context(|| format!("running cargo rustc for {bin}"))?;
        if !status.success() {
            bail!("building {bin} failed ({status})");
        }
    }
    let dir = root.join("target").join("release");
    for bin in &wanted {
        println!("plugins: {}", dir.join(bin).display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The binaries of the sample plugins' package, from `cargo metadata`.
fn plugin_binaries(root: &Path) -> Result<Vec<String>> {
    let metadata = workspace::metadata(root)?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"].as_str() == Some(PACKAGE))
        .with_context(|| format!("the workspace has no package {PACKAGE}"))?;
    let bins: Vec<String> = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k.as_str() == Some("bin")))
        })
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    if bins.is_empty() {
        bail!("{PACKAGE} has no binaries");
    }
    Ok(bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_plugin_source_is_a_binary_to_build() {
        let root = workspace::root();
        let bins = plugin_binaries(&root).unwrap();
        let mut sources: Vec<String> = std::fs::read_dir(root.join("plugins/src/bin"))
            .unwrap()
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".rs").map(str::to_string)
            })
            .collect();
        sources.sort();
        let mut listed = bins.clone();
        listed.sort();
        assert_eq!(listed, sources);
        assert!(bins.iter().any(|bin| bin == "nri-echo"), "{bins:?}");
    }

    #[test]
    fn an_unknown_binary_is_refused_before_anything_is_built() {
        let error = run(&["nri-no-such-plugin".to_string()]).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("has no binary nri-no-such-plugin") && message.contains("nri-echo"),
            "{message}"
        );
    }
}

//! `cargo xtask release`: check, package and (only with `--yes`) publish.
//!
//! Checks, for every publishable crate of the workspace: the metadata
//! the Rust package registry needs (description, license `Apache-2.0`, repository, an
//! existing readme, keywords), one version shared by all crates and by the
//! version requirements between them, and an entry for that version in
//! `CHANGELOG.md`. Then it runs `cargo package` for the crates in dependency
//! order (no upload) and prints what it would publish. Publishing is a
//! human's decision: without `--dry-run` the task refuses unless `--yes` is
//! given.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::workspace;

/// What the task may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Check and package only.
    DryRun,
    /// Check, package and publish.
    Publish,
    /// Neither flag: refuse.
    Refuse,
}

impl Mode {
    /// From the command-line flags.
    pub fn from_flags(dry_run: bool, yes: bool) -> Self {
        match (dry_run, yes) {
            (true, _) => Mode::DryRun,
            (false, true) => Mode::Publish,
            (false, false) => Mode::Refuse,
        }
    }
}

/// The license every crate must carry.
const LICENSE: &str = "Apache-2.0";

/// A publishable crate as `cargo metadata` describes it.
#[derive(Debug)]
struct Crate {
    name: String,
    version: String,
    manifest_dir: PathBuf,
    metadata: Value,
    /// Workspace crates this one depends on (normal and build), with the
    /// version requirement it states.
    internal_deps: BTreeMap<String, String>,
}

/// Runs the task.
pub fn run(mode: Mode, no_verify: bool) -> Result<ExitCode> {
    if mode == Mode::Refuse {
        eprintln!(
            "release: refusing to publish without --yes (publishing is a human's call); \
             use --dry-run to check and package only"
        );
        return Ok(ExitCode::FAILURE);
    }
    let root = workspace::root();
    let crates = publishable_crates(&root)?;
    let problems = check(&root, &crates);
    if !problems.is_empty() {
        eprintln!("release: {} problem(s):", problems.len());
        for problem in &problems {
            eprintln!("  - {problem}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let order = dependency_order(&crates)?;
    let version = &crates[0].version;
    println!(
        "release: version {version}, {} crates, in dependency order:",
        order.len()
    );
    for name in &order {
        println!("  {name} {version}");
    }

    let mut package = Command::new(workspace::cargo());
    package.current_dir(&root).arg("package");
    if mode == Mode::DryRun {
        // A dry run may check work in progress; a real release may not.
        package.arg("--allow-dirty");
    }
    if no_verify {
        package.arg("--no-verify");
    }
    for name in &order {
        package.args(["--package", name]);
    }
    println!("release: running {:?}", package);
    let status = package.status().context("running cargo package")?;
    if !status.success() {
        bail!("cargo package failed ({status})");
    }

    match mode {
        Mode::DryRun => {
            println!("release: dry run: would publish, in this order:");
            for name in &order {
                println!("  cargo publish --package {name}   # {name} {version}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Mode::Publish => {
            for name in &order {
                println!("release: publishing {name} {version}");
                let status = Command::new(workspace::cargo())
                    .current_dir(&root)
                    .args(["publish", "--package", name])
                    .status()
                    .with_context(|| format!("running cargo publish for {name}"))?;
                if !status.success() {
                    bail!(
                        "cargo publish of {name} failed ({status}); earlier crates are published"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Mode::Refuse => Ok(ExitCode::FAILURE),
    }
}

/// Reads the workspace's publishable crates from `cargo metadata`.
fn publishable_crates(root: &Path) -> Result<Vec<Crate>> {
    let metadata = workspace::metadata(root)?;
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata has no packages")?;
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();

    let mut crates = Vec::new();
    for package in packages {
        // `publish = false` shows as an empty registry list.
        if package["publish"].as_array().is_some_and(Vec::is_empty) {
            continue;
        }
        let name = package["name"].as_str().unwrap_or_default().to_string();
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let mut internal_deps = BTreeMap::new();
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let is_dev = dep["kind"].as_str() == Some("dev");
            if names.contains(dep_name) && !is_dev {
                internal_deps.insert(
                    dep_name.to_string(),
                    dep["req"].as_str().unwrap_or_default().to_string(),
                );
            }
        }
        crates.push(Crate {
            name,
            version: package["version"].as_str().unwrap_or_default().to_string(),
            manifest_dir: manifest.parent().map(PathBuf::from).unwrap_or_default(),
            metadata: package.clone(),
            internal_deps,
        });
    }
    if crates.is_empty() {
        bail!("no publishable crates in the workspace");
    }
    Ok(crates)
}

/// Every metadata, version and changelog problem, as readable sentences.
fn check(root: &Path, crates: &[Crate]) -> Vec<String> {
    let mut problems = Vec::new();
    let version = &crates[0].version;
    for krate in crates {
        let meta = &krate.metadata;
        let text = |key: &str| meta[key].as_str().filter(|s| !s.trim().is_empty());
        if text("description").is_none() {
            problems.push(format!("{}: no description", krate.name));
        }
        if text("license") != Some(LICENSE) {
            problems.push(format!(
                "{}: license is {:?}, expected {LICENSE}",
                krate.name,
                text("license")
            ));
        }
        if text("repository").is_none() {
            problems.push(format!("{}: no repository", krate.name));
        }
        match text("readme") {
            None => problems.push(format!("{}: no readme", krate.name)),
            Some(readme) if !krate.manifest_dir.join(readme).is_file() => {
                problems.push(format!("{}: readme {readme} does not exist", krate.name));
            }
            Some(_) => {}
        }
        if meta["keywords"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{}: no keywords", krate.name));
        }
        if &krate.version != version {
            problems.push(format!(
                "{}: version {} differs from {} ({version})",
                krate.name, krate.version, crates[0].name
            ));
        }
        for (dep, req) in &krate.internal_deps {
            if req.trim_start_matches('^') != version.as_str() {
                problems.push(format!(
                    "{}: depends on {dep} {req:?}, expected \"^{version}\"",
                    krate.name
                ));
            }
        }
    }
    match std::fs::read_to_string(root.join("CHANGELOG.md")) {
        Ok(changelog) if has_changelog_entry(&changelog, version) => {}
        Ok(_) => problems.push(format!("CHANGELOG.md: no entry for {version}")),
        Err(err) => problems.push(format!("CHANGELOG.md: {err}")),
    }
    problems
}

/// Whether a changelog has a heading for `version`: `## 0.1.0`, `## [0.1.0]`
/// or `## v0.1.0`, optionally followed by a date.
fn has_changelog_entry(changelog: &str, version: &str) -> bool {
    changelog.lines().any(|line| {
        let Some(heading) = line.strip_prefix("## ") else {
            return false;
        };
        let first = heading.split_whitespace().next().unwrap_or_default();
        first
            .trim_matches(|c| c == '[' || c == ']')
            .trim_start_matches('v')
            == version
    })
}

/// Crate names ordered so that each comes after the crates it depends on.
fn dependency_order(crates: &[Crate]) -> Result<Vec<String>> {
    let mut done: Vec<String> = Vec::new();
    let mut pending: Vec<&Crate> = crates.iter().collect();
    pending.sort_by(|a, b| a.name.cmp(&b.name));
    while !pending.is_empty() {
        let ready: Vec<&Crate> = pending
            .iter()
            .copied()
            .filter(|c| c.internal_deps.keys().all(|d| done.contains(d)))
            .collect();
        if ready.is_empty() {
            let names: Vec<&str> = pending.iter().map(|c| c.name.as_str()).collect();
            bail!("dependency cycle among {names:?}");
        }
        for krate in ready {
            done.push(krate.name.clone());
        }
        pending.retain(|c| !done.contains(&c.name));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krate(name: &str, deps: &[&str]) -> Crate {
        Crate {
            name: name.into(),
            version: "0.1.0".into(),
            manifest_dir: PathBuf::new(),
            metadata: Value::Null,
            internal_deps: deps
                .iter()
                .map(|d| (d.to_string(), "^0.1.0".into()))
                .collect(),
        }
    }

    #[test]
    fn dependencies_come_first() {
        let crates = [
            krate("testkit", &["core", "proto"]),
            krate("core", &["proto"]),
            krate("proto", &[]),
        ];
        assert_eq!(
            dependency_order(&crates).expect("no cycle"),
            ["proto", "core", "testkit"]
        );
    }

    #[test]
    fn cycles_are_reported() {
        let crates = [krate("a", &["b"]), krate("b", &["a"])];
        assert!(dependency_order(&crates).is_err());
    }

    #[test]
    fn changelog_headings_in_common_forms() {
        for heading in ["## 0.1.0", "## [0.1.0] - 2026-11-23", "## v0.1.0"] {
            assert!(has_changelog_entry(heading, "0.1.0"), "{heading}");
        }
        assert!(!has_changelog_entry("## 0.1.1\n### 0.1.0", "0.1.0"));
    }

    #[test]
    fn modes_follow_the_flags() {
        assert_eq!(Mode::from_flags(true, false), Mode::DryRun);
        assert_eq!(Mode::from_flags(false, true), Mode::Publish);
        assert_eq!(Mode::from_flags(false, false), Mode::Refuse);
    }
}

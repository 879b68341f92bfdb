//! The logic of the `hook-injector` sample plugin: OCI hooks configured in
//! JSON files, injected into the containers they apply to.
//!
//! Upstream's plugin (`plugins/hook-injector/hook-injector.go` in
//! containerd/nri) hands the work to the hooks manager of
//! containers/common (`pkg/hooks`). This module implements that
//! configuration format and its matching rules itself, following the
//! `pkg/hooks` code (and its `oci-hooks(5)` man page where the two agree).
//!
//! # Hook files and directories
//!
//! Hooks are configured by files ending in `.json` (case-sensitive; other
//! files are ignored) in a list of directories, [`DEFAULT_DIRS`] for the
//! plugin: [`DEFAULT_DIR`] first, then [`OVERRIDE_DIR`]. Directories are
//! listed in increasing order of preference: a valid file in a later
//! directory replaces the file of the same name from an earlier directory.
//! A file that fails to load replaces nothing. A missing directory is
//! normal and contributes no hooks; a file that disappears between listing
//! and reading (or a dangling symlink) is skipped silently.
//!
//! Two schemas are accepted, chosen by the top-level `version`:
//!
//! - `"1.0.0"`: `{"version", "hook": {"path", "args", "env", "timeout"},
//!   "when": {"always", "annotations", "commands", "hasBindMounts"},
//!   "stages": [...]}`;
//! - `"0.1.0"`, or no version at all (an absent, `null` or empty
//!   `version`): the legacy CRI-O format `{"hook": "<path>", "arguments",
//!   "stages"|"stage", "cmds"|"cmd", "annotations"|"annotation",
//!   "hasbindmounts"}`, converted to the 1.0.0 form as upstream does
//!   (`args` = the path followed by `arguments`; the annotation patterns
//!   joined with `|` into one value pattern for any key, `.*`; any-of
//!   matching, see below).
//!
//! Any other version is an error. Decoding follows Go's `encoding/json`:
//! unknown members are ignored, `null` leaves a member unset, member names
//! match case-insensitively, a value of the wrong type is an error.
//! Validation, in upstream's order: `hook.path` must be non-empty and must
//! exist (looked up when the file is loaded, relative paths against the
//! current directory; upstream checks neither absoluteness nor the execute
//! bit); every regular expression must compile; `stages` must be present
//! (an empty list is accepted) and hold only the stage names of the OCI
//! runtime spec: `prestart`, `createRuntime`, `createContainer`,
//! `startContainer`, `poststart`, `poststop`. A `when` without conditions
//! is accepted (the man page asks for one, the code does not check) and
//! never matches. Files over [`MAX_HOOK_FILE_SIZE`] and files that are not
//! regular files are refused (upstream reads anything).
//!
//! Invalid files are handled as upstream does in its two situations:
//! [`HookSet::load`] mirrors `hooks.New`, which the plugin calls at
//! start-up and which fails on an invalid file, and [`HookSet::reload`]
//! mirrors the directory monitor, which logs invalid files and keeps the
//! valid ones.
//!
//! # Matching
//!
//! [`When::matches`] mirrors `When.Match` of the 1.0.0 schema. For a 1.0.0
//! file every condition that is set must hold:
//!
//! - `always`: `true` holds; `false` never holds, so the hook never
//!   matches;
//! - `hasBindMounts`: holds only if it is `true` and the container has
//!   mounts; `false` never holds (it does not mean "has no mounts");
//! - `annotations`: each key pattern/value pattern pair must be met by some
//!   annotation whose key matches the key pattern and whose value matches
//!   the value pattern;
//! - `commands`: holds if the container's first argument (`process.args[0]`)
//!   matches any of the patterns; it is checked last, and a container
//!   without arguments makes matching fail with a [`MatchError`].
//!
//! A hook without any condition never matches. Patterns are searched for,
//! not anchored (Go's `regexp.MatchString`): `sh` matches `/bin/bash`; use
//! `^` and `$` to anchor. For a legacy file any one condition that holds is
//! enough, except that a `cmds` list which is reached and does not match
//! decides "no match".
//!
//! The input of the plugin's CreateContainer ([`MatchInput::new`]): the
//! container's arguments, the container's annotations overlaid with the
//! pod's (the pod's value wins on a clash, as the Go code copies the pod
//! annotations last), and "has bind mounts" = the container has any mount.
//!
//! # Output
//!
//! Matching hooks are taken in the order of their file names compared
//! after lower-casing (Unicode code point order), so `01-my-hook.json`
//! comes before `01-UPPERCASE.json` and `02-another-hook.json`; names equal
//! after lower-casing keep their raw byte order (upstream leaves that order
//! undefined). Each hook is appended to the list of each of its stages, as
//! often as the stage is listed; `prestart` hooks go to `create_runtime`,
//! as upstream does, so [`Hooks::prestart`] stays empty. If no hook
//! matches, there is nothing to inject (`None`); if some hook matches, the
//! result is `Some`, even when the matched hooks list no stage.
//!
//! # Not mirrored
//!
//! Extension stages (the plugin passes none), watching the directories
//! (call [`HookSet::reload`] again instead), and some corners of Go's
//! libraries: regular expressions use the `regex` crate, whose syntax is
//! RE2's like Go's, but whose `\d`, `\w`, `\s` and `\b` are Unicode-aware
//! where Go's are ASCII-only, which lacks `\Q…\E`, and whose compiled
//! size limit may refuse a huge pattern Go accepts; of two JSON members
//! whose names differ only in case, the exactly named one is used where Go
//! takes the last one (Go also merges repeated objects, which is not
//! mirrored either); invalid UTF-8 is replaced by U+FFFD, as Go does
//! inside JSON strings.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use nri_core::proto::api::{Container, ContainerAdjustment, Hook, Hooks, PodSandbox};
use nri_core::proto::optional;
use regex::Regex;
use serde_json::{Map, Value};

/// The default directory of hook configuration files
/// (`hooks.DefaultDir` of containers/common).
pub const DEFAULT_DIR: &str = "/usr/share/containers/oci/hooks.d";

/// The directory whose hook files override those of [`DEFAULT_DIR`] with
/// the same name (`hooks.OverrideDir` of containers/common).
pub const OVERRIDE_DIR: &str = "/etc/containers/oci/hooks.d";

/// The directories the plugin reads, in increasing order of preference.
pub const DEFAULT_DIRS: [&str; 2] = [DEFAULT_DIR, OVERRIDE_DIR];

/// The largest hook file read, in bytes (1 MiB); larger files are refused.
pub const MAX_HOOK_FILE_SIZE: u64 = 1 << 20;

/// The `version` of the current hook schema.
pub const CURRENT_VERSION: &str = "1.0.0";

/// The `version` of the legacy hook schema (also assumed when a file has
/// none).
pub const LEGACY_VERSION: &str = "0.1.0";

/// A stage of the container lifecycle a hook can be injected for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// `prestart`, injected as a `createRuntime` hook.
    Prestart,
    /// `createRuntime`.
    CreateRuntime,
    /// `createContainer`.
    CreateContainer,
    /// `startContainer`.
    StartContainer,
    /// `poststart`.
    Poststart,
    /// `poststop`.
    Poststop,
}

impl Stage {
    /// Every stage, in the order of the OCI runtime spec.
    pub const ALL: [Stage; 6] = [
        Stage::Prestart,
        Stage::CreateRuntime,
        Stage::CreateContainer,
        Stage::StartContainer,
        Stage::Poststart,
        Stage::Poststop,
    ];

    /// The stage's name in hook files.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prestart => "prestart",
            Stage::CreateRuntime => "createRuntime",
            Stage::CreateContainer => "createContainer",
            Stage::StartContainer => "startContainer",
            Stage::Poststart => "poststart",
            Stage::Poststop => "poststop",
        }
    }

    /// The stage of a name in a hook file (case-sensitive).
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.name() == name)
    }

    /// The list of `hooks` a hook for this stage is added to.
    fn list(self, hooks: &mut Hooks) -> &mut Vec<Hook> {
        match self {
            Stage::Prestart | Stage::CreateRuntime => &mut hooks.create_runtime,
            Stage::CreateContainer => &mut hooks.create_container,
            Stage::StartContainer => &mut hooks.start_container,
            Stage::Poststart => &mut hooks.poststart,
            Stage::Poststop => &mut hooks.poststop,
        }
    }
}

/// The schema a hook file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaVersion {
    /// The current schema, `"version": "1.0.0"`.
    V1_0_0,
    /// The legacy schema, `"version": "0.1.0"` or no version.
    V0_1_0,
}

/// The conditions under which a hook is injected.
#[derive(Debug, Clone, Default)]
pub struct When {
    /// `always`: `true` holds, `false` never holds.
    pub always: Option<bool>,
    /// `annotations`: pairs of key pattern and value pattern, each to be
    /// met by one annotation.
    pub annotations: Vec<(Regex, Regex)>,
    /// `commands`: patterns for the container's first argument.
    pub commands: Vec<Regex>,
    /// `hasBindMounts`: `true` holds if the container has mounts, `false`
    /// never holds.
    pub has_bind_mounts: Option<bool>,
    /// Any-of matching, set for legacy (0.1.0) files: the first condition
    /// that holds decides. Otherwise all conditions set must hold.
    pub any_of: bool,
}

/// The container properties hooks are matched against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInput {
    /// The container's command line; its first element is what `commands`
    /// patterns are matched against.
    pub args: Vec<String>,
    /// The annotations `annotations` patterns are matched against.
    pub annotations: BTreeMap<String, String>,
    /// Whether the container has bind mounts.
    pub has_bind_mounts: bool,
}

impl MatchInput {
    /// The input upstream's plugin builds in CreateContainer: the
    /// container's arguments; its annotations overlaid with the pod's (the
    /// pod's value wins for a key both have); bind mounts if the container
    /// has any mount.
    pub fn new(pod: &PodSandbox, container: &Container) -> MatchInput {
        let mut annotations = container.annotations.clone();
        annotations.extend(
            pod.annotations
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
        MatchInput {
            args: container.args.clone(),
            annotations,
            has_bind_mounts: !container.mounts.is_empty(),
        }
    }
}

/// Matching needs the container's first argument, and the container has
/// no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("process.args must have at least one entry")]
pub struct EmptyArgs;

impl When {
    /// Whether the conditions hold for `input`; see the [module
    /// docs](self#matching). Fails if a `commands` condition is reached
    /// and the container has no arguments.
    pub fn matches(&self, input: &MatchInput) -> Result<bool, EmptyArgs> {
        let mut matches = 0usize;

        if let Some(always) = self.always {
            if always {
                if self.any_of {
                    return Ok(true);
                }
                matches += 1;
            } else if !self.any_of {
                return Ok(false);
            }
        }

        if let Some(wanted) = self.has_bind_mounts {
            if wanted && input.has_bind_mounts {
                if self.any_of {
                    return Ok(true);
                }
                matches += 1;
            } else if !self.any_of {
                return Ok(false);
            }
        }

        for (key_pattern, value_pattern) in &self.annotations {
            let found = input
                .annotations
                .iter()
                .any(|(key, value)| key_pattern.is_match(key) && value_pattern.is_match(value));
            if found {
                if self.any_of {
                    return Ok(true);
                }
                matches += 1;
            } else if !self.any_of {
                return Ok(false);
            }
        }

        if !self.commands.is_empty() {
            let command = input.args.first().ok_or(EmptyArgs)?;
            return Ok(self
                .commands
                .iter()
                .any(|pattern| pattern.is_match(command)));
        }

        Ok(matches > 0)
    }
}

/// One hook configuration file, parsed and validated.
#[derive(Debug, Clone)]
pub struct HookConfig {
    /// The schema the file was written in.
    pub version: SchemaVersion,
    /// The hook to inject.
    pub hook: Hook,
    /// When to inject it.
    pub when: When,
    /// The stages to inject it for, in file order, repeats included.
    pub stages: Vec<Stage>,
}

/// Why a hook file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookFileError {
    /// The file could not be read.
    #[error("reading hook file: {0}")]
    Read(#[source] io::Error),
    /// The file is a directory, a FIFO, a device or a socket.
    #[error("not a regular file")]
    NotRegularFile,
    /// The file is larger than [`MAX_HOOK_FILE_SIZE`].
    #[error("hook file too large ({size} bytes, at most {MAX_HOOK_FILE_SIZE} allowed)")]
    TooLarge {
        /// The size found (at least, if the file grew while read).
        size: u64,
    },
    /// The content is not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The content is JSON but not an object.
    #[error("hook configuration is not a JSON object")]
    NotAnObject,
    /// A member has a value of the wrong type.
    #[error("{field}: expected {expected}")]
    FieldType {
        /// The member, as a dotted path (`hook.timeout`).
        field: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// The `version` is neither `1.0.0` nor `0.1.0` (nor absent).
    #[error("unrecognized hook version: {0:?}")]
    UnknownVersion(String),
    /// A legacy file without `hook`.
    #[error("missing required property: hook")]
    MissingHook,
    /// A legacy file sets a property and its synonym.
    #[error("cannot set both '{0}' and '{1}'")]
    BothSet(&'static str, &'static str),
    /// `hook.path` is absent or empty.
    #[error("missing required property: hook.path")]
    MissingPath,
    /// `hook.path` does not exist (or cannot be looked up).
    #[error("hook path {path:?}: {source}")]
    PathNotFound {
        /// The path as configured.
        path: String,
        /// Why the lookup failed.
        #[source]
        source: io::Error,
    },
    /// A key pattern of `annotations` does not compile.
    #[error("invalid annotation key {pattern:?}: {source}")]
    AnnotationKey {
        /// The pattern.
        pattern: String,
        /// The compiler's complaint.
        #[source]
        source: regex::Error,
    },
    /// A value pattern of `annotations` does not compile.
    #[error("invalid annotation value {pattern:?}: {source}")]
    AnnotationValue {
        /// The pattern.
        pattern: String,
        /// The compiler's complaint.
        #[source]
        source: regex::Error,
    },
    /// A pattern of `commands` does not compile.
    #[error("invalid command {pattern:?}: {source}")]
    Command {
        /// The pattern.
        pattern: String,
        /// The compiler's complaint.
        #[source]
        source: regex::Error,
    },
    /// `stages` is absent (or `null`).
    #[error("missing required property: stages")]
    MissingStages,
    /// `stages` names an unknown stage.
    #[error("unknown stage {0:?}")]
    UnknownStage(String),
}

impl HookFileError {
    /// Whether the error says the hook's executable does not exist: the
    /// only file error upstream's start-up tolerates (see
    /// [`HookSet::load`]).
    pub fn is_hook_path_not_found(&self) -> bool {
        matches!(self, HookFileError::PathNotFound { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// A problem met while loading hook directories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A directory exists but could not be listed.
    #[error("reading hook directory {}: {source}", dir.display())]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// Why listing it failed.
        #[source]
        source: io::Error,
    },
    /// A hook file was refused.
    #[error("hook file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        #[source]
        source: HookFileError,
    },
}

/// Matching hooks failed for a container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matching hook {hook:?}: {source}")]
pub struct MatchError {
    /// The file name of the hook whose conditions could not be evaluated.
    pub hook: String,
    /// Why.
    #[source]
    pub source: EmptyArgs,
}

impl HookConfig {
    /// Parses and validates a hook file's content, except that it does not
    /// check that `hook.path` exists ([`HookConfig::read`] does).
    pub fn parse(content: &[u8]) -> Result<HookConfig, HookFileError> {
        parse_with(content, |_| Ok(()))
    }

    /// Reads, parses and validates a hook file, checking that `hook.path`
    /// exists. Refuses files that are not regular files or are larger than
    /// [`MAX_HOOK_FILE_SIZE`].
    pub fn read(path: &Path) -> Result<HookConfig, HookFileError> {
        let content = read_bounded(path)?;
        parse_with(&content, |hook_path| fs::metadata(hook_path).map(drop))
    }
}

/// Reads at most [`MAX_HOOK_FILE_SIZE`] bytes of a regular file.
fn read_bounded(path: &Path) -> Result<Vec<u8>, HookFileError> {
    let metadata = fs::metadata(path).map_err(HookFileError::Read)?;
    if !metadata.is_file() {
        return Err(HookFileError::NotRegularFile);
    }
    if metadata.len() > MAX_HOOK_FILE_SIZE {
        return Err(HookFileError::TooLarge {
            size: metadata.len(),
        });
    }
    let file = fs::File::open(path).map_err(HookFileError::Read)?;
    let mut content = Vec::new();
    file.take(MAX_HOOK_FILE_SIZE + 1)
        .read_to_end(&mut content)
        .map_err(HookFileError::Read)?;
    let size = u64::try_from(content.len()).unwrap_or(u64::MAX);
    if size > MAX_HOOK_FILE_SIZE {
        return Err(HookFileError::TooLarge { size });
    }
    Ok(content)
}

/// Parses and validates, checking `hook.path` with `check_path` at the
/// point upstream's validation does.
fn parse_with(
    content: &[u8],
    check_path: impl Fn(&str) -> io::Result<()>,
) -> Result<HookConfig, HookFileError> {
    let text = String::from_utf8_lossy(content);
    let value: Value = serde_json::from_str(&text).map_err(HookFileError::Json)?;
    let Value::Object(object) = value else {
        return Err(HookFileError::NotAnObject);
    };

    let version = string(&object, "version", "version")?.unwrap_or_default();
    let raw = match version.as_str() {
        CURRENT_VERSION => decode_current(&object)?,
        LEGACY_VERSION | "" => decode_legacy(&object)?,
        _ => return Err(HookFileError::UnknownVersion(version)),
    };
    raw.validate(check_path)
}

/// A decoded hook file, before validation.
struct RawHook {
    version: SchemaVersion,
    path: String,
    args: Vec<String>,
    env: Vec<String>,
    timeout: Option<i64>,
    always: Option<bool>,
    annotations: BTreeMap<String, String>,
    commands: Vec<String>,
    has_bind_mounts: Option<bool>,
    any_of: bool,
    stages: Option<Vec<String>>,
}

/// Decodes the 1.0.0 schema.
fn decode_current(object: &Map<String, Value>) -> Result<RawHook, HookFileError> {
    let empty = Map::new();
    let hook = sub_object(object, "hook", "hook")?.unwrap_or(&empty);
    let when = sub_object(object, "when", "when")?.unwrap_or(&empty);
    Ok(RawHook {
        version: SchemaVersion::V1_0_0,
        path: string(hook, "path", "hook.path")?.unwrap_or_default(),
        args: strings(hook, "args", "hook.args")?.unwrap_or_default(),
        env: strings(hook, "env", "hook.env")?.unwrap_or_default(),
        timeout: integer(hook, "timeout", "hook.timeout")?,
        always: boolean(when, "always", "when.always")?,
        annotations: string_map(when, "annotations", "when.annotations")?.unwrap_or_default(),
        commands: strings(when, "commands", "when.commands")?.unwrap_or_default(),
        has_bind_mounts: boolean(when, "hasBindMounts", "when.hasBindMounts")?,
        any_of: false,
        stages: strings(object, "stages", "stages")?,
    })
}

/// Decodes the legacy 0.1.0 schema into the 1.0.0 form, with upstream's
/// checks in upstream's order.
fn decode_legacy(object: &Map<String, Value>) -> Result<RawHook, HookFileError> {
    let hook = string(object, "hook", "hook")?;
    let arguments = strings(object, "arguments", "arguments")?;
    let stages = strings(object, "stages", "stages")?;
    let stage = strings(object, "stage", "stage")?;
    let cmds = strings(object, "cmds", "cmds")?;
    let cmd = strings(object, "cmd", "cmd")?;
    let annotations = strings(object, "annotations", "annotations")?;
    let annotation = strings(object, "annotation", "annotation")?;
    let has_bind_mounts = boolean(object, "hasbindmounts", "hasbindmounts")?;

    let path = hook.ok_or(HookFileError::MissingHook)?;
    let stages = either(stages, stage, ("stage", "stages"))?;
    if stages.is_none() {
        return Err(HookFileError::MissingStages);
    }
    let commands = either(cmds, cmd, ("cmd", "cmds"))?;
    let annotations = either(annotations, annotation, ("annotation", "annotations"))?;

    let args = match arguments {
        Some(arguments) => std::iter::once(path.clone()).chain(arguments).collect(),
        None => Vec::new(),
    };
    let annotations = annotations
        .map(|patterns| BTreeMap::from([(".*".to_owned(), patterns.join("|"))]))
        .unwrap_or_default();
    Ok(RawHook {
        version: SchemaVersion::V0_1_0,
        path,
        args,
        env: Vec::new(),
        timeout: None,
        always: None,
        annotations,
        commands: commands.unwrap_or_default(),
        has_bind_mounts,
        any_of: true,
        stages,
    })
}

/// A legacy property and its synonym: at most one may be set.
fn either(
    plural: Option<Vec<String>>,
    singular: Option<Vec<String>>,
    names: (&'static str, &'static str),
) -> Result<Option<Vec<String>>, HookFileError> {
    match (plural, singular) {
        (Some(_), Some(_)) => Err(HookFileError::BothSet(names.0, names.1)),
        (plural, singular) => Ok(plural.or(singular)),
    }
}

impl RawHook {
    /// Upstream's `Hook.Validate`, in its order.
    fn validate(
        self,
        check_path: impl Fn(&str) -> io::Result<()>,
    ) -> Result<HookConfig, HookFileError> {
        if self.path.is_empty() {
            return Err(HookFileError::MissingPath);
        }
        check_path(&self.path).map_err(|source| HookFileError::PathNotFound {
            path: self.path.clone(),
            source,
        })?;

        let mut annotations = Vec::with_capacity(self.annotations.len());
        for (key, value) in &self.annotations {
            let key_pattern = Regex::new(key).map_err(|source| HookFileError::AnnotationKey {
                pattern: key.clone(),
                source,
            })?;
            let value_pattern =
                Regex::new(value).map_err(|source| HookFileError::AnnotationValue {
                    pattern: value.clone(),
                    source,
                })?;
            annotations.push((key_pattern, value_pattern));
        }

        let mut commands = Vec::with_capacity(self.commands.len());
        for command in &self.commands {
            commands.push(
                Regex::new(command).map_err(|source| HookFileError::Command {
                    pattern: command.clone(),
                    source,
                })?,
            );
        }

        let names = self.stages.ok_or(HookFileError::MissingStages)?;
        let mut stages = Vec::with_capacity(names.len());
        for name in names {
            match Stage::from_name(&name) {
                Some(stage) => stages.push(stage),
                None => return Err(HookFileError::UnknownStage(name)),
            }
        }

        Ok(HookConfig {
            version: self.version,
            hook: Hook {
                path: self.path,
                args: self.args,
                env: self.env,
                timeout: self.timeout.and_then(optional::int),
            },
            when: When {
                always: self.always,
                annotations,
                commands,
                has_bind_mounts: self.has_bind_mounts,
                any_of: self.any_of,
            },
            stages,
        })
    }
}

/// Go's `encoding/json` member lookup: the exactly named member, else one
/// whose name is equal under case folding. `null` counts as absent.
fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let value = object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| fold_eq(key, name))
            .map(|(_, value)| value)
    })?;
    (!value.is_null()).then_some(value)
}

/// Whether two names are equal ignoring case, roughly as Go's
/// `encoding/json` folds names.
fn fold_eq(a: &str, b: &str) -> bool {
    fn fold(c: char) -> char {
        let upper = single(c.to_uppercase()).unwrap_or(c);
        single(upper.to_lowercase()).unwrap_or(upper)
    }
    fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
        let first = chars.next()?;
        chars.next().is_none().then_some(first)
    }
    a.chars().map(fold).eq(b.chars().map(fold))
}

fn type_error(field: &str, expected: &'static str) -> HookFileError {
    HookFileError::FieldType {
        field: field.to_owned(),
        expected,
    }
}

fn sub_object<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, HookFileError> {
    match member(object, name) {
        None => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(type_error(field, "an object")),
    }
}

fn string(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<String>, HookFileError> {
    match member(object, name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(type_error(field, "a string")),
    }
}

fn boolean(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<bool>, HookFileError> {
    match member(object, name) {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(type_error(field, "a boolean")),
    }
}

fn integer(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<i64>, HookFileError> {
    match member(object, name) {
        None => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            .map(Some)
            .ok_or_else(|| type_error(field, "an integer")),
        Some(_) => Err(type_error(field, "an integer")),
    }
}

/// A list of strings; a `null` element is an empty string, as in Go.
fn strings(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<Vec<String>>, HookFileError> {
    match member(object, name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                Value::Null => Ok(String::new()),
                _ => Err(type_error(field, "an array of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(type_error(field, "an array of strings")),
    }
}

/// An object of strings; a `null` value is an empty string, as in Go.
fn string_map(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<BTreeMap<String, String>>, HookFileError> {
    match member(object, name) {
        None => Ok(None),
        Some(Value::Object(entries)) => entries
            .iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key.clone(), text.clone())),
                Value::Null => Ok((key.clone(), String::new())),
                _ => Err(type_error(field, "an object of strings")),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some),
        Some(_) => Err(type_error(field, "an object of strings")),
    }
}

/// A loaded hook and the name of the file it came from.
#[derive(Debug, Clone)]
struct NamedHook {
    /// The file name, the identity of a hook across directories.
    name: OsString,
    /// The order key: the lower-cased file name.
    sort_key: String,
    config: HookConfig,
}

/// Go's `strings.ToLower`: each character to its simple lower case.
fn lower(name: &OsStr) -> String {
    name.to_string_lossy()
        .chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// The hooks loaded from a list of directories, in injection order.
#[derive(Debug, Clone, Default)]
pub struct HookSet {
    hooks: Vec<NamedHook>,
}

impl HookSet {
    /// Loads the hook files of `dirs` (in increasing order of preference)
    /// as upstream's plugin does at start-up (`hooks.New`).
    ///
    /// Missing directories are skipped. A directory that exists but cannot
    /// be listed fails the load. Within a directory, files are read in
    /// byte order of their names, and upstream fails the load on an
    /// invalid file unless the first invalid file of that directory only
    /// names a hook executable that does not exist (Go's `errors.Is(err,
    /// os.ErrNotExist)` sees only the first error of a directory): then
    /// all invalid files of that directory are skipped. The error is the
    /// first invalid file of the directory; the tolerated problems are
    /// returned with the set, for logging.
    pub fn load<P: AsRef<Path>>(dirs: &[P]) -> Result<(HookSet, Vec<LoadError>), LoadError> {
        let mut hooks = BTreeMap::new();
        let mut tolerated = Vec::new();
        for dir in dirs {
            let dir = dir.as_ref();
            let problems = match read_dir_into(dir, &mut hooks) {
                Ok(problems) => problems,
                Err(source) if source.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(LoadError::Directory {
                        dir: dir.to_owned(),
                        source,
                    });
                }
            };
            let mut problems = problems.into_iter();
            if let Some(first) = problems.next() {
                if !matches!(&first, LoadError::File { source, .. } if source.is_hook_path_not_found())
                {
                    return Err(first);
                }
                tolerated.push(first);
                tolerated.extend(problems);
            }
        }
        Ok((HookSet::from_map(hooks), tolerated))
    }

    /// Loads the hook files of `dirs` (in increasing order of preference)
    /// as upstream's directory monitor reloads them after a change: every
    /// problem is returned for logging and the valid files are kept.
    /// Missing directories are skipped silently.
    pub fn reload<P: AsRef<Path>>(dirs: &[P]) -> (HookSet, Vec<LoadError>) {
        let mut hooks = BTreeMap::new();
        let mut problems = Vec::new();
        for dir in dirs {
            let dir = dir.as_ref();
            match read_dir_into(dir, &mut hooks) {
                Ok(found) => problems.extend(found),
                Err(source) if source.kind() == io::ErrorKind::NotFound => {}
                Err(source) => problems.push(LoadError::Directory {
                    dir: dir.to_owned(),
                    source,
                }),
            }
        }
        (HookSet::from_map(hooks), problems)
    }

    /// A set of already parsed hooks, each under its file name. A later
    /// entry replaces an earlier one of the same name, as a file in a later
    /// directory does.
    pub fn from_configs<I, N>(configs: I) -> HookSet
    where
        I: IntoIterator<Item = (N, HookConfig)>,
        N: Into<OsString>,
    {
        HookSet::from_map(
            configs
                .into_iter()
                .map(|(name, config)| (name.into(), config))
                .collect(),
        )
    }

    fn from_map(hooks: BTreeMap<OsString, HookConfig>) -> HookSet {
        let mut hooks: Vec<NamedHook> = hooks
            .into_iter()
            .map(|(name, config)| NamedHook {
                sort_key: lower(&name),
                name,
                config,
            })
            .collect();
        hooks.sort_by(|a, b| {
            a.sort_key
                .cmp(&b.sort_key)
                .then_with(|| a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes()))
        });
        HookSet { hooks }
    }

    /// The number of hooks.
    pub fn len(&self) -> usize {
        self.hooks.len()
    }

    /// Whether there are no hooks.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// The hooks with their file names, in injection order.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &HookConfig)> {
        self.hooks
            .iter()
            .map(|hook| (hook.name.as_os_str(), &hook.config))
    }

    /// The hooks to inject for `input`, per stage, in injection order;
    /// `None` if no hook matches. Mirrors `Manager.Hooks` of
    /// containers/common, without extension stages.
    pub fn hooks(&self, input: &MatchInput) -> Result<Option<Hooks>, MatchError> {
        let mut out: Option<Hooks> = None;
        for named in &self.hooks {
            let matched = named
                .config
                .when
                .matches(input)
                .map_err(|source| MatchError {
                    hook: named.name.to_string_lossy().into_owned(),
                    source,
                })?;
            if !matched {
                tracing::debug!(hook = %named.name.to_string_lossy(), "hook did not match");
                continue;
            }
            tracing::debug!(
                hook = %named.name.to_string_lossy(),
                stages = ?named.config.stages,
                "hook matched"
            );
            let hooks = out.get_or_insert_with(Hooks::default);
            for stage in &named.config.stages {
                stage.list(hooks).push(named.config.hook.clone());
            }
        }
        Ok(out)
    }

    /// The hooks to inject into `container` of `pod`, for the input
    /// upstream's plugin builds ([`MatchInput::new`]).
    pub fn hooks_for(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<Option<Hooks>, MatchError> {
        self.hooks(&MatchInput::new(pod, container))
    }

    /// The plugin's answer to CreateContainer: an adjustment adding the
    /// matching hooks, or `None` if no hook matches.
    pub fn adjustment_for(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<Option<ContainerAdjustment>, MatchError> {
        Ok(self
            .hooks_for(pod, container)?
            .map(|hooks| ContainerAdjustment {
                hooks: Some(hooks),
                ..ContainerAdjustment::default()
            }))
    }
}

/// Reads the `*.json` files of `dir` into `hooks`, replacing entries of the
/// same name, and returns the files refused. Fails only if the directory
/// cannot be listed.
fn read_dir_into(
    dir: &Path,
    hooks: &mut BTreeMap<OsString, HookConfig>,
) -> io::Result<Vec<LoadError>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        names.push(entry?.file_name());
    }
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));

    let mut problems = Vec::new();
    for name in names {
        if !name.as_encoded_bytes().ends_with(b".json") {
            continue;
        }
        let path = dir.join(&name);
        match HookConfig::read(&path) {
            Ok(config) => {
                tracing::debug!(path = %path.display(), "added hook");
                hooks.insert(name, config);
            }
            // Gone since listed, or a dangling symlink: not an error upstream.
            Err(HookFileError::Read(error)) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => problems.push(LoadError::File { path, source }),
        }
    }
    Ok(problems)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use nri_core::proto::api::Mount;
    use nri_core::proto::optional::OptionalValue;
    use tempfile::TempDir;

    /// A directory with an existing file `bin/hook` to point `hook.path` at.
    struct Fixture {
        root: TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let root = tempfile::tempdir().unwrap();
            fs::create_dir(root.path().join("bin")).unwrap();
            fs::write(root.path().join("bin/hook"), "#!/bin/sh\n").unwrap();
            Fixture { root }
        }

        fn hook_path(&self) -> String {
            self.root
                .path()
                .join("bin/hook")
                .to_str()
                .unwrap()
                .to_owned()
        }

        /// Creates (if needed) the hook directory `name` and returns it.
        fn dir(&self, name: &str) -> PathBuf {
            let dir = self.root.path().join(name);
            fs::create_dir_all(&dir).unwrap();
            dir
        }

        fn write(&self, dir: &str, file: &str, content: &str) -> PathBuf {
            let path = self.dir(dir).join(file);
            fs::write(&path, content).unwrap();
            path
        }

        /// A valid 1.0.0 file: `always` true, stage `poststop`, the
        /// timeout identifying it.
        fn write_always(&self, dir: &str, file: &str, timeout: i64) {
            let content = format!(
                r#"{{"version": "1.0.0", "hook": {{"path": "{}", "timeout": {timeout}}},
                    "when": {{"always": true}}, "stages": ["poststop"]}}"#,
                self.hook_path()
            );
            self.write(dir, file, &content);
        }
    }

    fn parse(content: &str) -> Result<HookConfig, HookFileError> {
        HookConfig::parse(content.as_bytes())
    }

    /// A 1.0.0 file with the given `when` object and stages, for `/x`.
    fn parse_when(when: &str) -> HookConfig {
        parse(&format!(
            r#"{{"version": "1.0.0", "hook": {{"path": "/x"}}, "when": {when}, "stages": ["prestart"]}}"#
        ))
        .unwrap()
    }

    fn input(args: &[&str], annotations: &[(&str, &str)], has_bind_mounts: bool) -> MatchInput {
        MatchInput {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            has_bind_mounts,
        }
    }

    fn matches(config: &HookConfig, input: &MatchInput) -> bool {
        config.when.matches(input).unwrap()
    }

    /// The timeouts of the hooks of one stage list, identifying them.
    fn timeouts(hooks: &[Hook]) -> Vec<i64> {
        hooks.iter().map(|h| h.timeout.value().unwrap()).collect()
    }

    // --- Schema 1.0.0: decoding ---------------------------------------

    /// Fact: the 1.0.0 `hook` object is the OCI runtime-spec hook (path,
    /// args, env, timeout) and is injected as is; `timeout` becomes NRI's
    /// OptionalInt (`api.FromOCIHooks` uses `api.Int`).
    #[test]
    fn current_schema_fields_are_decoded() {
        let config = parse(
            r#"{"version": "1.0.0",
                "hook": {"path": "/usr/bin/hook", "args": ["hook", "--debug"],
                         "env": ["A=1", "B=2"], "timeout": 7},
                "when": {"always": true},
                "stages": ["createContainer", "poststop"],
                "comment": "unknown members are ignored"}"#,
        )
        .unwrap();
        assert_eq!(config.version, SchemaVersion::V1_0_0);
        assert_eq!(config.hook.path, "/usr/bin/hook");
        assert_eq!(config.hook.args, ["hook", "--debug"]);
        assert_eq!(config.hook.env, ["A=1", "B=2"]);
        assert_eq!(config.hook.timeout.value(), Some(7));
        assert_eq!(config.when.always, Some(true));
        assert!(!config.when.any_of);
        assert_eq!(config.stages, [Stage::CreateContainer, Stage::Poststop]);
    }

    /// Fact: without `timeout` (or with `null`) the OCI hook's `*int` is
    /// nil, so NRI's timeout is unset.
    #[test]
    fn absent_timeout_stays_unset() {
        let config = parse(
            r#"{"version": "1.0.0", "hook": {"path": "/x", "timeout": null},
                "when": {"always": true}, "stages": []}"#,
        )
        .unwrap();
        assert_eq!(config.hook.timeout, None);
        assert!(config.hook.args.is_empty());
        assert!(config.stages.is_empty());
    }

    /// Fact: Go's `encoding/json` matches member names case-insensitively.
    #[test]
    fn member_names_are_case_insensitive() {
        let config = parse(
            r#"{"Version": "1.0.0", "HOOK": {"Path": "/x", "TimeOut": 3},
                "When": {"HasBindMounts": true}, "Stages": ["poststart"]}"#,
        )
        .unwrap();
        assert_eq!(config.hook.path, "/x");
        assert_eq!(config.hook.timeout.value(), Some(3));
        assert_eq!(config.when.has_bind_mounts, Some(true));
        assert_eq!(config.stages, [Stage::Poststart]);
    }

    // --- Validation and invalid files -----------------------------------

    /// Fact: `read` first decodes the version; content that is not JSON
    /// fails ("version check: unexpected end of JSON input").
    #[test]
    fn bad_json_is_refused() {
        assert!(matches!(
            parse(r#"{"version": "1.0.0", "hook": "#),
            Err(HookFileError::Json(_))
        ));
        assert!(matches!(parse("[1, 2]"), Err(HookFileError::NotAnObject)));
        assert!(matches!(
            parse(r#"{"version": 1}"#),
            Err(HookFileError::FieldType { ref field, .. }) if field == "version"
        ));
    }

    /// Fact: only versions with a registered reader are known: "1.0.0",
    /// "0.1.0" and "" (`unrecognized hook version: "-1"`).
    #[test]
    fn unknown_version_is_refused() {
        match parse(r#"{"version": "-1"}"#) {
            Err(HookFileError::UnknownVersion(version)) => assert_eq!(version, "-1"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(
                r#"{"version": "1.0.1", "hook": {"path": "/x"}, "when": {"always": true}, "stages": []}"#
            ),
            Err(HookFileError::UnknownVersion(_))
        ));
    }

    /// Fact: a value of the wrong type fails the decoding (a string where
    /// the 1.0.0 `hook` object belongs: "cannot unmarshal string into Go
    /// struct field Hook.hook"); `timeout` is a Go `int`, so fractions are
    /// refused.
    #[test]
    fn wrong_types_are_refused() {
        let cases = [
            (r#""hook": "/x""#, "hook"),
            (r#""hook": {"path": "/x", "timeout": 1.5}"#, "hook.timeout"),
            (r#""hook": {"path": "/x", "timeout": "5"}"#, "hook.timeout"),
            (r#""hook": {"path": "/x", "args": "a"}"#, "hook.args"),
            (r#""hook": {"path": "/x", "env": [1]}"#, "hook.env"),
            (r#""hook": {"path": 5}"#, "hook.path"),
        ];
        for (hook, field) in cases {
            let content = format!(
                r#"{{"version": "1.0.0", {hook}, "when": {{"always": true}}, "stages": []}}"#
            );
            match parse(&content) {
                Err(HookFileError::FieldType { field: found, .. }) => assert_eq!(found, field),
                other => panic!("{content}: unexpected {other:?}"),
            }
        }
        match parse(
            r#"{"version": "1.0.0", "hook": {"path": "/x"}, "when": {"always": "yes"}, "stages": []}"#,
        ) {
            Err(HookFileError::FieldType { field, .. }) => assert_eq!(field, "when.always"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Fact: `Validate` requires a non-empty `hook.path`.
    #[test]
    fn missing_path_is_refused() {
        for hook in [
            r#""hook": {}"#,
            r#""hook": {"path": ""}"#,
            r#""hook": null"#,
        ] {
            let content = format!(
                r#"{{"version": "1.0.0", {hook}, "when": {{"always": true}}, "stages": []}}"#
            );
            assert!(
                matches!(parse(&content), Err(HookFileError::MissingPath)),
                "{content}"
            );
        }
    }

    /// Fact: `Validate` requires `stages` to be set (Go nil check: absent
    /// or null), but an empty list passes.
    #[test]
    fn missing_stages_are_refused() {
        for stages in ["", r#", "stages": null"#] {
            let content = format!(
                r#"{{"version": "1.0.0", "hook": {{"path": "/x"}}, "when": {{"always": true}}{stages}}}"#
            );
            assert!(
                matches!(parse(&content), Err(HookFileError::MissingStages)),
                "{content}"
            );
        }
        assert!(parse(r#"{"version": "1.0.0", "hook": {"path": "/x"}, "stages": []}"#).is_ok());
    }

    /// Fact: stage names are the six OCI ones, case-sensitive
    /// (`unknown stage "does-not-exist"`).
    #[test]
    fn unknown_stage_is_refused() {
        for stage in ["does-not-exist", "Prestart", "postStop"] {
            let content = format!(
                r#"{{"version": "1.0.0", "hook": {{"path": "/x"}}, "when": {{"always": true}}, "stages": ["poststop", "{stage}"]}}"#
            );
            match parse(&content) {
                Err(HookFileError::UnknownStage(name)) => assert_eq!(name, stage),
                other => panic!("{stage}: unexpected {other:?}"),
            }
        }
    }

    /// Fact: `Validate` compiles every annotation key, annotation value and
    /// command pattern.
    #[test]
    fn bad_regex_is_refused() {
        let config = |when: &str| {
            parse(&format!(
                r#"{{"version": "1.0.0", "hook": {{"path": "/x"}}, "when": {when}, "stages": []}}"#
            ))
        };
        match config(r#"{"annotations": {"[": "a"}}"#) {
            Err(HookFileError::AnnotationKey { pattern, .. }) => assert_eq!(pattern, "["),
            other => panic!("unexpected {other:?}"),
        }
        match config(r#"{"annotations": {"a": "("}}"#) {
            Err(HookFileError::AnnotationValue { pattern, .. }) => assert_eq!(pattern, "("),
            other => panic!("unexpected {other:?}"),
        }
        match config(r#"{"commands": ["^/bin/sh$", "*"]}"#) {
            Err(HookFileError::Command { pattern, .. }) => assert_eq!(pattern, "*"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Fact: `Validate` checks that `hook.path` exists (`fileutils.Exists`)
    /// right after the empty check, before the patterns and stages.
    #[test]
    fn nonexistent_hook_path_is_refused_first() {
        let fixture = Fixture::new();
        let file = fixture.write(
            "d",
            "a.json",
            r#"{"version": "1.0.0", "hook": {"path": "/does/not/exist"},
                "when": {"commands": ["["]}, "stages": ["bogus"]}"#,
        );
        let error = HookConfig::read(&file).unwrap_err();
        assert!(error.is_hook_path_not_found(), "{error:?}");
        match error {
            HookFileError::PathNotFound { path, .. } => assert_eq!(path, "/does/not/exist"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Bound: files over 1 MiB are refused without being parsed.
    #[test]
    fn oversized_file_is_refused() {
        let fixture = Fixture::new();
        let big = format!(
            r#"{{"version": "1.0.0", "hook": {{"path": "{}"}}, "when": {{"always": true}}, "stages": [], "pad": "{}"}}"#,
            fixture.hook_path(),
            " ".repeat(usize::try_from(MAX_HOOK_FILE_SIZE).unwrap())
        );
        let file = fixture.write("d", "big.json", &big);
        match HookConfig::read(&file) {
            Err(HookFileError::TooLarge { size }) => {
                assert_eq!(size, u64::try_from(big.len()).unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Robustness: arbitrary bytes, deep nesting and invalid UTF-8 give an
    /// error, never a panic.
    #[test]
    fn garbage_never_panics() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\xff\xfe\x00".to_vec(),
            deep.into_bytes(),
            [
                &br#"{"version": "1.0.0", "hook": {"path": "/x"#[..],
                b"\xff",
                br#""}, "when": {"always": true}, "stages": []}"#,
            ]
            .concat(),
            br#"{"version": "1.0.0", "hook": {"path": "/x", "timeout": 99999999999999999999}}"#
                .to_vec(),
        ];
        let results: Vec<bool> = inputs
            .iter()
            .map(|bytes| HookConfig::parse(bytes).is_ok())
            .collect();
        // Only the invalid-UTF-8 path is accepted (replaced, as Go does).
        assert_eq!(results, [false, false, false, true, false]);
        let config = HookConfig::parse(&inputs[3]).unwrap();
        assert_eq!(config.hook.path, "/x\u{fffd}");
    }

    // --- Matching (schema 1.0.0, all conditions must hold) ----------------

    /// Fact: `always: true` matches any container; `always: false` makes
    /// `Match` return false at once, even if other conditions hold.
    #[test]
    fn always_condition() {
        let any = input(&["/bin/sh"], &[], true);
        assert!(matches(&parse_when(r#"{"always": true}"#), &any));
        assert!(matches(
            &parse_when(r#"{"always": true}"#),
            &input(&[], &[], false)
        ));
        assert!(!matches(&parse_when(r#"{"always": false}"#), &any));
        assert!(!matches(
            &parse_when(r#"{"always": false, "hasBindMounts": true}"#),
            &any
        ));
    }

    /// Fact: `when` without conditions is accepted by `Validate` but
    /// `Match` needs at least one condition that held (`matches > 0`).
    #[test]
    fn no_condition_never_matches() {
        let config = parse_when("{}");
        assert!(!matches(&config, &input(&["/bin/sh"], &[("a", "b")], true)));
        let config =
            parse(r#"{"version": "1.0.0", "hook": {"path": "/x"}, "stages": []}"#).unwrap();
        assert!(!matches(&config, &input(&["/bin/sh"], &[], true)));
    }

    /// Fact: `hasBindMounts` holds only when it is true and the caller has
    /// bind mounts; `false` never holds (it fails the match).
    #[test]
    fn has_bind_mounts_condition() {
        let wants = parse_when(r#"{"hasBindMounts": true}"#);
        assert!(matches(&wants, &input(&["/bin/sh"], &[], true)));
        assert!(!matches(&wants, &input(&["/bin/sh"], &[], false)));
        let refuses = parse_when(r#"{"hasBindMounts": false}"#);
        assert!(!matches(&refuses, &input(&["/bin/sh"], &[], false)));
        assert!(!matches(&refuses, &input(&["/bin/sh"], &[], true)));
    }

    /// Fact: every key/value pattern pair must be met by one annotation
    /// whose key matches the key pattern and whose value matches the value
    /// pattern (upstream's when_test: "matching both"/"matching one").
    #[test]
    fn annotations_condition_needs_every_pair() {
        let config = parse_when(r#"{"annotations": {"^a$": "^b$", "^c$": "^d$"}}"#);
        assert!(matches(
            &config,
            &input(&[], &[("a", "b"), ("c", "d"), ("e", "f")], false)
        ));
        assert!(!matches(&config, &input(&[], &[("a", "b")], false)));
        // Key matches but value does not, and the other way round.
        assert!(!matches(
            &config,
            &input(&[], &[("a", "bc"), ("c", "d")], false)
        ));
        assert!(!matches(
            &config,
            &input(&[], &[("ac", "b"), ("c", "d")], false)
        ));
        // Key and value must come from the same annotation.
        assert!(!matches(
            &config,
            &input(&[], &[("a", "x"), ("z", "b"), ("c", "d")], false)
        ));
        // No annotations at all.
        assert!(!matches(&config, &input(&[], &[], false)));
    }

    /// Fact: patterns are searched for (`regexp.MatchString`), not
    /// anchored, as in the man page's `.*fluid-dynamics$` example.
    #[test]
    fn patterns_are_unanchored() {
        let config = parse_when(r#"{"annotations": {"department": "fluid"}}"#);
        assert!(matches(
            &config,
            &input(
                &[],
                &[("com.example.department", "cfd-fluid-dynamics")],
                false
            )
        ));
        let config = parse_when(r#"{"commands": ["sh"]}"#);
        assert!(matches(&config, &input(&["/usr/bin/bash"], &[], false)));
    }

    /// Fact: `commands` are matched against `process.args[0]` only, any
    /// pattern of the list suffices (man page: `.*/init$`, `.*/systemd$`).
    #[test]
    fn commands_condition_uses_first_argument() {
        let config = parse_when(r#"{"commands": [".*/init$", ".*/systemd$"]}"#);
        assert!(matches(&config, &input(&["/sbin/init"], &[], false)));
        assert!(matches(
            &config,
            &input(&["/usr/lib/systemd", "--user"], &[], false)
        ));
        assert!(!matches(
            &config,
            &input(&["/bin/sh", "/sbin/init"], &[], false)
        ));
        let exact = parse_when(r#"{"commands": ["^/bin/sh$"]}"#);
        assert!(!matches(
            &exact,
            &input(&["/bin/shell", "a", "b"], &[], false)
        ));
    }

    /// Fact: with `commands` set, a container without arguments makes
    /// `Match` fail ("process.args must have at least one entry"), and
    /// `Manager.Hooks` reports the hook's file name.
    #[test]
    fn commands_without_args_is_an_error() {
        let config = parse_when(r#"{"commands": ["^/bin/sh$"]}"#);
        assert_eq!(config.when.matches(&input(&[], &[], false)), Err(EmptyArgs));
        let set = HookSet::from_configs([("a.json", config)]);
        let error = set.hooks(&input(&[], &[], false)).unwrap_err();
        assert_eq!(error.hook, "a.json");
        assert_eq!(
            error.to_string(),
            "matching hook \"a.json\": process.args must have at least one entry"
        );
        // A failed earlier condition returns before the commands are reached.
        let config = parse_when(r#"{"always": false, "commands": ["^/bin/sh$"]}"#);
        assert_eq!(config.when.matches(&input(&[], &[], false)), Ok(false));
    }

    /// Fact: in the 1.0.0 schema all conditions set must hold (man page:
    /// "If *all* of the conditions set in `when` match"; upstream's
    /// `TestHasBindMountsAndCommands`).
    #[test]
    fn conditions_combine_with_and() {
        let config = parse_when(
            r#"{"always": true, "hasBindMounts": true,
                "annotations": {"^team$": "^a$"}, "commands": ["^/bin/sh$"]}"#,
        );
        assert!(matches(
            &config,
            &input(&["/bin/sh"], &[("team", "a")], true)
        ));
        assert!(!matches(
            &config,
            &input(&["/bin/sh"], &[("team", "a")], false)
        ));
        assert!(!matches(
            &config,
            &input(&["/bin/sh"], &[("team", "b")], true)
        ));
        assert!(!matches(
            &config,
            &input(&["/bin/bash"], &[("team", "a")], true)
        ));
    }

    // --- Legacy schema 0.1.0 ----------------------------------------------

    /// Fact: 0.1.0 `hook` is the path, `args` is the path followed by
    /// `arguments`; a file without version is read as 0.1.0.
    #[test]
    fn legacy_schema_is_converted() {
        for version in [r#""version": "0.1.0","#, "", r#""version": "","#] {
            let config = parse(&format!(
                r#"{{{version} "hook": "/usr/libexec/oci-umount", "arguments": ["--debug"],
                    "hasbindmounts": true, "stages": ["prestart"]}}"#
            ))
            .unwrap();
            assert_eq!(config.version, SchemaVersion::V0_1_0);
            assert_eq!(config.hook.path, "/usr/libexec/oci-umount");
            assert_eq!(config.hook.args, ["/usr/libexec/oci-umount", "--debug"]);
            assert_eq!(config.when.has_bind_mounts, Some(true));
            assert!(config.when.any_of);
            assert_eq!(config.stages, [Stage::Prestart]);
        }
        // Without `arguments`, `args` stays empty.
        let config = parse(r#"{"hook": "/x", "stages": []}"#).unwrap();
        assert!(config.hook.args.is_empty());
    }

    /// Fact: `stage`, `cmd` and `annotation` are synonyms of the plural
    /// properties, and setting both is an error; `hook` and `stages` are
    /// required.
    #[test]
    fn legacy_synonyms_and_required_properties() {
        let config = parse(
            r#"{"hook": "/x", "stage": ["poststop"], "cmd": ["^/bin/sh$"], "annotation": ["v"]}"#,
        )
        .unwrap();
        assert_eq!(config.stages, [Stage::Poststop]);
        assert_eq!(config.when.commands.len(), 1);
        assert_eq!(config.when.annotations.len(), 1);

        let both = [
            (r#""stages": [], "stage": []"#, ("stage", "stages")),
            (r#""stages": [], "cmds": [], "cmd": []"#, ("cmd", "cmds")),
            (
                r#""stages": [], "annotations": [], "annotation": []"#,
                ("annotation", "annotations"),
            ),
        ];
        for (members, names) in both {
            match parse(&format!(r#"{{"hook": "/x", {members}}}"#)) {
                Err(HookFileError::BothSet(a, b)) => assert_eq!((a, b), names),
                other => panic!("{members}: unexpected {other:?}"),
            }
        }
        assert!(matches!(parse("{}"), Err(HookFileError::MissingHook)));
        assert!(matches!(
            parse(r#"{"hook": "/x"}"#),
            Err(HookFileError::MissingStages)
        ));
        assert!(matches!(
            parse(r#"{"hook": "", "stages": []}"#),
            Err(HookFileError::MissingPath)
        ));
    }

    /// Fact: legacy conditions are any-of (`Or`); the legacy annotation
    /// patterns are joined with `|` and matched against the value of any
    /// annotation (key pattern `.*`); a reached `cmds` list that does not
    /// match decides "no match".
    #[test]
    fn legacy_conditions_combine_with_or() {
        let config = parse(
            r#"{"hook": "/x", "stages": ["prestart"], "hasbindmounts": true,
                "annotations": ["^fluid$", "^solid$"], "cmds": ["^/bin/sh$"]}"#,
        )
        .unwrap();
        assert_eq!(config.when.annotations.len(), 1);
        assert_eq!(config.when.annotations[0].0.as_str(), ".*");
        assert_eq!(config.when.annotations[0].1.as_str(), "^fluid$|^solid$");
        // Bind mounts alone suffice.
        assert!(matches(&config, &input(&["/bin/bash"], &[], true)));
        // An annotation value alone suffices, whatever its key.
        assert!(matches(
            &config,
            &input(&["/bin/bash"], &[("any", "solid")], false)
        ));
        // The command alone suffices.
        assert!(matches(&config, &input(&["/bin/sh"], &[], false)));
        // Nothing holds.
        assert!(!matches(
            &config,
            &input(&["/bin/bash"], &[("any", "gas")], false)
        ));
        // Without cmds and without anything holding: no match.
        let config = parse(r#"{"hook": "/x", "stages": [], "hasbindmounts": true}"#).unwrap();
        assert!(!matches(&config, &input(&["/bin/sh"], &[], false)));
    }

    /// Fact: a present but empty legacy `annotations` list becomes the value
    /// pattern "" for key `.*`, which any annotation meets.
    #[test]
    fn legacy_empty_annotation_list_matches_any_annotation() {
        let config = parse(r#"{"hook": "/x", "stages": [], "annotations": []}"#).unwrap();
        assert!(matches(&config, &input(&[], &[("k", "v")], false)));
        assert!(!matches(&config, &input(&[], &[], false)));
    }

    // --- Output: stages and order -----------------------------------------

    /// Fact: `Manager.Hooks` puts `prestart` and `createRuntime` hooks in
    /// `CreateRuntime`, the others in their own lists, once per listed
    /// stage; NRI's `prestart` list stays empty.
    #[test]
    fn stages_map_to_hook_lists() {
        let config = parse(
            r#"{"version": "1.0.0", "hook": {"path": "/x", "timeout": 1}, "when": {"always": true},
                "stages": ["prestart", "createRuntime", "createContainer", "startContainer",
                           "poststart", "poststop", "poststop"]}"#,
        )
        .unwrap();
        let set = HookSet::from_configs([("a.json", config)]);
        let hooks = set.hooks(&MatchInput::default()).unwrap().unwrap();
        assert!(hooks.prestart.is_empty());
        assert_eq!(timeouts(&hooks.create_runtime), [1, 1]);
        assert_eq!(timeouts(&hooks.create_container), [1]);
        assert_eq!(timeouts(&hooks.start_container), [1]);
        assert_eq!(timeouts(&hooks.poststart), [1]);
        assert_eq!(timeouts(&hooks.poststop), [1, 1]);
        assert_eq!(hooks.create_container[0].path, "/x");
    }

    /// Fact: hooks are injected in the order of their lower-cased file
    /// names (man page and upstream's `TestGoodNew`: `01-my-hook.json`,
    /// `01-UPPERCASE.json`, `02-another-hook.json`), each stage list in
    /// that order.
    #[test]
    fn hooks_are_ordered_by_lowercased_file_name() {
        let fixture = Fixture::new();
        fixture.write_always("d", "02-another-hook.json", 3);
        fixture.write_always("d", "01-UPPERCASE.json", 2);
        fixture.write_always("d", "01-my-hook.json", 1);
        // Byte order would put "01-UPPERCASE" first ('U' < 'm').
        let (set, problems) = HookSet::load(&[fixture.dir("d")]).unwrap();
        assert!(problems.is_empty());
        let names: Vec<_> = set.iter().map(|(name, _)| name.to_owned()).collect();
        assert_eq!(
            names,
            [
                "01-my-hook.json",
                "01-UPPERCASE.json",
                "02-another-hook.json"
            ]
        );
        let hooks = set.hooks(&MatchInput::default()).unwrap().unwrap();
        assert_eq!(timeouts(&hooks.poststop), [1, 2, 3]);
        assert_eq!(hooks.poststop[0].path, fixture.hook_path());
    }

    /// Fact: only matching hooks are injected, in order; nothing matching
    /// leaves `spec.Hooks` nil, so the plugin makes no adjustment.
    #[test]
    fn only_matching_hooks_are_returned() {
        let always = parse(
            r#"{"version": "1.0.0", "hook": {"path": "/a", "timeout": 1}, "when": {"always": true}, "stages": ["poststart"]}"#,
        )
        .unwrap();
        let busybox = parse(
            r#"{"version": "1.0.0", "hook": {"path": "/b", "timeout": 2}, "when": {"commands": ["busybox"]}, "stages": ["poststart"]}"#,
        )
        .unwrap();
        let mounts = parse(
            r#"{"version": "1.0.0", "hook": {"path": "/c", "timeout": 3}, "when": {"hasBindMounts": true}, "stages": ["poststart"]}"#,
        )
        .unwrap();
        let set =
            HookSet::from_configs([("c.json", mounts), ("b.json", busybox), ("a.json", always)]);
        let got = set
            .hooks(&input(&["/bin/busybox"], &[], false))
            .unwrap()
            .unwrap();
        assert_eq!(timeouts(&got.poststart), [1, 2]);
        let got = set.hooks(&input(&["/bin/sh"], &[], true)).unwrap().unwrap();
        assert_eq!(timeouts(&got.poststart), [1, 3]);

        let set = HookSet::from_configs([("b.json", parse_when(r#"{"always": false}"#))]);
        assert_eq!(set.hooks(&input(&["/bin/sh"], &[], true)).unwrap(), None);
        assert_eq!(
            HookSet::default().hooks(&MatchInput::default()).unwrap(),
            None
        );
    }

    /// Fact: a matching hook with an empty stage list still makes
    /// `spec.Hooks` non-nil, so upstream returns an (empty) hooks
    /// adjustment.
    #[test]
    fn matching_hook_without_stages_gives_empty_hooks() {
        let config =
            parse(r#"{"version": "1.0.0", "hook": {"path": "/x"}, "when": {"always": true}, "stages": []}"#)
                .unwrap();
        let set = HookSet::from_configs([("a.json", config)]);
        assert_eq!(
            set.hooks(&MatchInput::default()).unwrap(),
            Some(Hooks::default())
        );
    }

    // --- Directories --------------------------------------------------------

    /// Fact: later directories override files of the same name from
    /// earlier ones (`ReadDir` clobbers map entries by file name); other
    /// names from both directories are kept.
    #[test]
    fn later_directory_overrides_same_file_name() {
        let fixture = Fixture::new();
        fixture.write_always("usr", "10-shared.json", 1);
        fixture.write_always("usr", "20-default-only.json", 2);
        fixture.write_always("etc", "10-shared.json", 3);
        fixture.write_always("etc", "30-override-only.json", 4);
        let dirs = [fixture.dir("usr"), fixture.dir("etc")];
        let (set, problems) = HookSet::load(&dirs).unwrap();
        assert!(problems.is_empty());
        let hooks = set.hooks(&MatchInput::default()).unwrap().unwrap();
        assert_eq!(timeouts(&hooks.poststop), [3, 2, 4]);

        // The preference follows the order of the list, not the names.
        let reversed = [fixture.dir("etc"), fixture.dir("usr")];
        let (set, _) = HookSet::load(&reversed).unwrap();
        let hooks = set.hooks(&MatchInput::default()).unwrap().unwrap();
        assert_eq!(timeouts(&hooks.poststop), [1, 2, 4]);
    }

    /// Fact: only names ending in ".json" are read (case-sensitive suffix,
    /// `ErrNoJSONSuffix` is skipped); missing directories are skipped
    /// (`os.ErrNotExist`).
    #[test]
    fn non_json_files_and_missing_directories_are_skipped() {
        let fixture = Fixture::new();
        fixture.write_always("d", "hook.json", 1);
        fixture.write("d", "README", "not a hook");
        fixture.write("d", "hook.JSON", "not a hook either");
        fixture.write("d", "hook.json.bak", "{");
        let dirs = [fixture.root.path().join("missing"), fixture.dir("d")];
        let (set, problems) = HookSet::load(&dirs).unwrap();
        assert!(problems.is_empty());
        assert_eq!(set.len(), 1);
        let (empty, problems) = HookSet::load(&[fixture.root.path().join("missing")]).unwrap();
        assert!(empty.is_empty());
        assert!(problems.is_empty());
    }

    /// Fact: a file that vanishes or dangles (`os.ErrNotExist` on the file's
    /// own path) is skipped without an error.
    #[test]
    fn dangling_symlink_is_skipped() {
        let fixture = Fixture::new();
        fixture.write_always("d", "good.json", 1);
        std::os::unix::fs::symlink("/does/not/exist.json", fixture.dir("d").join("gone.json"))
            .unwrap();
        let (set, problems) = HookSet::load(&[fixture.dir("d")]).unwrap();
        assert!(problems.is_empty());
        assert_eq!(set.len(), 1);
    }

    /// Fact: `hooks.New` fails when a directory holds an invalid hook file
    /// (upstream's `TestBadNew`), and when a directory cannot be listed.
    #[test]
    fn load_fails_on_invalid_file_or_unlistable_directory() {
        let fixture = Fixture::new();
        fixture.write_always("d", "b-good.json", 1);
        fixture.write("d", "a.json", r#"{"version": "-1"}"#);
        match HookSet::load(&[fixture.dir("d")]) {
            Err(LoadError::File { path, source }) => {
                assert_eq!(path, fixture.dir("d").join("a.json"));
                assert!(matches!(source, HookFileError::UnknownVersion(_)));
            }
            other => panic!("unexpected {other:?}"),
        }

        let not_a_dir = fixture.write("e", "file", "");
        match HookSet::load(std::slice::from_ref(&not_a_dir)) {
            Err(LoadError::Directory { dir, .. }) => assert_eq!(dir, not_a_dir),
            other => panic!("unexpected {other:?}"),
        }
        // A directory named like a hook file is an invalid file.
        fs::create_dir(fixture.dir("f").join("sub.json")).unwrap();
        assert!(matches!(
            HookSet::load(&[fixture.dir("f")]),
            Err(LoadError::File {
                source: HookFileError::NotRegularFile,
                ..
            })
        ));
    }

    /// Fact (quirk): `hooks.New` ignores a directory's error when its first
    /// error (files in name order) is "not exist", i.e. a missing hook
    /// executable, so later invalid files of that directory are skipped too.
    #[test]
    fn load_tolerates_directory_whose_first_error_is_missing_executable() {
        let fixture = Fixture::new();
        fixture.write(
            "d",
            "a-missing.json",
            r#"{"version": "1.0.0", "hook": {"path": "/does/not/exist"}, "when": {"always": true}, "stages": []}"#,
        );
        fixture.write("d", "b-broken.json", "{");
        fixture.write_always("d", "c-good.json", 1);
        let (set, tolerated) = HookSet::load(&[fixture.dir("d")]).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.iter().next().unwrap().0, "c-good.json");
        assert_eq!(tolerated.len(), 2);
        assert!(matches!(
            &tolerated[1],
            LoadError::File {
                source: HookFileError::Json(_),
                ..
            }
        ));

        // The other way round, the broken file is first and fatal.
        fixture.write(
            "e",
            "b-missing.json",
            r#"{"version": "1.0.0", "hook": {"path": "/does/not/exist"}, "when": {"always": true}, "stages": []}"#,
        );
        fixture.write("e", "a-broken.json", "{");
        assert!(matches!(
            HookSet::load(&[fixture.dir("e")]),
            Err(LoadError::File {
                source: HookFileError::Json(_),
                ..
            })
        ));
    }

    /// Fact: the monitor's reload logs every error and keeps the valid
    /// files; an invalid file does not clobber the same name from an
    /// earlier directory.
    #[test]
    fn reload_keeps_valid_files_and_reports_the_rest() {
        let fixture = Fixture::new();
        fixture.write_always("usr", "shared.json", 1);
        fixture.write("etc", "shared.json", r#"{"version": "1.0.0"}"#);
        fixture.write_always("etc", "other.json", 2);
        fixture.write("etc", "stages.json", &format!(
            r#"{{"version": "1.0.0", "hook": {{"path": "{}"}}, "when": {{"always": true}}, "stages": ["later"]}}"#,
            fixture.hook_path()
        ));
        let not_a_dir = fixture.write("x", "file", "");
        let dirs = [fixture.dir("usr"), fixture.dir("etc"), not_a_dir];
        let (set, problems) = HookSet::reload(&dirs);
        let names: Vec<_> = set.iter().map(|(name, _)| name.to_owned()).collect();
        assert_eq!(names, ["other.json", "shared.json"]);
        let hooks = set.hooks(&MatchInput::default()).unwrap().unwrap();
        assert_eq!(timeouts(&hooks.poststop), [2, 1]);
        assert_eq!(problems.len(), 3);
        assert!(matches!(
            &problems[0],
            LoadError::File {
                source: HookFileError::MissingPath,
                ..
            }
        ));
        assert!(matches!(
            &problems[1],
            LoadError::File { source: HookFileError::UnknownStage(stage), .. } if stage == "later"
        ));
        assert!(matches!(&problems[2], LoadError::Directory { .. }));
        // `load` on the same directories fails instead.
        assert!(HookSet::load(&dirs[..2]).is_err());
    }

    // --- The plugin's CreateContainer ----------------------------------------

    fn pod(annotations: &[(&str, &str)]) -> PodSandbox {
        PodSandbox {
            name: "pod".into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..PodSandbox::default()
        }
    }

    fn container(args: &[&str], annotations: &[(&str, &str)], mounts: usize) -> Container {
        Container {
            name: "ctr".into(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            mounts: (0..mounts)
                .map(|i| Mount {
                    destination: format!("/m{i}"),
                    source: "/tmp".into(),
                    r#type: "bind".into(),
                    options: vec!["rbind".into()],
                })
                .collect(),
            ..Container::default()
        }
    }

    /// Fact (hook-injector.go): annotations are the container's, then the
    /// pod's copied over them (the pod wins); args are the container's;
    /// `hasBindMounts` is "the container has mounts".
    #[test]
    fn match_input_from_pod_and_container() {
        let input = MatchInput::new(
            &pod(&[("shared", "from-pod"), ("pod-only", "p")]),
            &container(
                &["/bin/sh", "-c"],
                &[("shared", "from-ctr"), ("ctr-only", "c")],
                1,
            ),
        );
        assert_eq!(input.args, ["/bin/sh", "-c"]);
        assert_eq!(
            input.annotations,
            BTreeMap::from([
                ("ctr-only".to_owned(), "c".to_owned()),
                ("pod-only".to_owned(), "p".to_owned()),
                ("shared".to_owned(), "from-pod".to_owned()),
            ])
        );
        assert!(input.has_bind_mounts);
        assert!(!MatchInput::new(&pod(&[]), &container(&[], &[], 0)).has_bind_mounts);
    }

    /// Fact: the plugin returns the matching hooks as the adjustment's
    /// hooks (nothing else), or no adjustment when nothing matches; a
    /// matching error fails CreateContainer.
    #[test]
    fn adjustment_for_container() {
        let fixture = Fixture::new();
        fixture.write(
            "d",
            "busybox-inject.json",
            &format!(
                r#"{{"version": "1.0.0",
                    "hook": {{"path": "{}", "args": ["demo-hook", "busybox"], "env": ["X=1"]}},
                    "when": {{"annotations": {{"^inject-hook$": "^busybox$"}}}},
                    "stages": ["prestart", "poststop"]}}"#,
                fixture.hook_path()
            ),
        );
        fixture.write(
            "d",
            "mounts.json",
            &format!(
                r#"{{"version": "1.0.0", "hook": {{"path": "{}"}},
                    "when": {{"hasBindMounts": true, "commands": ["^/bin/sh$"]}},
                    "stages": ["createContainer"]}}"#,
                fixture.hook_path()
            ),
        );
        let (set, _) = HookSet::load(&[fixture.dir("d")]).unwrap();

        // The annotation comes from the pod and overrides the container's.
        let adjust = set
            .adjustment_for(
                &pod(&[("inject-hook", "busybox")]),
                &container(&["/bin/sh"], &[("inject-hook", "other")], 0),
            )
            .unwrap()
            .unwrap();
        let expected = Hook {
            path: fixture.hook_path(),
            args: vec!["demo-hook".into(), "busybox".into()],
            env: vec!["X=1".into()],
            timeout: None,
        };
        assert_eq!(
            adjust,
            ContainerAdjustment {
                hooks: Some(Hooks {
                    create_runtime: vec![expected.clone()],
                    poststop: vec![expected],
                    ..Hooks::default()
                }),
                ..ContainerAdjustment::default()
            }
        );

        // The container's own annotation loses to the pod's.
        assert_eq!(
            set.adjustment_for(
                &pod(&[("inject-hook", "other")]),
                &container(&["/bin/sh"], &[("inject-hook", "busybox")], 0),
            )
            .unwrap(),
            None
        );

        // Mounts and the command select the other hook.
        let hooks = set
            .hooks_for(&pod(&[]), &container(&["/bin/sh"], &[], 2))
            .unwrap()
            .unwrap();
        assert_eq!(hooks.create_container.len(), 1);
        assert!(hooks.create_runtime.is_empty());

        // With mounts but no args, the commands condition fails matching.
        let error = set
            .adjustment_for(&pod(&[]), &container(&[], &[], 1))
            .unwrap_err();
        assert_eq!(error.hook, "mounts.json");
    }

    /// The default directories are upstream's `hooks.DefaultDir` then
    /// `hooks.OverrideDir`.
    #[test]
    fn default_directories() {
        assert_eq!(
            DEFAULT_DIRS,
            [
                "/usr/share/containers/oci/hooks.d",
                "/etc/containers/oci/hooks.d"
            ]
        );
    }
}

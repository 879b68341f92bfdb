//! What a scenario run produced: per step, the calls each plugin was sent
//! and what it returned, the merged result, updates, evictions, errors,
//! expectations and timings. Serialized as `nri-harness run --json`.

use serde::Serialize;

use super::recorder::{Answer, Call, Direction};

/// A registered plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginSeen {
    /// `NN-name`.
    pub plugin: String,
    /// `launched` (with its pid) or `external`.
    pub origin: String,
    /// The events it subscribed to.
    pub events: String,
}

/// How a step's error came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A plugin failed the event.
    Plugin,
    /// Plugins' adjustments conflict, or one asked for what is not allowed.
    Conflict,
    /// A validator rejected the merged adjustment, or failed.
    Validation,
    /// The harness could not carry out the step.
    Harness,
}

/// A step's error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepError {
    /// How it came about.
    pub kind: ErrorKind,
    /// The message.
    pub message: String,
}

/// One step, or the start-up (step 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOutcome {
    /// Its number, from 1 (0 is the start-up).
    pub number: usize,
    /// What it did, e.g. `create shop/web/nginx`.
    pub action: String,
    /// Wall time of the step, in microseconds.
    pub micros: u64,
    /// Every call between the runtime and plugins during the step.
    pub calls: Vec<Call>,
    /// The merged adjustment of a create, as protobuf JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<serde_json::Value>,
    /// The merged resources of an update, as protobuf JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<serde_json::Value>,
    /// Container updates the runtime applied during the step.
    pub updates: Vec<serde_json::Value>,
    /// Evictions the runtime carried out during the step.
    pub evictions: Vec<serde_json::Value>,
    /// Updates or evictions that failed.
    pub failures: Vec<String>,
    /// The step's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// Plugins that were registered before the step and are gone after.
    pub plugins_lost: Vec<String>,
    /// Whether an `expect:` was given.
    pub expected: bool,
    /// Where the outcome differs from `expect:` (empty: it matched).
    pub mismatches: Vec<String>,
    /// Whether the step counts as failed: a mismatch, or an error or lost
    /// plugin that `expect:` did not foresee.
    pub failed: bool,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The scenario's name.
    pub scenario: String,
    /// The transport used.
    pub transport: String,
    /// The plugins registered after start-up, in invocation order.
    pub plugins: Vec<PluginSeen>,
    /// The start-up (step 0) and every step.
    pub steps: Vec<StepOutcome>,
    /// Wall time of the whole run, in microseconds.
    pub micros: u64,
}

impl Outcome {
    /// Whether the run failed (some step failed).
    pub fn failed(&self) -> bool {
        self.steps.iter().any(|s| s.failed)
    }

    /// The steps that failed.
    pub fn failures(&self) -> impl Iterator<Item = &StepOutcome> {
        self.steps.iter().filter(|s| s.failed)
    }
}

impl Call {
    /// Whether the call ended in an error.
    pub fn failed(&self) -> bool {
        matches!(self.answer, Answer::Error(_))
    }

    /// Whether the plugin made the call.
    pub fn from_plugin(&self) -> bool {
        self.direction == Direction::ToRuntime
    }
}

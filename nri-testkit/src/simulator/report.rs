//! The readable report of a run: per step, what each plugin was sent and
//! returned, the merged result, updates, evictions, errors, expectations
//! and timings. Messages are shortened here; `--json` has them whole.

use std::fmt::Write as _;

use serde_json::Value;

use super::outcome::{Outcome, StepOutcome};
use super::recorder::{Answer, Call, Direction};

/// Longest message shown on one line before it is cut.
const MAX_MESSAGE: usize = 160;

/// The report of `outcome`.
pub fn render(outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "nri-harness: scenario {:?} over {}, {} plugin(s) registered",
        outcome.scenario,
        outcome.transport,
        outcome.plugins.len()
    );
    for plugin in &outcome.plugins {
        let _ = writeln!(
            out,
            "  {:<22} {:<20} events: {}",
            plugin.plugin, plugin.origin, plugin.events
        );
    }
    for step in &outcome.steps {
        out.push('\n');
        render_step(&mut out, step);
    }
    let failed: Vec<String> = outcome
        .failures()
        .map(|s| format!("[{}] {}", s.number, s.action))
        .collect();
    let calls: usize = outcome.steps.iter().map(|s| s.calls.len()).sum();
    let _ = writeln!(
        out,
        "\nsummary: {} steps, {} calls, {} failed{}; total {}",
        outcome.steps.len().saturating_sub(1),
        calls,
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", failed.join(", "))
        },
        millis(outcome.micros)
    );
    let _ = writeln!(
        out,
        "result: {}",
        if outcome.failed() { "FAILED" } else { "ok" }
    );
    out
}

fn render_step(out: &mut String, step: &StepOutcome) {
    let status = if step.failed {
        "FAILED"
    } else if step.error.is_some() {
        "error (expected)"
    } else {
        "ok"
    };
    let _ = writeln!(
        out,
        "[{}] {:<58} {:>9}  {status}",
        step.number,
        step.action,
        millis(step.micros)
    );
    if step.calls.is_empty() && step.number > 0 {
        let _ = writeln!(out, "      (no plugin subscribes to this)");
    }
    for call in &step.calls {
        render_call(out, call);
    }
    if let Some(adjustment) = &step.adjustment {
        let _ = writeln!(out, "      merged adjustment: {}", short(adjustment));
    }
    if let Some(resources) = &step.resources {
        let _ = writeln!(out, "      merged resources: {}", short(resources));
    }
    for update in &step.updates {
        let _ = writeln!(out, "      runtime applied update: {}", short(update));
    }
    for eviction in &step.evictions {
        let _ = writeln!(out, "      runtime evicted: {}", short(eviction));
    }
    for failure in &step.failures {
        let _ = writeln!(out, "      failure: {failure}");
    }
    if let Some(error) = &step.error {
        let _ = writeln!(out, "      error ({:?}): {}", error.kind, error.message);
    }
    for lost in &step.plugins_lost {
        let _ = writeln!(out, "      plugin lost: {lost} (removed by the runtime)");
    }
    if step.expected {
        if step.mismatches.is_empty() {
            let _ = writeln!(out, "      expect: matched");
        }
        for mismatch in &step.mismatches {
            let _ = writeln!(out, "      expect MISMATCH: {mismatch}");
        }
    }
}

fn render_call(out: &mut String, call: &Call) {
    let arrow = match call.direction {
        Direction::ToPlugin => "runtime → plugin",
        Direction::ToRuntime => "plugin → runtime",
    };
    let answer = match &call.answer {
        Answer::Reply(reply) => reply_summary(&call.method, reply),
        Answer::Error(error) => format!("ERROR {error}"),
    };
    let _ = writeln!(
        out,
        "      {:<22} {arrow} {:<26} {} → {answer}  ({})",
        call.plugin,
        call.method,
        request_summary(call),
        millis(call.micros)
    );
}

/// What was sent, in a few words.
fn request_summary(call: &Call) -> String {
    let request = &call.request;
    let size = format!("{} B", call.request_bytes);
    match call.method.as_str() {
        "Configure" => format!(
            "runtime {} {}, config {} B",
            text(&request["runtime_name"]),
            text(&request["runtime_version"]),
            text(&request["config"]).len()
        ),
        "Synchronize" => format!(
            "{} pods, {} containers{} ({size})",
            count(&request["pods"]),
            count(&request["containers"]),
            if request["more"] == Value::Bool(true) {
                ", more follows"
            } else {
                ""
            }
        ),
        "RegisterPlugin" => format!(
            "{}-{}",
            text(&request["plugin_idx"]),
            text(&request["plugin_name"])
        ),
        "UpdateContainers" => short(request),
        "Shutdown" => String::new(),
        _ => {
            let pod = &request["pod"];
            let container = &request["container"];
            let mut target = format!("{}/{}", text(&pod["namespace"]), text(&pod["name"]));
            if container.is_object() {
                let _ = write!(target, "/{}", text(&container["name"]));
            }
            format!("{target} ({size})")
        }
    }
}

/// What came back, in a few words.
fn reply_summary(method: &str, reply: &Value) -> String {
    if method == "Configure" {
        let events = reply["events"].as_i64().unwrap_or(0);
        return match i32::try_from(events) {
            Ok(0) => "all events".into(),
            Ok(bits) => format!(
                "events {}",
                nri_core::proto::event::EventMask::from_bits(bits)
            ),
            Err(_) => format!("events {events:#x}"),
        };
    }
    match pruned(reply) {
        None => "ok".into(),
        Some(reply) => short(&reply),
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn count(value: &Value) -> usize {
    value.as_array().map_or(0, Vec::len)
}

/// `value` without empty objects and lists (messages present but empty,
/// which change nothing).
fn pruned(value: &Value) -> Option<Value> {
    match value {
        Value::Object(fields) => {
            let kept: serde_json::Map<String, Value> = fields
                .iter()
                .filter_map(|(k, v)| pruned(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(pruned).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => Some(other.clone()),
    }
}

/// `value` as compact JSON without empty parts, cut at [`MAX_MESSAGE`]
/// characters.
fn short(value: &Value) -> String {
    let full = pruned(value)
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
        .to_string();
    if full.chars().count() <= MAX_MESSAGE {
        return full;
    }
    let cut: String = full.chars().take(MAX_MESSAGE).collect();
    format!("{cut}… (--json has it whole)")
}

fn millis(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

//! Merging across plugins and conflicts (§5.7 C1–C11): plugins 00-bar and
//! 10-foo (bar runs first) adjust the same container. Without removal, two
//! plugins setting the same thing conflict; when foo first removes what it
//! then sets, foo's value wins.
//!
//! Comparisons ignore removal markers in env, mounts and devices of the
//! merged reply: upstream drops them when the same plugin re-adds the key,
//! nri-rs may keep them (Appendix B 3), and either way the effect is the
//! same.

use std::collections::BTreeMap;
use std::sync::Arc;

use nri_core::adaptation::EventError;
use nri_core::proto::api::{
    ContainerAdjustment, CreateContainerResponse, IoPrioClass, KeyValue, LinuxDevice,
    LinuxIoPriority, LinuxNetDevice, LinuxRdt, LinuxScheduler, Mount,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::proto::{optional, removal};
use nri_core::transport::{Method, PluginRequest, PluginResponse};

use super::fixture::{container, create_request, options, pod, start_with, within};
use super::harness::Harness;
use super::plugin::{Behaviour, ScriptedPlugin};
use super::samples::{adjust, create_reply, hooks, linux, resources};
use super::strip::strip_adjustment;

/// What a case expects.
enum Expect {
    /// The creation fails with a conflict naming both plugins.
    Conflict,
    /// The merged reply.
    Merged(Box<ContainerAdjustment>),
}

/// One case: what 00-bar (`first`) and 10-foo (`second`) answer, and the
/// outcome.
struct Case {
    name: &'static str,
    first: Behaviour,
    second: Behaviour,
    expect: Expect,
}

fn reply(adjustment: ContainerAdjustment) -> Behaviour {
    create_reply(Some(adjustment), Vec::new(), Vec::new())
}

fn annotations(entries: &[(&str, &str)]) -> ContainerAdjustment {
    let map = entries.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    adjust(|a| a.annotations = map.collect())
}

fn mounts(entries: &[(&str, &str)]) -> ContainerAdjustment {
    let list = entries.iter().map(|(destination, source)| Mount {
        destination: destination.to_string(),
        source: source.to_string(),
        ..Default::default()
    });
    adjust(|a| a.mounts = list.collect())
}

fn env(entries: &[(&str, &str)]) -> ContainerAdjustment {
    let list = entries.iter().map(|(key, value)| KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    });
    adjust(|a| a.env = list.collect())
}

fn devices(entries: &[(&str, i64)]) -> ContainerAdjustment {
    let list = entries.iter().map(|(path, minor)| LinuxDevice {
        path: path.to_string(),
        r#type: "c".into(),
        major: 313,
        minor: *minor,
        ..Default::default()
    });
    linux(|l| l.devices = list.collect())
}

fn net_devices(entries: &[(&str, &str)]) -> ContainerAdjustment {
    let map: BTreeMap<String, LinuxNetDevice> = entries
        .iter()
        .map(|(host, name)| {
            (
                host.to_string(),
                LinuxNetDevice {
                    name: name.to_string(),
                },
            )
        })
        .collect();
    linux(|l| l.net_devices = map)
}

fn rdt(tag: &str, remove: bool) -> ContainerAdjustment {
    linux(|l| {
        l.rdt = Some(LinuxRdt {
            clos_id: optional::string(tag),
            schemata: optional::strings([format!("L3:0={tag}")]),
            enable_monitoring: optional::bool(true),
            remove,
        });
    })
}

fn args(list: &[&str]) -> ContainerAdjustment {
    adjust(|a| a.args = list.iter().map(|s| s.to_string()).collect())
}

/// C4: foo replaces the args with "update" semantics (a leading empty
/// string), appending to the args it sees, which must already be bar's.
fn appending_args() -> Behaviour {
    Behaviour::With(Arc::new(|request| {
        let seen = match request {
            PluginRequest::CreateContainer(r) => r.container.as_ref().map(|c| c.args.clone()),
            _ => None,
        };
        let mut args = vec![String::new()];
        args.extend(seen.unwrap_or_default());
        args.push("twice...".into());
        let adjust = adjust(|a| a.args = args);
        Ok(PluginResponse::CreateContainer(Box::new(
            CreateContainerResponse {
                adjust: Some(adjust),
                ..Default::default()
            },
        )))
    }))
}

fn conflict(name: &'static str, first: ContainerAdjustment, second: ContainerAdjustment) -> Case {
    Case {
        name,
        first: reply(first),
        second: reply(second),
        expect: Expect::Conflict,
    }
}

fn merged(
    name: &'static str,
    first: ContainerAdjustment,
    second: ContainerAdjustment,
    expected: ContainerAdjustment,
) -> Case {
    Case {
        name,
        first: reply(first),
        second: reply(second),
        expect: Expect::Merged(Box::new(expected)),
    }
}

fn cases() -> Vec<Case> {
    let io = |priority| {
        linux(|l| {
            l.io_priority = Some(LinuxIoPriority {
                class: IoPrioClass::IoprioClassBe as i32,
                priority,
            })
        })
    };
    let sched = |nice| {
        linux(|l| {
            l.scheduler = Some(LinuxScheduler {
                nice,
                ..Default::default()
            })
        })
    };
    let classes = |tag: &str| {
        linux(|l| {
            l.resources = Some(resources(|r| {
                r.rdt_class = optional::string(tag);
                r.blockio_class = optional::string(tag);
            }))
        })
    };
    let rm = removal::mark("key");
    vec![
        conflict(
            "C1 annotation",
            annotations(&[("key", "00-bar")]),
            annotations(&[("key", "10-foo")]),
        ),
        merged(
            "C1 annotation with removal",
            annotations(&[("key", "00-bar")]),
            annotations(&[(&rm, ""), ("key", "10-foo")]),
            annotations(&[(&rm, ""), ("key", "10-foo")]),
        ),
        conflict(
            "C2 mount",
            mounts(&[("/mnt/test", "/dev/00-bar")]),
            mounts(&[("/mnt/test", "/dev/10-foo")]),
        ),
        merged(
            "C2 mount with removal",
            mounts(&[("/mnt/test", "/dev/00-bar")]),
            mounts(&[("-/mnt/test", ""), ("/mnt/test", "/dev/10-foo")]),
            mounts(&[("/mnt/test", "/dev/10-foo")]),
        ),
        conflict(
            "C3 env",
            env(&[("key", "00-bar")]),
            env(&[("key", "10-foo")]),
        ),
        merged(
            "C3 env with removal",
            env(&[("key", "00-bar")]),
            env(&[(&rm, ""), ("key", "10-foo")]),
            env(&[("key", "10-foo")]),
        ),
        conflict(
            "C4 args",
            args(&["echo", "00-bar"]),
            args(&["echo", "10-foo"]),
        ),
        Case {
            name: "C4 args with update semantics",
            first: reply(args(&["echo", "00-bar"])),
            second: appending_args(),
            expect: Expect::Merged(Box::new(args(&["echo", "00-bar", "twice..."]))),
        },
        merged(
            "C5 hooks accumulate",
            hooks(&["/bin/00-bar"]),
            hooks(&["/bin/10-foo"]),
            hooks(&["/bin/00-bar", "/bin/10-foo"]),
        ),
        conflict(
            "C6 device",
            devices(&[("/dev/test", 100)]),
            devices(&[("/dev/test", 110)]),
        ),
        merged(
            "C6 device with removal",
            devices(&[("/dev/test", 100)]),
            devices(&[("-/dev/test", 0), ("/dev/test", 110)]),
            devices(&[("/dev/test", 110)]),
        ),
        conflict(
            "C7 RDT and blockio class",
            classes("00-bar"),
            classes("10-foo"),
        ),
        conflict("C8 I/O priority", io(1), io(2)),
        conflict(
            "C9 net device",
            net_devices(&[("hostIf", "barIf")]),
            net_devices(&[("hostIf", "containerIf")]),
        ),
        merged(
            "C9 net device with removal",
            net_devices(&[("hostIf", "barIf")]),
            net_devices(&[("-hostIf", ""), ("hostIf", "containerIf")]),
            net_devices(&[("-hostIf", ""), ("hostIf", "containerIf")]),
        ),
        conflict("C10 scheduler", sched(1), sched(2)),
        conflict("C11 RDT", rdt("00-bar", false), rdt("10-foo", false)),
        merged(
            "C11 RDT with removal",
            rdt("00-bar", false),
            rdt("10-foo", true),
            rdt("10-foo", false),
        ),
    ]
}

/// Drops removal markers from env, mounts and devices.
fn settle(adjustment: Option<ContainerAdjustment>) -> Option<ContainerAdjustment> {
    let mut adjustment = adjustment?;
    adjustment.env.retain(|kv| !removal::is_marked(&kv.key));
    adjustment
        .mounts
        .retain(|m| !removal::is_marked(&m.destination));
    if let Some(linux) = adjustment.linux.as_mut() {
        linux.devices.retain(|d| !removal::is_marked(&d.path));
    }
    strip_adjustment(Some(adjustment))
}

fn judge(
    name: &str,
    expect: &Expect,
    outcome: Result<CreateContainerResponse, EventError>,
) -> Option<String> {
    match (expect, outcome) {
        (Expect::Conflict, Err(EventError::Merge(error))) => {
            let text = error.to_string();
            let named = text.contains("00-bar") && text.contains("10-foo");
            (!named).then(|| format!("{name}: conflict does not name both plugins: {text}"))
        }
        (Expect::Conflict, other) => Some(format!("{name}: expected a conflict, got {other:?}")),
        (Expect::Merged(expected), Ok(reply)) => {
            let got = settle(reply.adjust);
            (got.as_ref() != Some(&**expected))
                .then(|| format!("{name}: expected {expected:?}, got {got:?}"))
        }
        (Expect::Merged(_), Err(error)) => Some(format!("{name}: failed: {error}")),
    }
}

/// C1–C11. Reports every failing case at once.
pub async fn two_plugins(h: &dyn Harness) {
    let mask = EventMask::of([Event::CreateContainer]);
    let plugins = vec![
        ScriptedPlugin::new("10", "foo", mask),
        ScriptedPlugin::new("00", "bar", mask),
    ];
    let running = start_with(h, options(), plugins).await;
    let (second, first) = (running.plugin(0), running.plugin(1));
    let mut failures = Vec::new();
    for case in cases() {
        first.set(Method::CreateContainer, case.first);
        second.set(Method::CreateContainer, case.second);
        let request = create_request(&pod(0), &container(0, 0));
        let outcome = within(case.name, running.adaptation.create_container(request)).await;
        failures.extend(judge(case.name, &case.expect, outcome));
    }
    running.stop().await;
    assert!(failures.is_empty(), "{}: {failures:#?}", h.name());
}

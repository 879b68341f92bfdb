//! Updates of other containers during creation (§5.9 U1–U2), updates in
//! response to UpdateContainer (§5.10 U3–U4), and unsolicited updates
//! (§5.11 X1–X2, plus UpdateContainers called from inside an event
//! handler).

use std::time::Duration;

use nri_core::adaptation::EventError;
use nri_core::proto::api::{
    ContainerUpdate, LinuxResources, UpdateContainerRequest, UpdateContainersRequest,
    UpdateContainersResponse,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{Method, RuntimeRequest, RuntimeResponse};

use super::events::method_of;
use super::fixture::{
    Running, connect, container, create_request, options, pod, register, start_with, within,
};
use super::harness::Harness;
use super::plugin::{Behaviour, ScriptedPlugin};
use super::samples::{
    cpu, create_reply, eviction, memory, resource_groups, resources, update, update_reply,
};
use super::strip::strip_update;

/// §5.9–§5.10: U1–U4.
pub async fn solicited(h: &dyn Harness) {
    u1_u2_updates_during_creation(h).await;
    u3_u4_updates_during_update(h).await;
}

/// §5.11: X1, X2 and UpdateContainers from inside a handler.
pub async fn unsolicited(h: &dyn Harness) {
    x1_update_before_registration_fails(h).await;
    x2_update_reaches_the_runtime(h).await;
    update_from_inside_a_handler(h).await;
}

/// 00-bar and 10-foo, subscribed to `event`.
async fn bar_and_foo(h: &dyn Harness, event: Event) -> Running {
    let mask = EventMask::of([event]);
    let plugins = vec![
        ScriptedPlugin::new("00", "bar", mask),
        ScriptedPlugin::new("10", "foo", mask),
    ];
    start_with(h, options(), plugins).await
}

fn stripped(updates: Vec<ContainerUpdate>) -> Vec<ContainerUpdate> {
    updates.into_iter().map(strip_update).collect()
}

/// Checks one outcome: `None` expects a conflict.
fn judge(
    name: String,
    outcome: Result<Vec<ContainerUpdate>, EventError>,
    expected: Option<Vec<ContainerUpdate>>,
) -> Option<String> {
    match (outcome, expected) {
        (Err(EventError::Merge(_)), None) => None,
        (Ok(updates), Some(expected)) => {
            let got = stripped(updates);
            (got != expected).then(|| format!("{name}: expected {expected:?}, got {got:?}"))
        }
        (Err(error), _) => Some(format!("{name}: failed: {error}")),
        (Ok(_), None) => Some(format!("{name}: expected a conflict")),
    }
}

/// One round: the name, what 00-bar and 10-foo update ctr0 with, and the
/// resources of ctr0 expected in the reply (`None`: a conflict).
type Round = (
    &'static str,
    Option<LinuxResources>,
    Option<LinuxResources>,
    Option<LinuxResources>,
);

/// A reply to `event` updating ctr0 with `resources`.
fn updating(event: Event, resources: Option<LinuxResources>) -> Behaviour {
    let updates = resources.map(|r| update("ctr0", r)).into_iter().collect();
    if event == Event::CreateContainer {
        create_reply(None, updates, Vec::new())
    } else {
        update_reply(updates, Vec::new())
    }
}

/// Sends `event`: the creation of ctr1, or the update of ctr0 with
/// [`requested`] resources. Returns the reply's updates.
async fn send(running: &Running, event: Event) -> Result<Vec<ContainerUpdate>, EventError> {
    let adaptation = &running.adaptation;
    if event == Event::CreateContainer {
        let request = create_request(&pod(1), &container(1, 1));
        return adaptation.create_container(request).await.map(|r| r.update);
    }
    let request = UpdateContainerRequest {
        pod: Some(pod(0)),
        container: Some(container(0, 0)),
        linux_resources: Some(requested()),
    };
    adaptation.update_container(request).await.map(|r| r.update)
}

/// Plays `plan`'s rounds for each of the five resource groups, with bar's
/// and foo's values of the group. Reports every failing round at once.
async fn play(
    h: &dyn Harness,
    event: Event,
    plan: fn(LinuxResources, LinuxResources) -> [Round; 3],
) {
    let running = bar_and_foo(h, event).await;
    let (first, second) = (running.plugin(0), running.plugin(1));
    let method = method_of(event);
    let groups = resource_groups("00-bar", 0)
        .into_iter()
        .zip(resource_groups("10-foo", 10));
    let mut failures = Vec::new();
    for ((group, ours), (_, theirs)) in groups {
        for (round, from_first, from_second, expected) in plan(ours.clone(), theirs) {
            first.set(method, updating(event, from_first));
            second.set(method, updating(event, from_second));
            let outcome = within(round, send(&running, event)).await;
            let expected = expected.map(|r| vec![update("ctr0", r)]);
            failures.extend(judge(format!("{round} {group}"), outcome, expected));
        }
    }
    running.stop().await;
    assert!(failures.is_empty(), "{}: {failures:#?}", h.name());
}

/// U1–U2: while ctr1 is created, plugins update ctr0. One plugin: its
/// update comes back as is; two plugins setting the same group conflict;
/// only foo: foo's values. For each of the five resource groups.
pub async fn u1_u2_updates_during_creation(h: &dyn Harness) {
    play(h, Event::CreateContainer, |ours, theirs| {
        [
            ("U1", Some(ours.clone()), None, Some(ours.clone())),
            ("U2 both", Some(ours), Some(theirs.clone()), None),
            ("U2 only foo", None, Some(theirs.clone()), Some(theirs)),
        ]
    })
    .await;
}

/// The resources requested for ctr0 in U3–U4.
fn requested() -> LinuxResources {
    resources(|r| {
        r.cpu = Some(cpu(900));
        r.memory = Some(memory(9000));
    })
}

/// `base` with the groups `over` sets replaced or added.
fn overlay(mut base: LinuxResources, over: LinuxResources) -> LinuxResources {
    base.cpu = over.cpu.or(base.cpu);
    base.memory = over.memory.or(base.memory);
    base.rdt_class = over.rdt_class.or(base.rdt_class);
    base.blockio_class = over.blockio_class.or(base.blockio_class);
    base.hugepage_limits.extend(over.hugepage_limits);
    base.unified.extend(over.unified);
    base
}

/// U3–U4: the runtime updates ctr0 (CPU and memory). One plugin
/// overriding a group: the reply's single update for ctr0 has the plugin's
/// group and the untouched requested groups. Two plugins on the same group
/// conflict; only foo: merged as with one.
pub async fn u3_u4_updates_during_update(h: &dyn Harness) {
    play(h, Event::UpdateContainer, |ours, theirs| {
        [
            (
                "U3",
                Some(ours.clone()),
                None,
                Some(overlay(requested(), ours.clone())),
            ),
            ("U4 both", Some(ours), Some(theirs.clone()), None),
            (
                "U4 only foo",
                None,
                Some(theirs.clone()),
                Some(overlay(requested(), theirs)),
            ),
        ]
    })
    .await;
}

fn update_containers(update: Vec<ContainerUpdate>, evict: Vec<&str>) -> RuntimeRequest {
    RuntimeRequest::UpdateContainers(UpdateContainersRequest {
        update,
        evict: evict.into_iter().map(eviction).collect(),
    })
}

/// X1: UpdateContainers before RegisterPlugin is refused.
pub async fn x1_update_before_registration_fails(h: &dyn Harness) {
    let running = start_with(h, options(), Vec::new()).await;
    let early = connect(h, ScriptedPlugin::new("00", "early", EventMask::NONE)).await;
    let request = update_containers(vec![update("ctr0", requested())], Vec::new());
    let answer = within(
        "UpdateContainers",
        early.end.call(request, Duration::from_secs(2)),
    )
    .await;
    assert!(answer.is_err(), "{}: {answer:?}", h.name());
    assert!(running.runtime.updates().is_empty());
    early.end.disconnect().await;
    running.stop().await;
}

/// X2: a registered plugin's updates and evictions reach the runtime; the
/// updates the runtime failed come back to the plugin.
pub async fn x2_update_reaches_the_runtime(h: &dyn Harness) {
    let running = start_with(h, options(), Vec::new()).await;
    running.runtime.fail_updates("ctr1", "scripted failure");
    running.runtime.fail_evictions("ctr1", "scripted failure");
    let plugin = connect(h, ScriptedPlugin::new("00", "updater", EventMask::NONE)).await;
    register(&plugin)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", h.name()));
    within("registration", running.adaptation.wait_for_plugins(1)).await;
    let updates = vec![update("ctr0", requested()), update("ctr1", requested())];
    let request = update_containers(updates.clone(), vec!["ctr0"]);
    let answer = within(
        "UpdateContainers",
        plugin.end.call(request, Duration::from_secs(2)),
    )
    .await;
    let failed = vec![updates[1].clone()];
    let expected = RuntimeResponse::UpdateContainers(UpdateContainersResponse { failed });
    assert_eq!(answer.ok(), Some(expected), "{}", h.name());
    assert_eq!(running.runtime.updates(), updates);
    assert_eq!(running.runtime.evictions(), vec![eviction("ctr0")]);
    running.stop().await;
}

/// A plugin calling UpdateContainers from inside its CreateContainer
/// handler does not deadlock: the creation completes and the update
/// reaches the runtime.
pub async fn update_from_inside_a_handler(h: &dyn Harness) {
    let updates = vec![update("ctr0", requested())];
    let request = UpdateContainersRequest {
        update: updates.clone(),
        evict: Vec::new(),
    };
    let reply = nri_core::transport::PluginResponse::CreateContainer(Box::default());
    let plugin = ScriptedPlugin::new("00", "reentrant", EventMask::of([Event::CreateContainer]))
        .on(
            Method::CreateContainer,
            Behaviour::UpdateThenReply(request, reply),
        );
    let running = start_with(h, options(), vec![plugin]).await;
    let created = within(
        "re-entrant CreateContainer",
        running
            .adaptation
            .create_container(create_request(&pod(1), &container(1, 1))),
    )
    .await;
    assert!(created.is_ok(), "{}: {created:?}", h.name());
    let expected = RuntimeResponse::UpdateContainers(UpdateContainersResponse::default());
    assert_eq!(running.plugin(0).runtime_answers(), vec![Ok(expected)]);
    assert_eq!(running.runtime.updates(), updates);
    running.stop().await;
}

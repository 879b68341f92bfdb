//! Event dispatch and ordering (§5.5 E1–E4) and the StateChange fallback
//! for old plugins (§3.14).

use nri_core::proto::api::Event as ApiEvent;
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{METHODS, Method, PluginRequest};

use super::fixture::{SEQUENCE, container, drive, options, pod, send_event, start_with, within};
use super::harness::Harness;
use super::plugin::{Behaviour, Journal, ScriptedPlugin};

/// §5.5: E1–E4.
pub async fn dispatch(h: &dyn Harness) {
    e1_no_plugins(h).await;
    e2_each_event_reaches_its_subscriber(h).await;
    e3_combined_masks(h).await;
    e4_index_order(h).await;
}

/// The method that delivers `event`.
pub fn method_of(event: Event) -> Method {
    METHODS
        .iter()
        .copied()
        .find(|m| m.event() == Some(event))
        .unwrap_or(Method::StateChange)
}

/// One received request, as `Method` or `StateChange(Event)`.
fn describe(request: &PluginRequest) -> String {
    match request {
        PluginRequest::StateChange(change) => {
            let event = ApiEvent::try_from(change.event).map_or("?", |e| e.name());
            format!("StateChange({event})")
        }
        other => other.method().name().to_string(),
    }
}

fn described(requests: &[PluginRequest]) -> Vec<String> {
    requests.iter().map(describe).collect()
}

/// The events of [`SEQUENCE`] in `mask`, described as their methods.
fn expected(mask: EventMask) -> Vec<String> {
    SEQUENCE
        .iter()
        .filter(|e| mask.contains(**e))
        .map(|e| method_of(*e).name().to_string())
        .collect()
}

/// E1: with no plugins every lifecycle event succeeds.
pub async fn e1_no_plugins(h: &dyn Harness) {
    let running = start_with(h, options(), Vec::new()).await;
    drive(&running.adaptation).await;
    running.stop().await;
}

/// E2: a plugin subscribed to exactly one event receives exactly that
/// event, for each of the 13 lifecycle events.
pub async fn e2_each_event_reaches_its_subscriber(h: &dyn Harness) {
    let plugins = SEQUENCE
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let name = event.name().to_lowercase();
            ScriptedPlugin::new(&format!("{:02}", i + 1), &name, EventMask::of([*event]))
        })
        .collect();
    let running = start_with(h, options(), plugins).await;
    drive(&running.adaptation).await;
    for (i, event) in SEQUENCE.iter().enumerate() {
        let got = described(&running.plugin(i).received());
        assert_eq!(got, [method_of(*event).name()], "{}: {event}", h.name());
    }
    running.stop().await;
}

/// E3: combined masks (pod events; Create+Update+Stop container; container
/// events; pod and container events): every subscribed event arrives, in
/// order, and nothing else.
pub async fn e3_combined_masks(h: &dyn Harness) {
    let of = |f: fn(&Event) -> bool| EventMask::of(SEQUENCE.iter().copied().filter(f));
    let masks = [
        of(|e| e.is_pod_event()),
        EventMask::of([
            Event::CreateContainer,
            Event::UpdateContainer,
            Event::StopContainer,
        ]),
        of(|e| e.is_container_event()),
        of(|_| true),
    ];
    let plugins = masks
        .iter()
        .enumerate()
        .map(|(i, mask)| ScriptedPlugin::new(&format!("{:02}", i + 1), &format!("e3-{i}"), *mask))
        .collect();
    let running = start_with(h, options(), plugins).await;
    drive(&running.adaptation).await;
    for (i, mask) in masks.iter().enumerate() {
        let got = described(&running.plugin(i).received());
        assert_eq!(got, expected(*mask), "{}: mask {mask}", h.name());
    }
    running.stop().await;
}

/// E4: plugins registered as 20-test, 99-foo, 00-bar are called in index
/// order for StartContainer, whichever of them subscribe.
pub async fn e4_index_order(h: &dyn Harness) {
    let identities = [("20", "test"), ("99", "foo"), ("00", "bar")];
    let subscribed: [&[&str]; 4] = [
        &["test", "foo", "bar"],
        &["foo", "bar"],
        &["test", "foo"],
        &["test", "bar"],
    ];
    for names in subscribed {
        let journal = Journal::default();
        let plugins = identities
            .iter()
            .map(|(index, name)| {
                let event = if names.contains(name) {
                    Event::StartContainer
                } else {
                    Event::RunPodSandbox
                };
                ScriptedPlugin::new(index, name, EventMask::of([event]))
                    .with_journal(journal.clone())
            })
            .collect();
        let running = start_with(h, options(), plugins).await;
        journal.clear();
        let (pod, container) = (pod(0), container(0, 0));
        let sent = send_event(&running.adaptation, Event::StartContainer, &pod, &container);
        within("StartContainer", sent)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut order: Vec<(&str, &str)> = identities
            .iter()
            .copied()
            .filter(|(_, name)| names.contains(name))
            .collect();
        order.sort();
        let expected: Vec<String> = order
            .iter()
            .map(|(index, name)| format!("{index}-{name}:StartContainer"))
            .collect();
        assert_eq!(
            journal.entries(),
            expected,
            "{}: subscribed {names:?}",
            h.name()
        );
        running.stop().await;
    }
}

/// StateChange fallback: a plugin answering "not implemented" for
/// StartContainer gets it again as StateChange, and from then on gets all
/// nine fallback events as StateChange only; CreateContainer,
/// UpdateContainer, StopContainer and UpdatePodSandbox never fall back.
pub async fn state_change_fallback(h: &dyn Harness) {
    let mask = EventMask::of(SEQUENCE);
    let legacy = ScriptedPlugin::new("00", "legacy", mask)
        .on(Method::StartContainer, Behaviour::Unimplemented);
    let running = start_with(h, options(), vec![legacy]).await;
    drive(&running.adaptation).await;
    drive(&running.adaptation).await;
    let mut fallen_back = false;
    let mut expected = Vec::new();
    for event in SEQUENCE.iter().chain(SEQUENCE.iter()) {
        let method = method_of(*event);
        if method.has_state_change_fallback() && fallen_back {
            expected.push(format!("StateChange({})", event.name()));
            continue;
        }
        expected.push(method.name().to_string());
        if *event == Event::StartContainer {
            fallen_back = true;
            expected.push(format!("StateChange({})", event.name()));
        }
    }
    let received = running.plugin(0).received();
    assert_eq!(described(&received), expected, "{}", h.name());
    for request in &received {
        if let PluginRequest::StateChange(change) = request {
            let is_container =
                ApiEvent::try_from(change.event).is_ok_and(|e| e.is_container_event());
            assert_eq!(change.pod.as_ref().map(|p| p.id.as_str()), Some("pod0"));
            assert_eq!(change.container.is_some(), is_container, "{change:?}");
        }
    }
    let infos = running.adaptation.plugins();
    assert!(infos.iter().all(|p| p.uses_state_change), "{infos:?}");
    running.stop().await;
}

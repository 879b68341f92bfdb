#![allow(clippy::unwrap_used, clippy::expect_used)]

use nri_core::proto::event::Event;

use super::*;

fn parse(text: &str) -> Script {
    match Script::from_yaml(text) {
        Ok(script) => script,
        Err(error) => panic!("{error}"),
    }
}

fn error(text: &str) -> String {
    match Script::from_yaml(text) {
        Ok(script) => panic!("accepted: {script:?}"),
        Err(error) => error.to_string(),
    }
}

fn assert_error(text: &str, expected: &[&str]) {
    let error = error(text);
    for part in expected {
        assert!(error.contains(part), "{part:?} not in: {error}");
    }
}

#[test]
fn empty_text_and_comments_are_the_empty_script() {
    for text in ["", "  \n", "# nothing yet\n", "{}"] {
        let script = parse(text);
        assert_eq!(script, Script::default(), "{text:?}");
        assert_eq!(script.subscription(), EventMask::ALL);
    }
}

#[test]
fn a_full_step_reads() {
    let script = parse(
        r#"
CreateContainer:
  - container: web
    pod: frontend
    times: 2
    delay: 1.5s
    adjust: {env: [{key: A, value: b}], linux: {resources: {memory: {limit: {value: 1024}}}}}
    update: [{container: side, ignore_failure: true}, {container_id: c9}]
    evict: [{container: batch, reason: room}]
"#,
    );
    let [step] = script.steps(Call::CreateContainer) else {
        panic!("{script:?}");
    };
    assert_eq!(step.container.as_deref(), Some("web"));
    assert_eq!(step.pod.as_deref(), Some("frontend"));
    assert_eq!(step.times, Some(2));
    assert_eq!(step.delay, Duration::from_millis(1_500));
    let Action::Reply(reply) = &step.action else {
        panic!("{step:?}");
    };
    let adjust = reply.adjust.as_ref().unwrap();
    assert_eq!(adjust.env[0].key, "A");
    let memory = adjust.linux.as_ref().unwrap().resources.as_ref().unwrap();
    assert_eq!(
        memory
            .memory
            .as_ref()
            .unwrap()
            .limit
            .as_ref()
            .unwrap()
            .value,
        1024
    );
    let update = &reply.changes.update;
    assert_eq!(update[0].container.as_deref(), Some("side"));
    assert!(update[0].message.ignore_failure);
    assert_eq!(update[1].container, None);
    assert_eq!(update[1].message.container_id, "c9");
    assert_eq!(reply.changes.evict[0].container.as_deref(), Some("batch"));
    assert_eq!(reply.changes.evict[0].message.reason, "room");
}

#[test]
fn every_action_reads() {
    let script = parse(
        r#"
Configure: [{delay: 0}]
Synchronize: [{update: [{container: a}]}]
Shutdown: [{hang: true}]
StartContainer:
  - fail: "no start"
  - hang: true
  - close: true
  - crash: 3
  - update_later: {after: 200ms, evict: [{container: a, reason: later}]}
  - {}
"#,
    );
    assert_eq!(
        script.steps(Call::Configure)[0].action,
        Action::Reply(Box::default())
    );
    let actions: Vec<&Action> = script
        .steps(Call::StartContainer)
        .iter()
        .map(|s| &s.action)
        .collect();
    assert_eq!(actions[0], &Action::Fail("no start".into()));
    assert_eq!(actions[1], &Action::Hang);
    assert_eq!(actions[2], &Action::Close);
    assert_eq!(actions[3], &Action::Crash(3));
    let Action::UpdateLater { after, changes } = actions[4] else {
        panic!("{actions:?}");
    };
    assert_eq!(*after, Duration::from_millis(200));
    assert_eq!(changes.evict[0].message.reason, "later");
    assert_eq!(actions[5], &Action::Reply(Box::default()));
}

#[test]
fn json_reads_the_same() {
    let yaml = parse("CreateContainer: [{container: web, adjust: {env: [{key: A, value: b}]}}]");
    let json = r#"{"CreateContainer": [{"container": "web", "adjust": {"env": [{"key": "A", "value": "b"}]}}]}"#;
    assert_eq!(Script::from_json(json).unwrap(), yaml);
    assert_eq!(parse(json), yaml);
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(Script::from_json_value(value).unwrap(), yaml);
    let error = Script::from_json(r#"{"CreateContainer": [{"fial": "x"}]}"#).unwrap_err();
    assert!(
        matches!(&error, ScriptError::Json(m) if m.contains("fial")),
        "{error}"
    );
}

#[test]
fn the_subscription_follows_the_keys_or_the_events_list() {
    let keyed = parse("CreateContainer: [{fail: x}]\nRunPodSandbox: []\nSynchronize: []");
    assert_eq!(
        keyed.subscription(),
        EventMask::of([Event::CreateContainer, Event::RunPodSandbox])
    );
    // Only non-events: every event.
    assert_eq!(parse("Configure: [{}]").subscription(), EventMask::ALL);
    let listed = parse("events: [pod, StartContainer]\nStartContainer: [{hang: true}]");
    assert!(listed.subscription().contains(Event::StopPodSandbox));
    assert!(listed.subscription().contains(Event::StartContainer));
    assert!(!listed.subscription().contains(Event::CreateContainer));
}

#[test]
fn unknown_keys_say_what_is_allowed() {
    assert_error(
        "CreateContaner: []",
        &["CreateContaner", "CreateContainer", "events"],
    );
    assert_error(
        "CreateContainer: [{fial: x}]",
        &["fial", "fail", "update_later"],
    );
    assert_error(
        "UpdateContainer: [{update_later: {afterr: 1s}}]",
        &["afterr", "after"],
    );
    assert_error(
        "events: [CreateContainers]",
        &["CreateContainers", "not an event"],
    );
    assert_error("events: []", &["subscribes to nothing"]);
    assert_error(
        "events: [StartContainer]\nCreateContainer: [{}]",
        &["CreateContainer", "leaves it out"],
    );
}

#[test]
fn malformed_steps_say_where_and_why() {
    assert_error(
        "CreateContainer: [{}, {fail: x, hang: true}]",
        &["CreateContainer, step 2", "does one thing", "fail and hang"],
    );
    assert_error(
        "StartContainer: [{adjust: {}}]",
        &[
            "StartContainer, step 1",
            "cannot answer with `adjust`",
            "only CreateContainer",
        ],
    );
    assert_error(
        "StopContainer: [{evict: [{container_id: x}]}]",
        &["cannot answer with `evict`"],
    );
    assert_error(
        "RunPodSandbox: [{container: web}]",
        &["about a pod", "use `pod`"],
    );
    assert_error("Synchronize: [{pod: p}]", &["about no pod or container"]);
    assert_error("Shutdown: [{fail: x}]", &["Shutdown cannot fail"]);
    assert_error("StartContainer: [{times: 0}]", &["times: 0"]);
    assert_error(
        "StartContainer: [{hang: false}]",
        &["`hang: false` does nothing"],
    );
    assert_error(
        "StartContainer: [{update_later: {after: 1s}}]",
        &["give `update` or `evict`"],
    );
    assert_error(
        "CreateContainer: [{update: [{linux: {}}]}]",
        &["update 1", "name the container"],
    );
    assert_error(
        "CreateContainer: [{evict: [{container: a, container_id: b}]}]",
        &["evict 1", "not both"],
    );
    assert_error(
        "CreateContainer: [{evict: [7]}]",
        &["evict 1", "expected a map"],
    );
    assert_error(
        "CreateContainer: [{adjust: {enviroment: []}}]",
        &["CreateContainer, step 1", "adjust", "enviroment"],
    );
    assert_error(
        "CreateContainer: [{update: [{container: a, linux: {resources: {cpu: {shares: many}}}}]}]",
        &["update 1", "ContainerUpdate"],
    );
    assert_error("CreateContainer: {fail: x}", &["CreateContainer"]);
    assert_error("CreateContainer: [{crash: yes}]", &["crash"]);
}

#[test]
fn durations_need_units() {
    assert_error(
        "StartContainer: [{delay: 150}]",
        &["150 has no unit", "150ms"],
    );
    assert_error("StartContainer: [{delay: 1.5}]", &["has no unit"]);
    assert_error("StartContainer: [{delay: -3}]", &["negative"]);
    assert_error("StartContainer: [{delay: 3 weeks}]", &["invalid duration"]);
    let script = parse("StartContainer: [{delay: 0}, {delay: 2m}]");
    assert_eq!(script.steps(Call::StartContainer)[0].delay, Duration::ZERO);
    assert_eq!(
        script.steps(Call::StartContainer)[1].delay,
        Duration::from_secs(120)
    );
}

#[test]
fn a_script_file_is_read_by_its_extension() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("script.yaml");
    std::fs::write(&yaml, "StartContainer: [{hang: true}]").unwrap();
    assert_eq!(
        Script::from_file(&yaml)
            .unwrap()
            .steps(Call::StartContainer)
            .len(),
        1
    );
    let json = dir.path().join("script.json");
    std::fs::write(&json, "StartContainer: []").unwrap();
    assert!(matches!(
        Script::from_file(&json),
        Err(ScriptError::Json(_))
    ));
    let missing = Script::from_file(dir.path().join("absent.yaml")).unwrap_err();
    assert!(
        matches!(&missing, ScriptError::Read { path, .. } if path.ends_with("absent.yaml")),
        "{missing}"
    );
}

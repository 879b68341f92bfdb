//! Validation (§5.8 V1–V10): custom validator plugins, the builtin default
//! validator (enabled through `Options::default_validator`), required
//! plugins and their annotations.

use std::sync::Arc;

use nri_core::adaptation::{EventError, Options};
use nri_core::default_validator::{DefaultValidatorConfig, REQUIRED_PLUGINS_ANNOTATION};
use nri_core::proto::api::security_profile::ProfileType;
use nri_core::proto::api::{
    Container, ContainerAdjustment, CreateContainerResponse, Field, LinuxContainer, LinuxNamespace,
    LinuxSeccomp, PluginInstance, PodSandbox, SecurityProfile, ValidateContainerAdjustmentRequest,
    ValidateContainerAdjustmentResponse,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{Method, PluginRequest, PluginResponse};

use super::fixture::{Running, container, create_request, options, pod, start_with, within};
use super::harness::Harness;
use super::plugin::{Behaviour, ScriptedPlugin};
use super::samples::{adjust, create_reply, hooks, linux};

/// The toleration annotation key configured in V8.
pub const TOLERATION: &str = "tolerate-missing-plugins.noderesource.dev";

const DEFAULT_VALIDATOR: &str = "00-default-validator";

/// §5.8: V1–V10 (V7–V10 first).
pub async fn validation(h: &dyn Harness) {
    // Required plugins first: they do not depend on ownership records.
    v7_v9_required_plugins(h).await;
    v10_required_plugins_annotation(h).await;
    v1_custom_validator(h).await;
    v2_oci_hooks_rejected(h).await;
    v3_v6_default_validator_checks(h).await;
}

fn mutator(behaviour: Behaviour) -> ScriptedPlugin {
    ScriptedPlugin::new("10", "foo", EventMask::of([Event::CreateContainer]))
        .on(Method::CreateContainer, behaviour)
}

fn validator(index: &str, name: &str) -> ScriptedPlugin {
    ScriptedPlugin::new(
        index,
        name,
        EventMask::of([Event::ValidateContainerAdjustment]),
    )
}

fn with_validator(config: DefaultValidatorConfig) -> Options {
    let mut options = options();
    options.default_validator = DefaultValidatorConfig {
        enable: true,
        ..config
    };
    options
}

async fn create(
    running: &Running,
    pod: &PodSandbox,
    container: &Container,
) -> Result<CreateContainerResponse, EventError> {
    within(
        "CreateContainer",
        running
            .adaptation
            .create_container(create_request(pod, container)),
    )
    .await
}

/// Whether `outcome` is a rejection by `validator`.
fn rejected_by<T: std::fmt::Debug>(outcome: &Result<T, EventError>, validator: &str) -> bool {
    matches!(outcome, Err(EventError::Rejected { validator: v, .. }) if v == validator)
}

/// Whether the request's owners show annotation `key` set on `ctr0`.
fn owns_annotation(request: &ValidateContainerAdjustmentRequest, key: &str) -> bool {
    request
        .owners
        .as_ref()
        .and_then(|o| o.owners.get("ctr0"))
        .and_then(|f| f.compound.get(&(Field::Annotations as i32)))
        .is_some_and(|c| c.owners.contains_key(key))
}

/// V1: a validator rejecting when the owners show annotation `no-no` was
/// set; the request carries the pristine container, the merged adjustment
/// and the consulted plugins.
pub async fn v1_custom_validator(h: &dyn Harness) {
    let judge = Behaviour::With(Arc::new(|request| {
        let reject = matches!(request, PluginRequest::ValidateContainerAdjustment(r) if owns_annotation(r, "no-no"));
        Ok(PluginResponse::ValidateContainerAdjustment(Box::new(
            ValidateContainerAdjustmentResponse {
                reject,
                reason: if reject {
                    "no no-no".into()
                } else {
                    String::new()
                },
            },
        )))
    }));
    let annotate = |key: &str| adjust(|a| _ = a.annotations.insert(key.into(), "10-foo".into()));
    let plugins = vec![
        validator("00", "validator").on(Method::ValidateContainerAdjustment, judge),
        mutator(create_reply(
            Some(annotate("allowed")),
            Vec::new(),
            Vec::new(),
        )),
    ];
    let running = start_with(h, options(), plugins).await;
    let allowed = create(&running, &pod(0), &container(0, 0)).await;
    let adjusted = allowed
        .as_ref()
        .ok()
        .and_then(|r| r.adjust.as_ref())
        .map(|a| &a.annotations);
    assert_eq!(
        adjusted,
        Some(&annotate("allowed").annotations),
        "{}: {allowed:?}",
        h.name()
    );
    let seen = running.plugin(0).take().into_iter().find_map(|r| match r {
        PluginRequest::ValidateContainerAdjustment(r) => Some(r),
        _ => None,
    });
    let seen = seen.unwrap_or_else(|| panic!("{}: the validator was not called", h.name()));
    assert_eq!(seen.container, Some(container(0, 0)), "pristine container");
    assert!(
        seen.plugins.contains(&PluginInstance {
            name: "foo".into(),
            index: "10".into()
        }),
        "{:?}",
        seen.plugins
    );
    running.plugin(1).set(
        Method::CreateContainer,
        create_reply(Some(annotate("no-no")), Vec::new(), Vec::new()),
    );
    let forbidden = create(&running, &pod(0), &container(0, 0)).await;
    assert!(
        rejected_by(&forbidden, "00-validator"),
        "{}: {forbidden:?}",
        h.name()
    );
    running.stop().await;
}

/// V2: the default validator rejects hook injection: ctr0 (no hook) is
/// created, ctr1 (hook) is not, with two accepting validators present.
pub async fn v2_oci_hooks_rejected(h: &dyn Harness) {
    let hook_ctr1 = Behaviour::With(Arc::new(|request| {
        let ctr1 = matches!(request, PluginRequest::CreateContainer(r) if r.container.as_ref().is_some_and(|c| c.id == "ctr1"));
        let adjust = ctr1.then(|| hooks(&["/bin/10-foo"]));
        Ok(PluginResponse::CreateContainer(Box::new(
            CreateContainerResponse {
                adjust,
                ..Default::default()
            },
        )))
    }));
    let config = DefaultValidatorConfig {
        reject_oci_hook_adjustment: true,
        ..Default::default()
    };
    let plugins = vec![
        mutator(hook_ctr1),
        validator("20", "accept1"),
        validator("30", "accept2"),
    ];
    let running = start_with(h, with_validator(config), plugins).await;
    let plain = create(&running, &pod(0), &container(0, 0)).await;
    assert!(plain.is_ok(), "{}: ctr0: {plain:?}", h.name());
    let hooked = create(&running, &pod(1), &container(1, 1)).await;
    assert!(
        rejected_by(&hooked, DEFAULT_VALIDATOR),
        "{}: ctr1: {hooked:?}",
        h.name()
    );
    running.stop().await;
}

/// A container with this seccomp profile.
fn confined(profile: ProfileType) -> Container {
    let profile = SecurityProfile {
        profile_type: profile as i32,
        ..Default::default()
    };
    Container {
        linux: Some(LinuxContainer {
            seccomp_profile: Some(profile),
            ..Default::default()
        }),
        ..container(0, 0)
    }
}

/// One default-validator case: configuration, container, adjustment, and
/// whether creation is rejected.
type Check = (
    &'static str,
    DefaultValidatorConfig,
    Container,
    ContainerAdjustment,
    bool,
);

fn checks() -> Vec<Check> {
    let seccomp = linux(|l| {
        l.seccomp_policy = Some(LinuxSeccomp {
            default_action: "SCMP_ACT_ALLOW".into(),
            ..Default::default()
        })
    });
    let namespace = linux(|l| {
        l.namespaces = vec![LinuxNamespace {
            r#type: "network".into(),
            path: "/var/run/netns/x".into(),
        }]
    });
    let config = |f: fn(&mut DefaultValidatorConfig)| {
        let mut config = DefaultValidatorConfig::default();
        f(&mut config);
        config
    };
    let runtime_default = config(|c| c.reject_runtime_default_seccomp_adjustment = true);
    let custom = config(|c| c.reject_custom_seccomp_adjustment = true);
    let unconfined = config(|c| c.reject_unconfined_seccomp_adjustment = true);
    let none = DefaultValidatorConfig::default();
    vec![
        (
            "V3 runtime-default seccomp, rejecting",
            runtime_default,
            confined(ProfileType::RuntimeDefault),
            seccomp.clone(),
            true,
        ),
        (
            "V3 runtime-default seccomp, allowing",
            none.clone(),
            confined(ProfileType::RuntimeDefault),
            seccomp.clone(),
            false,
        ),
        (
            "V4 custom seccomp, rejecting",
            custom,
            confined(ProfileType::Localhost),
            seccomp.clone(),
            true,
        ),
        (
            "V4 custom seccomp, allowing",
            none.clone(),
            confined(ProfileType::Localhost),
            seccomp.clone(),
            false,
        ),
        (
            "V5 unconfined seccomp, rejecting",
            unconfined,
            confined(ProfileType::Unconfined),
            seccomp.clone(),
            true,
        ),
        (
            "V5 unconfined seccomp, allowing",
            none,
            confined(ProfileType::Unconfined),
            seccomp,
            false,
        ),
        (
            "V6 namespace",
            config(|c| c.reject_namespace_adjustment = true),
            container(0, 0),
            namespace,
            true,
        ),
    ]
}

/// V3–V6: seccomp policy (per profile kind) and namespace checks, each
/// configured on and off. Reports every failing case at once.
pub async fn v3_v6_default_validator_checks(h: &dyn Harness) {
    let mut failures = Vec::new();
    for (name, config, created, adjustment, reject) in checks() {
        let plugin = mutator(create_reply(Some(adjustment), Vec::new(), Vec::new()));
        let running = start_with(h, with_validator(config), vec![plugin]).await;
        let outcome = create(&running, &pod(0), &created).await;
        if rejected_by(&outcome, DEFAULT_VALIDATOR) != reject {
            failures.push(format!(
                "{name}: expected rejection {reject}, got {outcome:?}"
            ));
        }
        running.stop().await;
    }
    assert!(failures.is_empty(), "{}: {failures:#?}", h.name());
}

/// V7–V9: plugins `foo` and `bar` are required; with only 00-foo creation
/// fails, unless the pod tolerates it for the container; once 10-bar joins
/// it succeeds.
pub async fn v7_v9_required_plugins(h: &dyn Harness) {
    let config = DefaultValidatorConfig {
        required_plugins: vec!["foo".into(), "bar".into()],
        tolerate_missing_plugins_annotation: TOLERATION.into(),
        ..Default::default()
    };
    let only_foo = ScriptedPlugin::new("00", "foo", EventMask::of([Event::CreateContainer]));
    let mut running = start_with(h, with_validator(config), vec![only_foo]).await;
    let missing = create(&running, &pod(0), &container(0, 0)).await;
    assert!(
        rejected_by(&missing, DEFAULT_VALIDATOR),
        "{}: V7: {missing:?}",
        h.name()
    );
    let mut tolerant = pod(0);
    tolerant
        .annotations
        .insert(format!("{TOLERATION}/container.ctr0"), "true".into());
    let tolerated = create(&running, &tolerant, &container(0, 0)).await;
    assert!(tolerated.is_ok(), "{}: V8: {tolerated:?}", h.name());
    running
        .add(
            h,
            ScriptedPlugin::new("10", "bar", EventMask::of([Event::CreateContainer])),
        )
        .await;
    let complete = create(&running, &pod(0), &container(0, 0)).await;
    assert!(complete.is_ok(), "{}: V9: {complete:?}", h.name());
    running.stop().await;
}

/// V10: a pod annotation requires plugin `xyzzy` for ctr0: creation fails
/// until 20-xyzzy joins.
pub async fn v10_required_plugins_annotation(h: &dyn Harness) {
    let mut running = start_with(
        h,
        with_validator(DefaultValidatorConfig::default()),
        Vec::new(),
    )
    .await;
    let mut demanding = pod(0);
    demanding.annotations.insert(
        format!("{REQUIRED_PLUGINS_ANNOTATION}/container.ctr0"),
        "[ \"xyzzy\" ]".into(),
    );
    let missing = create(&running, &demanding, &container(0, 0)).await;
    assert!(
        rejected_by(&missing, DEFAULT_VALIDATOR),
        "{}: {missing:?}",
        h.name()
    );
    running
        .add(
            h,
            ScriptedPlugin::new("20", "xyzzy", EventMask::of([Event::CreateContainer])),
        )
        .await;
    let present = create(&running, &demanding, &container(0, 0)).await;
    assert!(present.is_ok(), "{}: {present:?}", h.name());
    running.stop().await;
}

//! Ports of upstream's default-validator unit tests (§5.15 DV1, DV2) and of
//! the validation scenarios of the adaptation suite (§5.8 V2-V10), at the
//! level of [`validate`].

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::proto::api::{
    CompoundFieldOwners, Container, ContainerAdjustment, LinuxContainer, LinuxContainerAdjustment,
    OwningPlugins, PluginInstance, PodSandbox, SecurityProfile,
};

const CTR_ID: &str = "container-id";
const CTR_NAME: &str = "container-name";

/// A request for container `container-name` of a pod with `annotations`,
/// after the plugins `NN-name` in `plugins` were consulted.
fn request(annotations: &[(&str, &str)], plugins: &[&str]) -> ValidateContainerAdjustmentRequest {
    ValidateContainerAdjustmentRequest {
        pod: Some(PodSandbox {
            id: "pod-id".into(),
            name: "pod-name".into(),
            namespace: "pod-namespace".into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }),
        container: Some(Container {
            id: CTR_ID.into(),
            name: CTR_NAME.into(),
            ..Default::default()
        }),
        plugins: plugins.iter().map(|p| instance(p)).collect(),
        ..Default::default()
    }
}

fn instance(id: &str) -> PluginInstance {
    let (index, name) = id.split_once('-').unwrap_or(("00", id));
    PluginInstance {
        name: name.into(),
        index: index.into(),
    }
}

/// Adds an (empty) adjustment and the given ownership records to `req`.
fn adjusted(
    mut req: ValidateContainerAdjustmentRequest,
    owners: FieldOwners,
) -> ValidateContainerAdjustmentRequest {
    req.adjust = Some(ContainerAdjustment::default());
    req.owners = Some(OwningPlugins {
        owners: BTreeMap::from([(CTR_ID.to_string(), owners)]),
    });
    req
}

fn simple(field: Field, plugin: &str) -> FieldOwners {
    FieldOwners {
        simple: BTreeMap::from([(field as i32, plugin.to_string())]),
        ..Default::default()
    }
}

fn compound(field: Field, entries: &[(&str, &str)]) -> FieldOwners {
    let owners = entries
        .iter()
        .map(|(k, p)| (k.to_string(), p.to_string()))
        .collect();
    FieldOwners {
        compound: BTreeMap::from([(field as i32, CompoundFieldOwners { owners })]),
        ..Default::default()
    }
}

fn required(global: &[&str]) -> DefaultValidatorConfig {
    DefaultValidatorConfig {
        enable: true,
        required_plugins: global.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn assert_rejected(result: Result<(), Rejection>, needle: &str) {
    let err = result.expect_err("should be rejected");
    let text = err.to_string();
    assert!(text.starts_with("validation error: "), "{text}");
    assert!(text.contains(needle), "{text:?} lacks {needle:?}");
}

const ANNOTATED: &str = "required-plugins.noderesource.dev/container.container-name";

/// DV1: (case, global list, annotated list, consulted plugins, accepted).
type Dv1Case = (
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
    &'static [&'static str],
    bool,
);

#[test]
fn dv1_required_plugins() {
    const P: Option<&str> = Some("[ plugin ]");
    const P2: Option<&str> = Some("[ plugin2 ]");
    let cases: &[Dv1Case] = &[
        ("no required plugins", &[], None, &[], true),
        ("missing annotated", &[], P, &[], false),
        ("present annotated", &[], P, &["00-plugin"], true),
        ("missing global", &["plugin"], None, &[], false),
        ("present global", &["plugin"], None, &["00-plugin"], true),
        (
            "annotated+global present",
            &["plugin1"],
            P2,
            &["00-plugin1", "01-plugin2"],
            true,
        ),
        (
            "annotated missing, global present",
            &["plugin1"],
            P2,
            &["00-plugin1"],
            false,
        ),
        (
            "annotated present, global missing",
            &["plugin1"],
            P2,
            &["00-plugin2"],
            false,
        ),
    ];
    for (case, global, annotated, plugins, accepted) in cases {
        let annotations: Vec<(&str, &str)> = annotated.iter().map(|v| (ANNOTATED, *v)).collect();
        let result = validate(&request(&annotations, plugins), &required(global));
        assert_eq!(result.is_ok(), *accepted, "{case}: {result:?}");
    }
    // Tolerated missing (global) plugin.
    let mut config = required(&["plugin"]);
    config.tolerate_missing_plugins_annotation = "tolerate-missing-plugins".into();
    let tolerated = request(&[("tolerate-missing-plugins", "true")], &[]);
    assert_eq!(validate(&tolerated, &config), Ok(()));
}

#[test]
fn dv2_owned_sysctl_is_rejected() {
    let mut req = adjusted(
        request(&[], &[]),
        compound(Field::Sysctl, &[("net.ipv4.ip_forward", "10-sysctl")]),
    );
    req.adjust = Some(ContainerAdjustment {
        linux: Some(LinuxContainerAdjustment {
            sysctl: BTreeMap::from([("net.ipv4.ip_forward".into(), "1".into())]),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut config = required(&[]);
    assert_eq!(validate(&req, &config), Ok(()));
    config.reject_sysctl_adjustment = true;
    assert_rejected(
        validate(&req, &config),
        "sysctl adjustment by plugin(s) 10-sysctl",
    );

    // A removal of an owned key is an adjustment too.
    let linux = req
        .adjust
        .as_mut()
        .and_then(|a| a.linux.as_mut())
        .expect("linux");
    linux.sysctl = BTreeMap::from([("-net.ipv4.ip_forward".into(), String::new())]);
    assert_rejected(validate(&req, &config), "10-sysctl");
}

#[test]
fn v2_oci_hook_injection() {
    let config = DefaultValidatorConfig {
        reject_oci_hook_adjustment: true,
        ..Default::default()
    };
    let clean = adjusted(request(&[], &[]), FieldOwners::default());
    assert_eq!(validate(&clean, &config), Ok(()));
    let hooked = adjusted(request(&[], &[]), simple(Field::OciHooks, "10-hooker"));
    assert_rejected(
        validate(&hooked, &config),
        r#"plugin "10-hooker" attempted restricted OCI hook"#,
    );
    let two = adjusted(request(&[], &[]), simple(Field::OciHooks, "10-a,11-b"));
    assert_rejected(validate(&two, &config), r#"plugins "10-a,11-b""#);
    // Without the switch, hooks are fine.
    assert_eq!(
        validate(&hooked, &DefaultValidatorConfig::default()),
        Ok(())
    );
}

/// A seccomp-adjusted request for a container with `profile`.
fn seccomp_request(profile: Option<ProfileType>) -> ValidateContainerAdjustmentRequest {
    let mut req = adjusted(
        request(&[], &[]),
        simple(Field::SeccompPolicy, "10-seccomp"),
    );
    if let Some(container) = req.container.as_mut() {
        container.linux = Some(LinuxContainer {
            seccomp_profile: profile.map(|p| SecurityProfile {
                profile_type: p as i32,
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    req
}

#[test]
fn v3_v4_v5_seccomp_profiles() {
    type Switch = fn(&mut DefaultValidatorConfig) -> &mut bool;
    let cases: [(Option<ProfileType>, Switch, &str); 4] = [
        (
            Some(ProfileType::RuntimeDefault),
            |c| &mut c.reject_runtime_default_seccomp_adjustment,
            "runtime default",
        ),
        (
            Some(ProfileType::Localhost),
            |c| &mut c.reject_custom_seccomp_adjustment,
            "custom",
        ),
        (
            Some(ProfileType::Unconfined),
            |c| &mut c.reject_unconfined_seccomp_adjustment,
            "unconfined",
        ),
        // Appendix B 13: no profile at all is judged as unconfined.
        (
            None,
            |c| &mut c.reject_unconfined_seccomp_adjustment,
            "unconfined",
        ),
    ];
    for (profile, switch, kind) in cases {
        let req = seccomp_request(profile);
        let mut config = DefaultValidatorConfig::default();
        assert_eq!(validate(&req, &config), Ok(()), "{profile:?} allowed");
        *switch(&mut config) = true;
        assert_rejected(
            validate(&req, &config),
            &format!("plugin 10-seccomp attempted restricted {kind} seccomp"),
        );
        // The switches of the other profile kinds do not apply.
        let mut others = DefaultValidatorConfig {
            reject_runtime_default_seccomp_adjustment: true,
            reject_custom_seccomp_adjustment: true,
            reject_unconfined_seccomp_adjustment: true,
            ..Default::default()
        };
        *switch(&mut others) = false;
        assert_eq!(
            validate(&req, &others),
            Ok(()),
            "{profile:?} with other switches"
        );
    }
    // Unowned seccomp policy: nothing to reject.
    let mut req = seccomp_request(None);
    req.owners = None;
    let config = DefaultValidatorConfig {
        reject_unconfined_seccomp_adjustment: true,
        ..Default::default()
    };
    assert_eq!(validate(&req, &config), Ok(()));
}

#[test]
fn v6_namespace_adjustment() {
    let req = adjusted(
        request(&[], &[]),
        compound(Field::Namespace, &[("network", "10-netns")]),
    );
    let mut config = DefaultValidatorConfig::default();
    assert_eq!(validate(&req, &config), Ok(()));
    config.reject_namespace_adjustment = true;
    assert_rejected(
        validate(&req, &config),
        r#"plugin(s) "10-netns" (namespace "network")"#,
    );
}

#[test]
fn v7_to_v10_required_plugins() {
    let mut config = required(&["foo", "bar"]);
    config.tolerate_missing_plugins_annotation = "tolerate-missing-plugins.noderesource.dev".into();
    // V7: bar is missing.
    assert_rejected(
        validate(&request(&[], &["00-foo"]), &config),
        r#"required plugin "bar" not present"#,
    );
    assert_rejected(
        validate(&request(&[], &[]), &config),
        r#"required plugins "foo,bar""#,
    );
    // V8: tolerated for this container.
    let tolerate = [(
        "tolerate-missing-plugins.noderesource.dev/container.container-name",
        "true",
    )];
    assert_eq!(validate(&request(&tolerate, &["00-foo"]), &config), Ok(()));
    // V9: bar connected.
    assert_eq!(
        validate(&request(&[], &["00-foo", "10-bar"]), &config),
        Ok(())
    );
    // V10: per-container requirement, matched by name or by NN-name.
    let xyzzy = [(ANNOTATED, r#"[ "xyzzy" ]"#)];
    assert!(validate(&request(&xyzzy, &["00-foo", "10-bar"]), &config).is_err());
    assert_eq!(
        validate(&request(&xyzzy, &["00-foo", "10-bar", "20-xyzzy"]), &config),
        Ok(())
    );
    let by_id = required(&["20-xyzzy", "foo"]);
    assert_eq!(
        validate(&request(&[], &["00-foo", "20-xyzzy"]), &by_id),
        Ok(())
    );
    assert!(validate(&request(&[], &["00-foo", "21-xyzzy"]), &by_id).is_err());
}

#[test]
fn annotation_precedence() {
    let key = REQUIRED_PLUGINS_ANNOTATION;
    let (ctr, pod) = (format!("{key}/container.{CTR_NAME}"), format!("{key}/pod"));
    let other = format!("{key}/container.other");
    let req = |pairs: &[(&str, &str)]| request(pairs, &["01-a", "02-b", "03-c"]);
    let config = DefaultValidatorConfig::default();
    // The container-scoped value wins over the pod-scoped and plain ones.
    let all = [(ctr.as_str(), "[a]"), (pod.as_str(), "[x]"), (key, "[y]")];
    assert_eq!(validate(&req(&all), &config), Ok(()));
    // Then /pod, then the plain key.
    assert!(validate(&req(&[(pod.as_str(), "[x]"), (key, "[b]")]), &config).is_err());
    assert_eq!(
        validate(&req(&[(pod.as_str(), "[b]"), (key, "[x]")]), &config),
        Ok(())
    );
    assert_rejected(validate(&req(&[(key, "[x]")]), &config), r#""x""#);
    // Another container's annotation does not apply.
    assert_eq!(validate(&req(&[(other.as_str(), "[x]")]), &config), Ok(()));
    assert_eq!(effective_annotation(None, key, CTR_NAME), None);
}

#[test]
fn bad_annotation_values_fail_validation() {
    let mut config = required(&["gone"]);
    config.tolerate_missing_plugins_annotation = "tolerate".into();
    let bad_list = request(&[(REQUIRED_PLUGINS_ANNOTATION, "{not: a list}")], &[]);
    assert_rejected(
        validate(&bad_list, &config),
        "invalid required-plugins.noderesource.dev annotation",
    );
    let bad_bool = request(&[("tolerate/pod", "maybe")], &[]);
    assert_rejected(
        validate(&bad_bool, &config),
        r#"invalid tolerate annotation "maybe""#,
    );
    // A false toleration is no toleration.
    assert_rejected(
        validate(&request(&[("tolerate", "False")], &[]), &config),
        "gone",
    );
    // Oversized values are refused, and not echoed whole.
    let huge = "a".repeat(MAX_ANNOTATION_LEN + 1);
    let err = validate(
        &request(&[(REQUIRED_PLUGINS_ANNOTATION, &huge)], &[]),
        &config,
    )
    .expect_err("too large")
    .to_string();
    assert!(err.contains("limit") && err.len() < 1024, "{err}");
}

#[test]
fn only_required_plugins_are_checked_without_an_adjustment() {
    let config = DefaultValidatorConfig {
        reject_oci_hook_adjustment: true,
        reject_namespace_adjustment: true,
        reject_unconfined_seccomp_adjustment: true,
        reject_sysctl_adjustment: true,
        required_plugins: vec!["must".into()],
        ..Default::default()
    };
    let mut req = adjusted(request(&[], &[]), simple(Field::OciHooks, "10-x"));
    req.adjust = None;
    assert_rejected(validate(&req, &config), "required plugin \"must\"");
    req.plugins.push(instance("05-must"));
    assert_eq!(validate(&req, &config), Ok(()));
    // No container or pod at all: still no panic.
    assert!(validate(&ValidateContainerAdjustmentRequest::default(), &config).is_err());
}

#[test]
fn config_keys_in_toml_and_yaml() {
    let toml_text = "enable = true\nreject_oci_hook_adjustment = true\nrequired_plugins = [\"a\"]\n\
                     tolerate_missing_plugins_annotation = \"t\"\n";
    let yaml_text = "enable: true\nrejectOCIHookAdjustment: true\nrequiredPlugins: [a]\n\
                     tolerateMissingPluginsAnnotation: t\n";
    let from_toml: DefaultValidatorConfig = toml::from_str(toml_text).expect("toml");
    let from_yaml: DefaultValidatorConfig = serde_saphyr::from_str(yaml_text).expect("yaml");
    assert_eq!(from_toml, from_yaml);
    assert!(from_toml.enable && from_toml.reject_oci_hook_adjustment);
    assert!(toml::from_str::<DefaultValidatorConfig>("reject_oci_hooks = true").is_err());
}

proptest! {
    #[test]
    fn arbitrary_annotations_never_panic(
        value in any::<String>(),
        scope in prop_oneof![Just(""), Just("/pod"), Just("/container.container-name")],
    ) {
        let mut config = required(&["x"]);
        config.tolerate_missing_plugins_annotation = "tolerate".into();
        for key in [REQUIRED_PLUGINS_ANNOTATION, "tolerate"] {
            let key = format!("{key}{scope}");
            let _ = validate(&request(&[(key.as_str(), value.as_str())], &["00-x"]), &config);
        }
    }
}

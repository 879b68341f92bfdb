//! Shared helpers: specs as JSON, a configurable fake runtime, and short
//! constructors for adjustment parts.

use std::cell::RefCell;
use std::collections::HashMap;

use nri_cri::oci::{self, AdjustError, MountPropagation, Resolvers};
use nri_proto::api::{
    ContainerAdjustment, KeyValue, LinuxContainerAdjustment, LinuxDevice, LinuxResources, Mount,
};
use oci_spec::runtime::{LinuxBlockIo, LinuxBlockIoBuilder, Spec};
use serde_json::Value;

/// A spec from JSON.
pub fn spec(value: Value) -> Spec {
    serde_json::from_value(value).expect("test spec JSON is a valid OCI spec")
}

/// A spec as JSON, without the always-present `ociVersion`.
pub fn json(spec: &Spec) -> Value {
    let mut value = serde_json::to_value(spec).expect("specs serialize");
    if let Some(object) = value.as_object_mut() {
        object.remove("ociVersion");
    }
    value
}

/// One table row: an adjustment of a base spec and the spec it must give.
pub struct Case {
    pub name: &'static str,
    pub base: Value,
    pub adjust: ContainerAdjustment,
    pub want: Value,
}

/// Applies every case with `resolvers` and compares the result.
pub fn run(cases: Vec<Case>, resolvers: &dyn Resolvers) {
    for case in cases {
        let mut spec = spec(case.base);
        if let Err(error) = oci::apply(&mut spec, &case.adjust, resolvers) {
            panic!("{}: unexpected error: {error}", case.name);
        }
        assert_eq!(json(&spec), case.want, "case {:?}", case.name);
    }
}

/// Applies an adjustment that must fail, checks the spec is unchanged and
/// returns the error.
pub fn fail(base: Value, adjust: &ContainerAdjustment, resolvers: &dyn Resolvers) -> AdjustError {
    let mut spec = spec(base.clone());
    let error = oci::apply(&mut spec, adjust, resolvers).expect_err("the adjustment must fail");
    assert_eq!(
        json(&spec),
        base,
        "a failed adjustment changed the spec ({error})"
    );
    error
}

/// A fake runtime. Block I/O classes, RDT classes and host paths it does
/// not know are errors; CDI injection records the call and adds a character
/// device `/dev/<name after '='>` (major 99, minor = call's device index).
pub struct Fake {
    pub blockio: HashMap<&'static str, Option<LinuxBlockIo>>,
    pub rdt: HashMap<&'static str, Option<String>>,
    pub hugetlb: bool,
    pub propagation: HashMap<&'static str, MountPropagation>,
    pub cdi_calls: RefCell<Vec<Vec<String>>>,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            blockio: HashMap::new(),
            rdt: HashMap::new(),
            hugetlb: true,
            propagation: HashMap::new(),
            cdi_calls: RefCell::new(Vec::new()),
        }
    }
}

impl Fake {
    /// A fake that knows block I/O class `slow` (weight 10), `none`
    /// (resolves to nothing), RDT classes `gold` (closID `COS1`) and `none`,
    /// and host paths `/shared`, `/slave` and `/private`.
    pub fn stocked() -> Self {
        let slow = LinuxBlockIoBuilder::default()
            .weight(10u16)
            .build()
            .expect("builds");
        Fake {
            blockio: HashMap::from([("slow", Some(slow)), ("none", None)]),
            rdt: HashMap::from([("gold", Some("COS1".to_string())), ("none", None)]),
            propagation: HashMap::from([
                ("/shared", MountPropagation::Shared),
                ("/slave", MountPropagation::Slave),
                ("/private", MountPropagation::Private),
            ]),
            ..Fake::default()
        }
    }
}

impl Resolvers for Fake {
    fn rdt_class(&self, class: &str) -> Result<Option<String>, String> {
        self.rdt
            .get(class)
            .cloned()
            .ok_or_else(|| format!("unknown RDT class {class}"))
    }

    fn blockio_class(&self, class: &str) -> Result<Option<LinuxBlockIo>, String> {
        self.blockio
            .get(class)
            .cloned()
            .ok_or_else(|| format!("unknown block I/O class {class}"))
    }

    fn inject_cdi(&self, spec: &mut Spec, devices: &[String]) -> Result<(), String> {
        self.cdi_calls.borrow_mut().push(devices.to_vec());
        let mut value = serde_json::to_value(&*spec).map_err(|e| e.to_string())?;
        for (index, name) in devices.iter().enumerate() {
            let node = name.rsplit('=').next().unwrap_or(name);
            let device = serde_json::json!({
                "path": format!("/dev/{node}"), "type": "c", "major": 99, "minor": index,
            });
            let linux = value
                .as_object_mut()
                .ok_or("spec is an object")?
                .entry("linux")
                .or_insert_with(|| serde_json::json!({}));
            let list = linux
                .as_object_mut()
                .ok_or("linux is an object")?
                .entry("devices")
                .or_insert_with(|| serde_json::json!([]));
            list.as_array_mut().ok_or("devices is a list")?.push(device);
        }
        *spec = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn hugetlb_enabled(&self) -> bool {
        self.hugetlb
    }

    fn mount_propagation(&self, path: &str) -> Result<MountPropagation, String> {
        self.propagation
            .get(path)
            .copied()
            .ok_or_else(|| format!("no host mount holds {path}"))
    }
}

pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

pub fn mount(destination: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: destination.into(),
        r#type: "bind".into(),
        source: source.into(),
        options: options.iter().map(|o| o.to_string()).collect(),
    }
}

pub fn removed_mount(destination: &str) -> Mount {
    Mount {
        destination: format!("-{destination}"),
        ..Default::default()
    }
}

pub fn device(path: &str, typ: &str, major: i64, minor: i64) -> LinuxDevice {
    LinuxDevice {
        path: path.into(),
        r#type: typ.into(),
        major,
        minor,
        ..Default::default()
    }
}

/// An adjustment with only a Linux part.
pub fn linux(linux: LinuxContainerAdjustment) -> ContainerAdjustment {
    ContainerAdjustment {
        linux: Some(linux),
        ..Default::default()
    }
}

/// An adjustment with only Linux resources.
pub fn resources(resources: LinuxResources) -> ContainerAdjustment {
    linux(LinuxContainerAdjustment {
        resources: Some(resources),
        ..Default::default()
    })
}

//! Which plugin set which field of which container during one event.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use nri_proto::api::{Field, FieldOwners, OwningPlugins};
use nri_proto::removal;

use super::MergeError;

/// How a claim was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The claimer did not own the field: nobody did, or it had removed it
    /// itself.
    New,
    /// The claimer already owned the field in this event; its later value
    /// replaces the earlier one (a conflict upstream, Appendix B 2).
    Repeated,
}

/// The ownership table of one event: for each container, the plugin that
/// set each simple field and each key of each compound field.
///
/// Owners are plugin ids (`"<idx>-<name>"`). An owner `-<plugin>` records
/// that the plugin removed the field, which lets only that plugin set it
/// again. Accumulating fields (OCI hooks) record every contributor,
/// comma-separated. [`Owners::to_proto`] gives the table validators receive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Owners {
    table: OwningPlugins,
}

impl Owners {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Claims simple `field` of `container` for `plugin`.
    ///
    /// Fails with [`MergeError::Conflict`] if another plugin set the field,
    /// or removed it, before.
    pub fn claim_simple(
        &mut self,
        container: &str,
        field: Field,
        plugin: &str,
    ) -> Result<Claim, MergeError> {
        let simple = &mut self.fields_mut(container).simple;
        claim(simple, field as i32, plugin)
            .map_err(|owner| conflict(container, field, None, plugin, owner))
    }

    /// Claims `key` of compound `field` of `container` for `plugin`.
    ///
    /// Fails with [`MergeError::Conflict`] if another plugin set the key, or
    /// removed it, before.
    pub fn claim_compound(
        &mut self,
        container: &str,
        field: Field,
        key: &str,
        plugin: &str,
    ) -> Result<Claim, MergeError> {
        let keys = self.keys_mut(container, field);
        claim(keys, key.to_owned(), plugin)
            .map_err(|owner| conflict(container, field, Some(key), plugin, owner))
    }

    /// Records that `plugin` removed simple `field` of `container`: from now
    /// on only `plugin` may set it.
    pub fn clear_simple(&mut self, container: &str, field: Field, plugin: &str) {
        let simple = &mut self.fields_mut(container).simple;
        simple.insert(field as i32, removal::mark(plugin));
    }

    /// Records that `plugin` removed `key` of compound `field` of
    /// `container`: from now on only `plugin` may set it.
    pub fn clear_compound(&mut self, container: &str, field: Field, key: &str, plugin: &str) {
        let keys = self.keys_mut(container, field);
        keys.insert(key.to_owned(), removal::mark(plugin));
    }

    /// Adds `plugin` to the contributors of accumulating `field` (OCI hooks)
    /// of `container`. Never conflicts.
    pub fn accumulate(&mut self, container: &str, field: Field, plugin: &str) {
        let simple = &mut self.fields_mut(container).simple;
        simple
            .entry(field as i32)
            .and_modify(|owners| {
                owners.push(',');
                owners.push_str(plugin);
            })
            .or_insert_with(|| plugin.to_owned());
    }

    /// The recorded owner of simple `field` of `container`.
    pub fn simple_owner(&self, container: &str, field: Field) -> Option<&str> {
        let fields = self.table.owners.get(container)?;
        fields.simple.get(&(field as i32)).map(String::as_str)
    }

    /// The recorded owner of `key` of compound `field` of `container`.
    pub fn compound_owner(&self, container: &str, field: Field, key: &str) -> Option<&str> {
        let fields = self.table.owners.get(container)?;
        let keys = fields.compound.get(&(field as i32))?;
        keys.owners.get(key).map(String::as_str)
    }

    /// The table as the protocol message validators receive.
    pub fn to_proto(&self) -> OwningPlugins {
        self.table.clone()
    }

    /// The table as the protocol message, without copying.
    pub fn into_proto(self) -> OwningPlugins {
        self.table
    }

    fn fields_mut(&mut self, container: &str) -> &mut FieldOwners {
        self.table.owners.entry(container.to_owned()).or_default()
    }

    fn keys_mut(&mut self, container: &str, field: Field) -> &mut BTreeMap<String, String> {
        let compound = &mut self.fields_mut(container).compound;
        &mut compound.entry(field as i32).or_default().owners
    }
}

/// Records `plugin` as the owner of `key` in `owners`, or returns the
/// plugin that owns it.
fn claim<K: Ord>(owners: &mut BTreeMap<K, String>, key: K, plugin: &str) -> Result<Claim, String> {
    match owners.entry(key) {
        Entry::Vacant(slot) => {
            slot.insert(plugin.to_owned());
            Ok(Claim::New)
        }
        Entry::Occupied(mut slot) => {
            let (owner, removed) = removal::split(slot.get());
            if owner != plugin {
                Err(owner.to_owned())
            } else if removed {
                slot.insert(plugin.to_owned());
                Ok(Claim::New)
            } else {
                Ok(Claim::Repeated)
            }
        }
    }
}

fn conflict(
    container: &str,
    field: Field,
    key: Option<&str>,
    claimer: &str,
    owner: String,
) -> MergeError {
    MergeError::Conflict {
        field,
        key: key.map(str::to_owned),
        container: container.to_owned(),
        claimer: claimer.to_owned(),
        owner,
    }
}

/// A value that may be left unset in an adjustment or update.
pub(super) trait Settable {
    /// Whether the plugin set it.
    fn is_set(&self) -> bool;
}

impl<T> Settable for Option<T> {
    fn is_set(&self) -> bool {
        self.is_some()
    }
}

/// Strings (cgroups path, cpuset cpus and mems) count as set when
/// non-empty.
impl Settable for String {
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
}

/// The claims of one plugin on one container: [`Owners`] with the container
/// and the plugin filled in.
pub(super) struct Claims<'a> {
    owners: &'a mut Owners,
    container: &'a str,
    plugin: &'a str,
}

impl<'a> Claims<'a> {
    pub(super) fn new(owners: &'a mut Owners, container: &'a str, plugin: &'a str) -> Self {
        Claims {
            owners,
            container,
            plugin,
        }
    }

    /// Claims simple `field`.
    pub(super) fn claim(&mut self, field: Field) -> Result<Claim, MergeError> {
        self.owners.claim_simple(self.container, field, self.plugin)
    }

    /// Claims simple `field` if `value` is set; whether it is.
    pub(super) fn simple<T: Settable>(
        &mut self,
        field: Field,
        value: &T,
    ) -> Result<bool, MergeError> {
        if !value.is_set() {
            return Ok(false);
        }
        self.claim(field).map(|_| true)
    }

    /// Claims `key` of compound `field`.
    pub(super) fn key(&mut self, field: Field, key: &str) -> Result<Claim, MergeError> {
        self.owners
            .claim_compound(self.container, field, key, self.plugin)
    }

    /// Clears simple `field`.
    pub(super) fn clear(&mut self, field: Field) {
        self.owners.clear_simple(self.container, field, self.plugin);
    }

    /// Clears `key` of compound `field`.
    pub(super) fn clear_key(&mut self, field: Field, key: &str) {
        self.owners
            .clear_compound(self.container, field, key, self.plugin);
    }

    /// Adds the plugin to the contributors of `field`.
    pub(super) fn accumulate(&mut self, field: Field) {
        self.owners.accumulate(self.container, field, self.plugin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner_of(error: MergeError) -> (String, String) {
        match error {
            MergeError::Conflict { claimer, owner, .. } => (claimer, owner),
            other => panic!("not a conflict: {other}"),
        }
    }

    /// O1 (owners_test.go:27-79).
    #[test]
    fn o1_simple_claims() {
        for field in [Field::MemLimit, Field::CpuShares, Field::Args] {
            let mut owners = Owners::new();
            assert_eq!(
                owners.claim_simple("ctr0", field, "test0").unwrap(),
                Claim::New
            );
            assert_eq!(
                owners.claim_simple("ctr1", field, "test0").unwrap(),
                Claim::New
            );
            owners.claim_simple("ctr1", field, "test1").unwrap_err();
            let err = owners.claim_simple("ctr0", field, "test1").unwrap_err();
            assert_eq!(owner_of(err), ("test1".into(), "test0".into()));
            assert_eq!(owners.simple_owner("ctr0", field), Some("test0"));
        }

        let mut owners = Owners::new();
        owners.claim_simple("ctr0", Field::Args, "test0").unwrap();
        owners.clear_simple("ctr0", Field::Args, "test1");
        assert_eq!(owners.simple_owner("ctr0", Field::Args), Some("-test1"));
        assert_eq!(
            owners.claim_simple("ctr0", Field::Args, "test1").unwrap(),
            Claim::New
        );
        assert_eq!(owners.simple_owner("ctr0", Field::Args), Some("test1"));

        owners.clear_simple("ctr0", Field::Args, "test1");
        let err = owners
            .claim_simple("ctr0", Field::Args, "test0")
            .unwrap_err();
        // The removal marker is not part of the reported owner.
        assert_eq!(owner_of(err), ("test0".into(), "test1".into()));
    }

    /// O2 (owners_test.go:81-114).
    #[test]
    fn o2_compound_claims() {
        let mut owners = Owners::new();
        owners
            .claim_compound("ctr0", Field::Env, "FOO", "test0")
            .unwrap();
        owners
            .claim_compound("ctr0", Field::Env, "BAR", "test1")
            .unwrap();
        let err = owners
            .claim_compound("ctr0", Field::Env, "FOO", "test1")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"plugins "test1" and "test0" both tried to set Env FOO"#
        );

        owners.clear_compound("ctr0", Field::Env, "FOO", "test1");
        owners
            .claim_compound("ctr0", Field::Env, "FOO", "test1")
            .unwrap();
        assert_eq!(
            owners.compound_owner("ctr0", Field::Env, "FOO"),
            Some("test1")
        );

        owners.clear_compound("ctr0", Field::Env, "BAR", "test0");
        let err = owners
            .claim_compound("ctr0", Field::Env, "BAR", "test1")
            .unwrap_err();
        assert_eq!(owner_of(err), ("test1".into(), "test0".into()));
        assert_eq!(Field::Annotations.as_str_name(), "Annotations");
    }

    /// O3 (owners_test.go:117-136).
    #[test]
    fn o3_hooks_accumulate() {
        let mut owners = Owners::new();
        for plugin in ["plugin0", "plugin1", "plugin2"] {
            owners.accumulate("ctr0", Field::OciHooks, plugin);
        }
        assert_eq!(
            owners.simple_owner("ctr0", Field::OciHooks),
            Some("plugin0,plugin1,plugin2")
        );
    }

    /// Appendix B 2: a repeated claim by the owner is not a conflict.
    #[test]
    fn b2_repeated_claim_is_granted() {
        let mut owners = Owners::new();
        owners.claim_simple("ctr0", Field::MemLimit, "p").unwrap();
        assert_eq!(
            owners.claim_simple("ctr0", Field::MemLimit, "p").unwrap(),
            Claim::Repeated
        );
        owners
            .claim_compound("ctr0", Field::Mounts, "/m", "p")
            .unwrap();
        assert_eq!(
            owners
                .claim_compound("ctr0", Field::Mounts, "/m", "p")
                .unwrap(),
            Claim::Repeated
        );
        owners
            .claim_compound("ctr0", Field::Mounts, "/m", "q")
            .unwrap_err();
    }

    #[test]
    fn to_proto_has_field_numbers() {
        let mut owners = Owners::new();
        owners.claim_simple("ctr0", Field::MemLimit, "p").unwrap();
        owners
            .claim_compound("ctr0", Field::Annotations, "a", "q")
            .unwrap();
        let proto = owners.to_proto();
        let fields = &proto.owners["ctr0"];
        assert_eq!(fields.simple[&8], "p");
        assert_eq!(fields.compound[&1].owners["a"], "q");
        assert_eq!(owners.into_proto(), proto);
    }

    #[test]
    fn claims_skip_unset_values() {
        let mut owners = Owners::new();
        let mut claims = Claims::new(&mut owners, "ctr0", "p");
        assert!(!claims.simple(Field::CgroupsPath, &String::new()).unwrap());
        assert!(!claims.simple(Field::MemLimit, &None::<i64>).unwrap());
        assert!(claims.simple(Field::MemLimit, &Some(1)).unwrap());
        assert_eq!(owners.simple_owner("ctr0", Field::CgroupsPath), None);
        assert_eq!(owners.simple_owner("ctr0", Field::MemLimit), Some("p"));
    }
}

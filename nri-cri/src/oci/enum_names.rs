//! Turning NRI's enum values and names into oci-spec's enums.
//!
//! NRI carries OCI enums either as strings spelled as in the runtime spec
//! (seccomp actions, rlimit types, device types) or as protobuf enums whose
//! value names are the runtime spec's spelling (`SCHED_FIFO`,
//! `IOPRIO_CLASS_RT`, `MPOL_BIND`). Names are parsed with oci-spec's own
//! serde names, so a name is accepted exactly when oci-spec writes it back the
//! same way into `config.json`. Where oci-spec spells a value differently from
//! the runtime spec (its scheduler flags `SCHED_RESET_ON_FORK` and
//! `SCHED_FLAG_D_L_OVERRUN`), the runtime spec's name is refused instead of
//! being written out in a spelling runtimes reject.
//!
//! The other way, [`name`] gives the runtime spec's name of an oci-spec enum
//! value, from the same serde names (corrected where oci-spec misspells), for
//! describing a spec to NRI.

use serde::Serialize;
use serde::de::value::{Error, StrDeserializer};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::ser::{self, Impossible};

use super::AdjustError;

/// oci-spec's serde names that are not the runtime spec's, with the runtime
/// spec's name of the same value.
const MISSPELLED: [(&str, &str); 2] = [
    ("SCHED_RESET_ON_FORK", "SCHED_FLAG_RESET_ON_FORK"),
    ("SCHED_FLAG_D_L_OVERRUN", "SCHED_FLAG_DL_OVERRUN"),
];

/// The runtime spec's name of an oci-spec enum value: its serde name, or the
/// runtime spec's spelling where oci-spec's differs. `None` for a value that
/// does not serialize as a plain name (no oci-spec enum does that).
pub(crate) fn name<T: Serialize>(value: &T) -> Option<&'static str> {
    let name = value.serialize(NameOf).ok()?;
    Some(
        MISSPELLED
            .iter()
            .find(|(oci_spec, _)| *oci_spec == name)
            .map_or(name, |(_, runtime_spec)| runtime_spec),
    )
}

/// A serializer that accepts only unit enum variants and gives their names.
struct NameOf;

macro_rules! refuse {
    ($($method:ident($($arg:ty),*);)*) => {
        $(
            fn $method(self, $(_: $arg),*) -> Result<&'static str, Error> {
                Err(ser::Error::custom("not a unit variant"))
            }
        )*
    };
}

impl ser::Serializer for NameOf {
    type Ok = &'static str;
    type Error = Error;
    type SerializeSeq = Impossible<&'static str, Error>;
    type SerializeTuple = Impossible<&'static str, Error>;
    type SerializeTupleStruct = Impossible<&'static str, Error>;
    type SerializeTupleVariant = Impossible<&'static str, Error>;
    type SerializeMap = Impossible<&'static str, Error>;
    type SerializeStruct = Impossible<&'static str, Error>;
    type SerializeStructVariant = Impossible<&'static str, Error>;

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<&'static str, Error> {
        Ok(variant)
    }

    refuse! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<&'static str, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<&'static str, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<&'static str, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(ser::Error::custom("not a unit variant"))
    }
}

/// The oci-spec enum value spelled `name` in the runtime spec.
pub(super) fn parse<T: DeserializeOwned>(
    field: &'static str,
    name: &str,
) -> Result<T, AdjustError> {
    let deserializer: StrDeserializer<'_, Error> = name.into_deserializer();
    T::deserialize(deserializer)
        .map_err(|error| AdjustError::invalid(field, format!("{name:?}: {error}")))
}

/// The name of protobuf enum value `value`, or an error naming `field`.
pub(super) fn proto_name<E, F>(
    field: &'static str,
    value: i32,
    name: F,
) -> Result<&'static str, AdjustError>
where
    E: TryFrom<i32>,
    F: FnOnce(E) -> &'static str,
{
    E::try_from(value)
        .map(name)
        .map_err(|_| AdjustError::invalid(field, format!("unknown enum value {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nri_proto::api;
    use oci_spec::runtime::{
        Arch, IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType,
        MemoryPolicyModeType, PosixRlimitType,
    };

    #[test]
    fn runtime_spec_names_parse() {
        assert_eq!(
            parse::<PosixRlimitType>("rlimits", "RLIMIT_NOFILE").unwrap(),
            PosixRlimitType::RlimitNofile
        );
        assert_eq!(
            parse::<Arch>("x", "SCMP_ARCH_X86_64").unwrap(),
            Arch::ScmpArchX86_64
        );
        assert_eq!(
            parse::<Arch>("x", "SCMP_ARCH_MIPS64N32").unwrap(),
            Arch::ScmpArchMips64n32
        );
    }

    #[test]
    fn every_nri_policy_class_and_mode_has_an_oci_name() {
        use api::{IoPrioClass, LinuxSchedulerPolicy as P, MpolFlag, MpolMode};
        for p in [
            P::SchedOther,
            P::SchedFifo,
            P::SchedRr,
            P::SchedBatch,
            P::SchedIso,
            P::SchedIdle,
            P::SchedDeadline,
        ] {
            parse::<LinuxSchedulerPolicy>("x", p.as_str_name()).unwrap();
        }
        for c in [
            IoPrioClass::IoprioClassRt,
            IoPrioClass::IoprioClassBe,
            IoPrioClass::IoprioClassIdle,
        ] {
            parse::<IOPriorityClass>("x", c.as_str_name()).unwrap();
        }
        for m in [
            MpolMode::MpolDefault,
            MpolMode::MpolPreferred,
            MpolMode::MpolBind,
            MpolMode::MpolInterleave,
            MpolMode::MpolLocal,
            MpolMode::MpolPreferredMany,
            MpolMode::MpolWeightedInterleave,
        ] {
            parse::<MemoryPolicyModeType>("x", m.as_str_name()).unwrap();
        }
        for f in [
            MpolFlag::MpolFStaticNodes,
            MpolFlag::MpolFRelativeNodes,
            MpolFlag::MpolFNumaBalancing,
        ] {
            parse::<MemoryPolicyFlagType>("x", f.as_str_name()).unwrap();
        }
    }

    #[test]
    fn scheduler_flags_oci_spec_misspells_are_refused() {
        use api::LinuxSchedulerFlag as F;
        let representable = [
            F::SchedFlagReclaim,
            F::SchedFlagKeepPolicy,
            F::SchedFlagKeepParams,
            F::SchedFlagUtilClampMin,
            F::SchedFlagUtilClampMax,
        ];
        for f in representable {
            parse::<LinuxSchedulerFlag>("x", f.as_str_name()).unwrap();
        }
        for f in [F::SchedFlagResetOnFork, F::SchedFlagDlOverrun] {
            let error = parse::<LinuxSchedulerFlag>("linux.scheduler", f.as_str_name())
                .expect_err(f.as_str_name());
            assert_eq!(error.field(), "linux.scheduler");
        }
    }

    #[test]
    fn names_are_the_runtime_spec_names_and_parse_back() {
        use oci_spec::runtime::{
            LinuxDeviceType, LinuxNamespaceType, LinuxSeccompAction, LinuxSeccompOperator,
        };
        assert_eq!(name(&PosixRlimitType::RlimitNofile), Some("RLIMIT_NOFILE"));
        assert_eq!(name(&Arch::ScmpArchX86_64), Some("SCMP_ARCH_X86_64"));
        assert_eq!(name(&Arch::ScmpArchMips64n32), Some("SCMP_ARCH_MIPS64N32"));
        assert_eq!(name(&LinuxNamespaceType::Network), Some("network"));
        assert_eq!(name(&LinuxNamespaceType::Mount), Some("mount"));
        assert_eq!(name(&LinuxDeviceType::C), Some("c"));
        assert_eq!(
            name(&LinuxSeccompAction::ScmpActErrno),
            Some("SCMP_ACT_ERRNO")
        );
        assert_eq!(
            name(&LinuxSeccompOperator::ScmpCmpMaskedEq),
            Some("SCMP_CMP_MASKED_EQ")
        );
        assert_eq!(
            name(&IOPriorityClass::IoprioClassBe),
            Some("IOPRIO_CLASS_BE")
        );
        assert_eq!(name(&LinuxSchedulerPolicy::SchedFifo), Some("SCHED_FIFO"));
        for value in [PosixRlimitType::RlimitCpu, PosixRlimitType::RlimitRttime] {
            let name = name(&value).expect("a name");
            assert_eq!(parse::<PosixRlimitType>("x", name).expect("parses"), value);
        }
        assert_eq!(name(&"a string"), None, "only unit variants have names");
    }

    #[test]
    fn misspelled_scheduler_flags_get_the_runtime_spec_names() {
        use api::LinuxSchedulerFlag as F;
        let pairs = [
            (
                LinuxSchedulerFlag::SchedResetOnFork,
                F::SchedFlagResetOnFork,
            ),
            (LinuxSchedulerFlag::SchedFlagReclaim, F::SchedFlagReclaim),
            (
                LinuxSchedulerFlag::SchedFlagDLOverrun,
                F::SchedFlagDlOverrun,
            ),
            (
                LinuxSchedulerFlag::SchedFlagKeepPolicy,
                F::SchedFlagKeepPolicy,
            ),
            (
                LinuxSchedulerFlag::SchedFlagKeepParams,
                F::SchedFlagKeepParams,
            ),
            (
                LinuxSchedulerFlag::SchedFlagUtilClampMin,
                F::SchedFlagUtilClampMin,
            ),
            (
                LinuxSchedulerFlag::SchedFlagUtilClampMax,
                F::SchedFlagUtilClampMax,
            ),
        ];
        for (oci, nri) in pairs {
            assert_eq!(name(&oci), Some(nri.as_str_name()));
        }
    }

    #[test]
    fn unknown_proto_values_name_the_field() {
        let error = proto_name::<api::IoPrioClass, _>("linux.io_priority", 99, |c| c.as_str_name())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "linux.io_priority: unknown enum value 99"
        );
    }
}

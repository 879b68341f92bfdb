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

use serde::de::value::{Error, StrDeserializer};
use serde::de::{DeserializeOwned, IntoDeserializer};

use super::AdjustError;

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
    fn unknown_proto_values_name_the_field() {
        let error = proto_name::<api::IoPrioClass, _>("linux.io_priority", 99, |c| c.as_str_name())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "linux.io_priority: unknown enum value 99"
        );
    }
}

//! [`Call`]: what the runtime calls a plugin for, by its NRI name.

use nri_core::proto::event::Event;

/// A call the runtime makes to the plugin: an NRI event, or `Configure`,
/// `Synchronize` or `Shutdown`. Scripts name them as NRI does
/// (`CreateContainer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)] // The variants are NRI's names.
pub enum Call {
    Configure,
    Synchronize,
    Shutdown,
    RunPodSandbox,
    UpdatePodSandbox,
    PostUpdatePodSandbox,
    StopPodSandbox,
    RemovePodSandbox,
    CreateContainer,
    PostCreateContainer,
    StartContainer,
    PostStartContainer,
    UpdateContainer,
    PostUpdateContainer,
    StopContainer,
    RemoveContainer,
    ValidateContainerAdjustment,
}

/// What a call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// Neither a pod nor a container (Configure, Synchronize, Shutdown).
    Nothing,
    /// A pod.
    Pod,
    /// A container (and its pod).
    Container,
}

impl Call {
    /// Every call, in the order of the protocol's life cycle.
    pub const ALL: [Call; 17] = [
        Call::Configure,
        Call::Synchronize,
        Call::Shutdown,
        Call::RunPodSandbox,
        Call::UpdatePodSandbox,
        Call::PostUpdatePodSandbox,
        Call::StopPodSandbox,
        Call::RemovePodSandbox,
        Call::CreateContainer,
        Call::PostCreateContainer,
        Call::StartContainer,
        Call::PostStartContainer,
        Call::UpdateContainer,
        Call::PostUpdateContainer,
        Call::StopContainer,
        Call::RemoveContainer,
        Call::ValidateContainerAdjustment,
    ];

    /// The names of [`Call::ALL`], as scripts write them.
    pub const NAMES: [&'static str; 17] = [
        "Configure",
        "Synchronize",
        "Shutdown",
        "RunPodSandbox",
        "UpdatePodSandbox",
        "PostUpdatePodSandbox",
        "StopPodSandbox",
        "RemovePodSandbox",
        "CreateContainer",
        "PostCreateContainer",
        "StartContainer",
        "PostStartContainer",
        "UpdateContainer",
        "PostUpdateContainer",
        "StopContainer",
        "RemoveContainer",
        "ValidateContainerAdjustment",
    ];

    /// The NRI name, e.g. `CreateContainer`.
    pub fn name(self) -> &'static str {
        match self {
            Call::Configure => "Configure",
            Call::Synchronize => "Synchronize",
            Call::Shutdown => "Shutdown",
            other => other.event().map_or("Unknown", Event::name),
        }
    }

    /// The call named `name` (exactly, as NRI spells it).
    pub fn from_name(name: &str) -> Option<Call> {
        Call::ALL.into_iter().find(|call| call.name() == name)
    }

    /// The event, for the calls that are events.
    pub fn event(self) -> Option<Event> {
        Some(match self {
            Call::Configure | Call::Synchronize | Call::Shutdown => return None,
            Call::RunPodSandbox => Event::RunPodSandbox,
            Call::UpdatePodSandbox => Event::UpdatePodSandbox,
            Call::PostUpdatePodSandbox => Event::PostUpdatePodSandbox,
            Call::StopPodSandbox => Event::StopPodSandbox,
            Call::RemovePodSandbox => Event::RemovePodSandbox,
            Call::CreateContainer => Event::CreateContainer,
            Call::PostCreateContainer => Event::PostCreateContainer,
            Call::StartContainer => Event::StartContainer,
            Call::PostStartContainer => Event::PostStartContainer,
            Call::UpdateContainer => Event::UpdateContainer,
            Call::PostUpdateContainer => Event::PostUpdateContainer,
            Call::StopContainer => Event::StopContainer,
            Call::RemoveContainer => Event::RemoveContainer,
            Call::ValidateContainerAdjustment => Event::ValidateContainerAdjustment,
        })
    }

    /// What the call is about.
    pub(crate) fn subject(self) -> Subject {
        match self.event() {
            None => Subject::Nothing,
            Some(event) if event.is_pod_event() => Subject::Pod,
            Some(_) => Subject::Container,
        }
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Call {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Call::from_name(&name).ok_or_else(|| serde::de::Error::unknown_variant(&name, &Call::NAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_subjects_follow_the_event() {
        for (call, name) in Call::ALL.into_iter().zip(Call::NAMES) {
            assert_eq!(call.name(), name);
            assert_eq!(Call::from_name(name), Some(call));
        }
        assert_eq!(Call::from_name("createcontainer"), None);
        assert_eq!(Call::Synchronize.subject(), Subject::Nothing);
        assert_eq!(Call::UpdatePodSandbox.subject(), Subject::Pod);
        assert_eq!(
            Call::ValidateContainerAdjustment.subject(),
            Subject::Container
        );
    }
}

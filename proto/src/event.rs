//! NRI events and the event subscription mask.
//!
//! A plugin subscribes to events in its `ConfigureResponse.events`: event `e`
//! is bit `1 << (e - 1)`, and a mask of 0 subscribes to every event
//! (containerd/nri `pkg/api/event.go`). Masks parse from upstream's
//! comma-separated names, case-insensitively: the event names
//! (`RunPodSandbox`, `createcontainer`, …), `all`, `pod` or `podsandbox`
//! (every event whose name mentions a pod) and `container` (every event whose
//! name mentions a container).
//!
//! ```
//! use nri_proto::event::{Event, EventMask};
//!
//! let mask: EventMask = "pod, CreateContainer".parse()?;
//! assert!(mask.contains(Event::StopPodSandbox));
//! assert!(!mask.contains(Event::StartContainer));
//! assert_eq!(EventMask::from_bits(0).effective(), EventMask::ALL);
//! assert!(EventMask::from_bits(1 << 20).validate().is_err());
//! # Ok::<(), nri_proto::event::ParseEventError>(())
//! ```

use std::fmt;
use std::str::FromStr;

pub use crate::api::Event;

/// Every real event, in protocol order.
pub const EVENTS: [Event; 14] = [
    Event::RunPodSandbox,
    Event::StopPodSandbox,
    Event::RemovePodSandbox,
    Event::CreateContainer,
    Event::PostCreateContainer,
    Event::StartContainer,
    Event::PostStartContainer,
    Event::UpdateContainer,
    Event::PostUpdateContainer,
    Event::StopContainer,
    Event::RemoveContainer,
    Event::UpdatePodSandbox,
    Event::PostUpdatePodSandbox,
    Event::ValidateContainerAdjustment,
];

impl Event {
    /// The event's name as its RPC is called, e.g. `RunPodSandbox`;
    /// `Unknown` for the non-events.
    pub fn name(self) -> &'static str {
        match self {
            Event::RunPodSandbox => "RunPodSandbox",
            Event::StopPodSandbox => "StopPodSandbox",
            Event::RemovePodSandbox => "RemovePodSandbox",
            Event::CreateContainer => "CreateContainer",
            Event::PostCreateContainer => "PostCreateContainer",
            Event::StartContainer => "StartContainer",
            Event::PostStartContainer => "PostStartContainer",
            Event::UpdateContainer => "UpdateContainer",
            Event::PostUpdateContainer => "PostUpdateContainer",
            Event::StopContainer => "StopContainer",
            Event::RemoveContainer => "RemoveContainer",
            Event::UpdatePodSandbox => "UpdatePodSandbox",
            Event::PostUpdatePodSandbox => "PostUpdatePodSandbox",
            Event::ValidateContainerAdjustment => "ValidateContainerAdjustment",
            Event::Unknown | Event::Last => "Unknown",
        }
    }

    /// The event's bit in a subscription mask; 0 for the non-events.
    pub fn bit(self) -> i32 {
        let number = self as i32;
        if (1..Event::Last as i32).contains(&number) {
            1 << (number - 1)
        } else {
            0
        }
    }

    /// Whether the event concerns a pod sandbox.
    pub fn is_pod_event(self) -> bool {
        self.name().contains("PodSandbox")
    }

    /// Whether the event concerns a container.
    pub fn is_container_event(self) -> bool {
        self.name().contains("Container")
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of events, as carried in `ConfigureResponse.events`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventMask(i32);

impl EventMask {
    /// No event. On the wire this means "every event"; see [`EventMask::effective`].
    pub const NONE: EventMask = EventMask(0);

    /// Every event this protocol version defines (0x3FFF).
    pub const ALL: EventMask = EventMask((1 << (Event::Last as i32 - 1)) - 1);

    /// Every event NRI v0.2–v0.9 runtimes know (0x07FF); a plugin that
    /// subscribes to anything else is refused by them.
    pub const ALL_BEFORE_V0_10: EventMask = EventMask((1 << 11) - 1);

    /// The mask with exactly these bits, valid or not.
    pub const fn from_bits(bits: i32) -> Self {
        EventMask(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> i32 {
        self.0
    }

    /// The mask of the given events.
    pub fn of(events: impl IntoIterator<Item = Event>) -> Self {
        events.into_iter().fold(EventMask::NONE, EventMask::with)
    }

    /// This mask plus `event`.
    #[must_use]
    pub fn with(self, event: Event) -> Self {
        EventMask(self.0 | event.bit())
    }

    /// This mask without `event`.
    #[must_use]
    pub fn without(self, event: Event) -> Self {
        EventMask(self.0 & !event.bit())
    }

    /// Whether `event` is in the mask. The non-events are never in it.
    pub fn contains(self, event: Event) -> bool {
        let bit = event.bit();
        bit != 0 && self.0 & bit == bit
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The events a runtime delivers for this mask: 0 means every event.
    #[must_use]
    pub fn effective(self) -> Self {
        if self.is_empty() {
            EventMask::ALL
        } else {
            self
        }
    }

    /// The events in the mask, in protocol order.
    pub fn events(self) -> impl Iterator<Item = Event> {
        EVENTS.into_iter().filter(move |e| self.contains(*e))
    }

    /// Checks that no bit outside [`EventMask::ALL`] is set, as a runtime
    /// does before accepting a plugin.
    pub fn validate(self) -> Result<(), InvalidEventMask> {
        let unknown = self.0 & !EventMask::ALL.0;
        if unknown == 0 {
            Ok(())
        } else {
            Err(InvalidEventMask {
                mask: self.0,
                unknown,
            })
        }
    }
}

impl fmt::Debug for EventMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventMask({:#06x}: {self})", self.0)
    }
}

impl fmt::Display for EventMask {
    /// Comma-separated event names; `none` for an empty mask. Unknown bits
    /// show as `unknown(0x…)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for event in self.events() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(event.name())?;
        }
        let unknown = self.0 & !EventMask::ALL.0;
        if unknown != 0 {
            if !first {
                f.write_str(",")?;
            }
            write!(f, "unknown({unknown:#x})")?;
        }
        Ok(())
    }
}

impl FromIterator<Event> for EventMask {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        EventMask::of(iter)
    }
}

impl From<Event> for EventMask {
    fn from(event: Event) -> Self {
        EventMask::NONE.with(event)
    }
}

impl std::ops::BitOr for EventMask {
    type Output = EventMask;

    fn bitor(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 | rhs.0)
    }
}

impl FromStr for EventMask {
    type Err = ParseEventError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mask = EventMask::NONE;
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let lower = word.to_ascii_lowercase();
            let words: EventMask = match lower.as_str() {
                "all" => EventMask::ALL,
                "pod" | "podsandbox" => EVENTS.into_iter().filter(|e| e.is_pod_event()).collect(),
                "container" => EVENTS
                    .into_iter()
                    .filter(|e| e.is_container_event())
                    .collect(),
                _ => EVENTS
                    .into_iter()
                    .find(|e| e.name().eq_ignore_ascii_case(&lower))
                    .map(EventMask::from)
                    .ok_or_else(|| ParseEventError {
                        word: word.to_string(),
                    })?,
            };
            mask = mask | words;
        }
        Ok(mask)
    }
}

/// A mask with bits no event stands for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plugin events: {mask:#x} (unknown bits {unknown:#x})")]
pub struct InvalidEventMask {
    /// The whole mask.
    pub mask: i32,
    /// The bits no event stands for.
    pub unknown: i32,
}

/// An event name that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown NRI event {word:?}")]
pub struct ParseEventError {
    /// The word that is not an event name.
    pub word: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bits_follow_the_protocol_numbers() {
        for event in EVENTS {
            assert_eq!(event.bit(), 1 << (event as i32 - 1), "{event}");
        }
        assert_eq!(Event::Unknown.bit(), 0);
        assert_eq!(Event::Last.bit(), 0);
        assert_eq!(
            EventMask::ALL.bits(),
            EVENTS.iter().map(|e| e.bit()).sum::<i32>()
        );
        assert_eq!(EventMask::ALL.bits(), 0x3FFF);
    }

    #[test]
    fn names_match_the_generated_protocol_names() {
        // The generated as_str_name() is the proto's SCREAMING_CASE name.
        for event in EVENTS {
            let screaming: String = event.as_str_name().split('_').collect();
            assert!(screaming.eq_ignore_ascii_case(event.name()), "{event}");
        }
    }

    #[test]
    fn group_names_select_pod_and_container_events() {
        let pod: EventMask = "pod".parse().expect("parses");
        assert_eq!(pod, "PodSandbox".parse().expect("parses"));
        assert_eq!(pod.events().count(), 5);
        let container: EventMask = "container".parse().expect("parses");
        assert_eq!(container.events().count(), 9);
        assert_eq!(pod | container, EventMask::ALL);
        assert_eq!("all".parse::<EventMask>(), Ok(EventMask::ALL));
    }

    #[test]
    fn unknown_names_are_errors() {
        let err = "createcontainer,bogus".parse::<EventMask>();
        assert_eq!(
            err,
            Err(ParseEventError {
                word: "bogus".into()
            })
        );
    }

    #[test]
    fn zero_means_every_event_but_contains_nothing() {
        assert!(!EventMask::NONE.contains(Event::CreateContainer));
        assert!(EventMask::NONE.effective().contains(Event::CreateContainer));
        assert_eq!(EventMask::NONE.validate(), Ok(()));
    }

    #[test]
    fn legacy_runtimes_know_eleven_events() {
        assert_eq!(EventMask::ALL_BEFORE_V0_10.bits(), 0x07FF);
        assert!(!EventMask::ALL_BEFORE_V0_10.contains(Event::UpdatePodSandbox));
        assert!(EventMask::ALL_BEFORE_V0_10.contains(Event::RemoveContainer));
    }

    proptest! {
        #[test]
        fn display_parses_back(bits in 0i32..=0x3FFF) {
            let mask = EventMask::from_bits(bits);
            let text = mask.to_string();
            let parsed = if bits == 0 { EventMask::NONE } else { text.parse().map_err(|e| TestCaseError::fail(format!("{e}")))? };
            prop_assert_eq!(parsed, mask);
        }

        #[test]
        fn validate_rejects_exactly_the_unknown_bits(bits in any::<i32>()) {
            let mask = EventMask::from_bits(bits);
            prop_assert_eq!(mask.validate().is_ok(), bits & !0x3FFF == 0);
            prop_assert_eq!(EventMask::of(mask.events()).bits(), bits & 0x3FFF);
        }
    }
}

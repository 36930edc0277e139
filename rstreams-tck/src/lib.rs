//! The rstreams compliance kit: probes that record and check the Reactive Streams protocol.
//!
//! This release holds the probe that the rest of the workspace tests with,
//! [`TestSubscriber`]. The rule-by-rule verifications (`PublisherVerification`,
//! `OperatorVerification`, `SubscriberVerification`) are not written yet.

mod probe;

pub use probe::TestSubscriber;

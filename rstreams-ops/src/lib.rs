//! Operators for rstreams, each with documented demand behaviour.
//!
//! Not written yet: this crate is the place reserved for them in the workspace layout, and it
//! holds no operator so far. Until it does, build pipelines from the sources, sinks and the
//! [`rstreams_core::support`] toolkit.

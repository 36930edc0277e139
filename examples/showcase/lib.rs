//! The examples of rstreams that need other crates (plotters, tower, tokio): `overload`,
//! `resilience` and `async_bridge`. This package has no library of its own; see
//! `examples/README.md` and run them with
//! `cargo run --release -p rstreams-showcase --example NAME`.

//! The benchmarks of rstreams, each group comparing rstreams with what a user would otherwise
//! pick, in the same run (`cargo bench -p rstreams-benches`). `benches/report.sh` runs them all
//! and rewrites the performance table of the README.
//!
//! This library has no items: the package exists so that the facade's examples and tests do
//! not compile criterion and the comparison crates.

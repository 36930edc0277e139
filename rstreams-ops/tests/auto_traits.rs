//! The operator publishers and handles can cross threads when their source and closures can.

use rstreams_core::source::Range;
use rstreams_ops::{
    Buffer, Dropped, Filter, LimitRate, Map, OnBackpressureBuffer, OnBackpressureDrop,
    OnBackpressureLatest, Overflow, Scan, Skip, Take,
};

fn send_sync<T: Send + Sync>() {}

type Closure = fn(u64) -> u64;

#[test]
fn operator_publishers_can_be_shared_across_threads() {
    send_sync::<Map<Range, Closure>>();
    send_sync::<Filter<Range, fn(&u64) -> bool>>();
    send_sync::<Scan<Range, u64, fn(&mut u64, u64) -> u64>>();
    send_sync::<Take<Range>>();
    send_sync::<Skip<Range>>();
    send_sync::<Buffer<Range>>();
    send_sync::<LimitRate<Range>>();
    send_sync::<OnBackpressureBuffer<Range, fn(u64)>>();
    send_sync::<OnBackpressureDrop<Range, fn(u64)>>();
    send_sync::<OnBackpressureLatest<Range, fn(u64)>>();
}

#[test]
fn the_dropped_handle_and_the_overflow_policy_can_be_shared_across_threads() {
    send_sync::<Dropped>();
    send_sync::<Overflow>();
}

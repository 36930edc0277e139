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

#[test]
fn the_error_retry_timeout_and_hook_publishers_and_the_policy_can_be_shared_across_threads() {
    use rstreams_core::scheduler::ThreadPool;
    use rstreams_core::source::Never;
    use rstreams_core::Error;
    use rstreams_ops::{
        Finally, Inspect, Jitter, MapErr, OnCancel, OnErrorResume, OnErrorReturn, OnRequest,
        OnTerminate, Retry, RetryPolicy, Timeout,
    };
    send_sync::<OnErrorResume<Range, fn(Error) -> Range>>();
    send_sync::<OnErrorReturn<Range, fn(Error) -> u64>>();
    send_sync::<MapErr<Range, fn(Error) -> Error>>();
    send_sync::<Retry<Range>>();
    send_sync::<RetryPolicy>();
    send_sync::<Jitter>();
    send_sync::<Timeout<Range, Never<u64>, ThreadPool>>();
    send_sync::<Inspect<Range, fn(&u64)>>();
    send_sync::<OnRequest<Range, fn(u64)>>();
    send_sync::<OnCancel<Range, fn()>>();
    send_sync::<OnTerminate<Range, fn(Option<&Error>)>>();
    send_sync::<Finally<Range, fn()>>();
}

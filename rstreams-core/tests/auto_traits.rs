//! The public types are `Send` / `Sync` where a user needs them to cross threads.

use rstreams_core::scheduler::{Immediate, Task, TaskHandle, ThreadPool, Timer, VirtualTime};
use rstreams_core::sink::{LambdaSubscriber, SubscriberHandle};
use rstreams_core::source::OverflowPolicy;
use rstreams_core::source::{Empty, Fail, FromIter, Interval, Never, Range};
use rstreams_core::support::{
    BoundedQueue, Demand, Drain, DrainCell, Dropped, Overflow, UpstreamSlot,
};
use rstreams_core::{BoxPublisher, Error, NoopSubscription};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn publishers_errors_and_schedulers_can_be_shared_across_threads() {
    send_sync::<Error>();
    send_sync::<BoxPublisher<u64>>();
    send_sync::<Range>();
    send_sync::<FromIter<std::vec::IntoIter<u64>>>();
    send_sync::<Empty<u64>>();
    send_sync::<Fail<u64>>();
    send_sync::<Never<u64>>();
    send_sync::<Interval<ThreadPool>>();
    send_sync::<ThreadPool>();
    send_sync::<Timer>();
    send_sync::<VirtualTime>();
    send_sync::<Immediate>();
    send_sync::<TaskHandle>();
    send::<Task>();
}

#[test]
fn support_helpers_can_be_shared_across_threads() {
    send_sync::<Demand>();
    send_sync::<Drain>();
    send_sync::<DrainCell<Vec<u8>>>();
    send_sync::<UpstreamSlot>();
    send_sync::<BoundedQueue<String>>();
    send_sync::<NoopSubscription>();
    send_sync::<Dropped>();
    send_sync::<Overflow>();
    send_sync::<OverflowPolicy>();
}

#[test]
fn sinks_can_move_to_the_emitting_thread() {
    send::<LambdaSubscriber<u64, fn(u64)>>();
    send_sync::<SubscriberHandle>();
}

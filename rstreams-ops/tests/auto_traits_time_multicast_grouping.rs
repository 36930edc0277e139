//! The publishers and handles of the time, multicast and grouping operators can cross threads
//! when their source and closures can: a window or a group is handed to another thread to be
//! consumed there, a connection is disconnected from anywhere.

use rstreams_core::scheduler::Timer;
use rstreams_core::source::Range;
use rstreams_ops::{
    Conflate, Connection, Debounce, Delay, Group, GroupBy, Pane, Publish, Replay, Sample, Share,
    Window, WindowTimeout,
};

fn send_sync<T: Send + Sync>() {}

#[test]
fn time_operator_publishers_can_be_shared_across_threads() {
    send_sync::<Debounce<Range, Timer>>();
    send_sync::<Sample<Range, Timer>>();
    send_sync::<Delay<Range, Timer>>();
    send_sync::<Conflate<Range, fn(u64, u64) -> u64>>();
}

#[test]
fn multicast_publishers_and_the_connection_can_be_shared_across_threads() {
    send_sync::<Share<Range>>();
    send_sync::<Publish<Range>>();
    send_sync::<Replay<Range>>();
    send_sync::<Connection>();
}

#[test]
fn windows_groups_and_their_stages_can_be_shared_across_threads() {
    send_sync::<Window<Range>>();
    send_sync::<WindowTimeout<Range, Timer>>();
    send_sync::<Pane<u64>>();
    send_sync::<GroupBy<Range, fn(&u64) -> u64>>();
    send_sync::<Group<u64, u64>>();
}

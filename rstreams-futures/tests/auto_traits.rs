//! The bridges' types are `Send` (and `Sync` where it makes sense) when their elements are, so
//! that they can be spawned on a multi-threaded runtime and shared as publishers.

use futures::channel::mpsc;
use futures::stream;
use rstreams_core::source;
use rstreams_futures::{
    defer_future, defer_stream, for_each_async, forward_to, from_future, from_stream, into_stream,
    subscribe_async, AsyncSubscriber, PublisherStream, SinkSubscriber,
};
use std::sync::Arc;

fn send<T: Send>(_: &T) {}
fn send_sync<T: Send + Sync>(_: &T) {}

#[test]
fn publishers_made_from_streams_and_futures_can_be_shared_across_threads() {
    send_sync(&from_stream(stream::iter(0..3u64)));
    send_sync(&defer_stream(|| stream::iter(0..3u64)));
    send_sync(&from_future(async { 1u8 }));
    send_sync(&defer_future(|| async { 1u8 }));
}

#[test]
fn streams_futures_and_subscribers_can_move_to_another_thread() {
    let s: PublisherStream<String> = into_stream(source::just(String::new()), 4);
    send_sync(&s);
    let (tx, _rx) = mpsc::channel::<u64>(1);
    send(&forward_to(source::range(0, 1), tx));
    send(&for_each_async(source::range(0, 1), |_| async {}, 2));
    let consumer: Arc<dyn AsyncSubscriber<u64>> = Arc::new(Nop);
    send(&subscribe_async(source::range(0, 1), consumer, 2));
    fn subscriber_is_send<T: Send>() {}
    subscriber_is_send::<SinkSubscriber<String>>();
}

struct Nop;

#[rstreams_futures::async_trait]
impl AsyncSubscriber<u64> for Nop {
    async fn on_next(&self, _item: u64) -> Result<(), rstreams_core::Error> {
        Ok(())
    }
}

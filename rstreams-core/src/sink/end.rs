//! Where a blocking terminal ([`LambdaSubscriber::run`](super::LambdaSubscriber::run),
//! [`collect`](super::collect)) receives its stream's end.
//!
//! The waiting caller and the sink share one small slot: a lock around the end and a condition
//! variable. The slot is kept per thread between calls (one spare, taken and given back), so a
//! blocking terminal on a thread that ran one before allocates nothing for its end. The sink
//! sends one end and then only drops its copy; a slot given back while a sink on another
//! thread still holds its copy (between its `notify_one` and the drop) is safe to use again:
//! the late notification is a spurious wake-up, which the waiting loop absorbs. A nested call
//! (a `run` inside another's `on_next`) finds no spare and makes its own, which the outer
//! call's slot, given back after it, replaces.

use std::sync::Arc;

use crate::sync::{AtomicU8, Condvar, Mutex, Ordering};
use crate::Error;

/// The end a waiting caller receives.
pub(crate) type End = Result<(), Error>;

/// One blocking terminal's meeting point.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// Where the end is: `RUNNING` (not sent, nobody asleep), `ASLEEP` (not sent, the caller
    /// waits on `ended`; set under `end`'s lock), `COMPLETED` (sent: `Ok(())`, not stored) or
    /// `FAILED` (sent: the error is in `end`). Back to `RUNNING` when the caller took the end.
    state: AtomicU8,
    /// The error of a failed stream; `None` otherwise. Written and taken under its lock.
    end: Mutex<Option<Error>>,
    /// Notified when the end is sent to a caller that was asleep.
    ended: Condvar,
}

const RUNNING: u8 = 0;
const ASLEEP: u8 = 1;
const COMPLETED: u8 = 2;
const FAILED: u8 = 3;

impl Slot {
    /// Sends the end. A completion is one atomic swap, and a lock only if the caller is
    /// asleep; an error is stored under the lock.
    fn put(&self, end: End) {
        let before = match end {
            Ok(()) => self.state.swap(COMPLETED, Ordering::AcqRel),
            Err(error) => {
                let mut slot = self.end.lock();
                *slot = Some(error);
                self.state.swap(FAILED, Ordering::AcqRel)
            }
        };
        if before == ASLEEP {
            // The caller set ASLEEP under the lock and holds it until its wait releases it:
            // taking the lock here means it is waiting, so the notification reaches it.
            drop(self.end.lock());
            self.ended.notify_one();
        }
    }

    /// Blocks until the sink sends the end; takes it, leaving the slot ready for its next use.
    pub(crate) fn wait(&self) -> End {
        if self.state.load(Ordering::Acquire) == COMPLETED {
            self.state.store(RUNNING, Ordering::Relaxed);
            return Ok(());
        }
        let mut slot = self.end.lock();
        loop {
            match self
                .state
                .compare_exchange(RUNNING, ASLEEP, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) | Err(ASLEEP) => self.ended.wait(&mut slot),
                Err(COMPLETED) => {
                    self.state.store(RUNNING, Ordering::Relaxed);
                    return Ok(());
                }
                Err(_) => {
                    self.state.store(RUNNING, Ordering::Relaxed);
                    let error = slot.take().expect("a failed end stores its error");
                    return Err(error);
                }
            }
        }
    }
}

/// The sink's side of a [`Slot`]: sends the end once. Its holder sends one whatever happens:
/// dropped before its stream ended (a publisher that lost it), it sends a §1.4 error, so the
/// caller never waits for an end that cannot come (`LambdaSubscriber`'s `Drop`).
#[derive(Debug)]
pub(crate) struct EndSender(Arc<Slot>);

impl EndSender {
    /// Sends `end` to the waiting caller; the sink's last touch of the slot.
    #[inline]
    pub(crate) fn send(self, end: End) {
        self.0.put(end);
    }
}

/// Calls `subscribe` with the sink's side of a slot and blocks until the end arrives.
pub(crate) fn block_until_end(subscribe: impl FnOnce(EndSender)) -> End {
    let slot = spare::take();
    subscribe(EndSender(Arc::clone(&slot)));
    let end = slot.wait();
    spare::give_back(slot);
    end
}

#[cfg(not(loom))]
mod spare {
    use std::cell::Cell;
    use std::sync::Arc;

    use super::Slot;

    std::thread_local! {
        /// This thread's spare slot: `None` while a blocking terminal on this thread uses it
        /// (or before the first one).
        static SPARE: Cell<Option<Arc<Slot>>> = const { Cell::new(None) };
    }

    /// This thread's spare slot, or a new one.
    #[inline]
    pub(super) fn take() -> Arc<Slot> {
        SPARE
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Keeps `slot` as this thread's spare: its end was taken, so it is empty again (a sink
    /// that still holds a copy has sent its one end). It replaces (and frees) a spare a nested
    /// call gave back meanwhile.
    #[inline]
    pub(super) fn give_back(slot: Arc<Slot>) {
        let _ = SPARE.try_with(|spare| spare.set(Some(slot)));
    }
}

/// Under loom a slot is never kept: loom's primitives belong to one model execution.
#[cfg(loom)]
mod spare {
    use std::sync::Arc;

    use super::Slot;

    pub(super) fn take() -> Arc<Slot> {
        Arc::default()
    }

    pub(super) fn give_back(_slot: Arc<Slot>) {}
}

#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc;

    use loom::thread;

    use super::{EndSender, Slot};
    use crate::{Error, Publisher, Subscriber};

    /// The sink sends `end` on a thread of its own while the caller waits (or has not yet).
    fn an_end_from_another_thread_reaches_the_waiting_caller(end: fn() -> super::End) {
        loom::model(move || {
            let slot = Arc::new(Slot::default());
            let sender = EndSender(Arc::clone(&slot));
            let sink = thread::spawn(move || sender.send(end()));
            assert_eq!(
                slot.wait().map_err(|e| e.message().to_owned()),
                end().map_err(|e| e.message().to_owned())
            );
            sink.join().unwrap();
        });
    }

    #[test]
    fn loom_an_error_sent_from_another_thread_reaches_the_waiting_caller() {
        an_end_from_another_thread_reaches_the_waiting_caller(|| Err(Error::msg("boom")));
    }

    #[test]
    fn loom_a_completion_sent_from_another_thread_wakes_the_waiting_caller() {
        an_end_from_another_thread_reaches_the_waiting_caller(|| Ok(()));
    }

    #[test]
    fn loom_a_slot_used_again_while_the_last_sender_still_notifies_gets_the_new_end() {
        loom::model(|| {
            let slot = Arc::new(Slot::default());
            let first = EndSender(Arc::clone(&slot));
            let late = thread::spawn(move || first.send(Ok(())));
            assert!(slot.wait().is_ok());
            // Given back and taken again at once: the first sender may still be notifying.
            let second = EndSender(Arc::clone(&slot));
            let next = thread::spawn(move || second.send(Err(Error::msg("second"))));
            assert_eq!(slot.wait().unwrap_err().message(), "second");
            late.join().unwrap();
            next.join().unwrap();
        });
    }

    /// Subscribes each subscriber, then drops it on a thread of its own without an end.
    struct LosesOnAnotherThread;

    impl Publisher for LosesOnAnotherThread {
        type Item = u64;
        fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
            subscriber.on_subscribe(Arc::new(crate::NoopSubscription));
            thread::spawn(move || drop(subscriber));
        }
    }

    #[test]
    fn loom_a_sink_dropped_on_another_thread_ends_run_with_a_1_4_error() {
        loom::model(|| {
            let end = crate::sink::for_each(|_: u64| {}).run(&LosesOnAnotherThread);
            assert_eq!(end.unwrap_err().rule(), Some("1.4"));
        });
    }
}

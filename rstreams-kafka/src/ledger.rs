//! The commit ledger: which offsets of each assigned partition were fetched and not yet acked,
//! and so which offset may be committed (the contiguous acked prefix). Pure bookkeeping, no
//! client: the fetcher thread and [`Delivery::ack`](crate::Delivery::ack) share it under a lock.

use std::collections::{BTreeSet, HashMap};

/// A topic and one of its partitions.
pub(crate) type TopicPartition = (String, i32);

/// What an ack did. Returned by [`Delivery::ack`](crate::Delivery::ack).
///
/// ```
/// use rstreams_kafka::Acked;
///
/// assert!(Acked::Recorded.is_recorded());
/// assert!(!Acked::Revoked.is_recorded());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "an ack after a rebalance or after the subscription ended commits nothing"]
pub enum Acked {
    /// The ack counts: the offset is committed as soon as every earlier offset of its
    /// partition fetched by this subscription is acked too (the contiguous acked prefix).
    Recorded,
    /// The partition was revoked (a rebalance gave it to another consumer, or took it away and
    /// gave it back) after this delivery was fetched: nothing is committed for it, and the
    /// message will be delivered again from the partition's last committed offset — it may
    /// already be on its way to the partition's new owner. Processing must be idempotent.
    Revoked,
    /// The subscription has ended (cancelled or failed); its acked prefix was committed when it
    /// ended and this ack commits nothing: the message will be delivered again to the next
    /// consumer of the group.
    Closed,
}

impl Acked {
    /// Whether the ack was recorded (it will be committed with its partition's prefix).
    ///
    /// ```
    /// assert!(rstreams_kafka::Acked::Recorded.is_recorded());
    /// ```
    pub fn is_recorded(self) -> bool {
        self == Acked::Recorded
    }
}

/// One assigned partition's bookkeeping.
#[derive(Debug)]
struct Track {
    /// Which assignment this is: deliveries of an earlier one (before a revoke) do not count.
    epoch: u64,
    /// Offsets fetched (buffered or delivered) and not acked, in order; the first is the
    /// commit point while any is left.
    outstanding: BTreeSet<i64>,
    /// The first offset fetched in this assignment (`None` before the first fetch): a commit
    /// point that has not passed it says nothing new, so it is not sent.
    start: Option<i64>,
    /// The offset after the last one fetched (`None` before the first fetch): the commit point
    /// when nothing is outstanding.
    next: Option<i64>,
    /// The last commit point the broker accepted (`None`: none yet by this subscription).
    committed: Option<i64>,
}

impl Track {
    /// The offset to commit now: the first unacked one, or the one after everything fetched.
    fn point(&self) -> Option<i64> {
        self.outstanding.first().copied().or(self.next)
    }

    fn due(&self) -> Option<i64> {
        let point = self.point()?;
        match (self.committed, self.start) {
            (Some(done), _) if done >= point => None,
            (None, Some(start)) if start >= point => None,
            _ => Some(point),
        }
    }
}

/// Every assigned partition of one subscription.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// The partitions assigned now, each with its current assignment's bookkeeping.
    partitions: HashMap<TopicPartition, Track>,
    /// The epoch the next assignment gets (epochs only grow).
    next_epoch: u64,
    /// Fetched and not acked, over all assigned partitions (the `max_unacked` bound).
    unacked: u64,
    /// The subscription has ended: acks are answered with [`Acked::Closed`].
    closed: bool,
}

impl Ledger {
    /// Offsets fetched and not acked, over all assigned partitions.
    pub(crate) fn unacked(&self) -> u64 {
        self.unacked
    }

    /// Starts a new assignment of `tp` (forgetting any earlier one).
    pub(crate) fn assign(&mut self, tp: TopicPartition) {
        self.next_epoch += 1;
        let track = Track {
            epoch: self.next_epoch,
            outstanding: BTreeSet::new(),
            start: None,
            next: None,
            committed: None,
        };
        if let Some(old) = self.partitions.insert(tp, track) {
            self.unacked -= old.outstanding.len() as u64;
        }
    }

    /// Ends the assignment of `tp`; returns its commit point if it was not committed yet.
    /// Later acks of its deliveries are [`Acked::Revoked`].
    pub(crate) fn revoke(&mut self, tp: &TopicPartition) -> Option<i64> {
        let track = self.partitions.remove(tp)?;
        self.unacked -= track.outstanding.len() as u64;
        track.due()
    }

    /// Records a fetched offset; returns the epoch its delivery carries, or `None` if `tp` is
    /// not assigned (or the ledger is closed): such a message is not delivered.
    pub(crate) fn fetched(&mut self, tp: &TopicPartition, offset: i64) -> Option<u64> {
        if self.closed {
            return None;
        }
        let track = self.partitions.get_mut(tp)?;
        if track.outstanding.insert(offset) {
            self.unacked += 1;
        }
        track.start.get_or_insert(offset);
        track.next = Some(track.next.map_or(offset + 1, |n| n.max(offset + 1)));
        Some(track.epoch)
    }

    /// An ack of `offset`, fetched in assignment `epoch`.
    pub(crate) fn ack(&mut self, tp: &TopicPartition, offset: i64, epoch: u64) -> Acked {
        if self.closed {
            return Acked::Closed;
        }
        match self.partitions.get_mut(tp) {
            Some(track) if track.epoch == epoch => {
                if track.outstanding.remove(&offset) {
                    self.unacked -= 1;
                }
                Acked::Recorded
            }
            _ => Acked::Revoked,
        }
    }

    /// The commit points not yet committed: `(partition, offset, epoch)`.
    pub(crate) fn due(&self) -> Vec<(TopicPartition, i64, u64)> {
        self.partitions
            .iter()
            .filter_map(|(tp, track)| track.due().map(|o| (tp.clone(), o, track.epoch)))
            .collect()
    }

    /// The broker accepted `offset` as the commit point of `tp` in assignment `epoch`.
    pub(crate) fn committed(&mut self, tp: &TopicPartition, offset: i64, epoch: u64) {
        if let Some(track) = self.partitions.get_mut(tp) {
            if track.epoch == epoch {
                track.committed = Some(track.committed.map_or(offset, |c| c.max(offset)));
            }
        }
    }

    /// Ends the subscription: returns what is due, and answers later acks with
    /// [`Acked::Closed`].
    pub(crate) fn close(&mut self) -> Vec<(TopicPartition, i64, u64)> {
        self.closed = true;
        self.due()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        ("t".to_owned(), 0)
    }

    fn ledger_with(offsets: std::ops::Range<i64>) -> (Ledger, u64) {
        let mut ledger = Ledger::default();
        ledger.assign(tp());
        let mut epoch = 0;
        for o in offsets {
            epoch = ledger.fetched(&tp(), o).unwrap();
        }
        (ledger, epoch)
    }

    fn due_offset(ledger: &Ledger) -> Option<i64> {
        ledger.due().first().map(|(_, o, _)| *o)
    }

    #[test]
    fn the_commit_point_is_the_first_unacked_offset_whatever_the_order_of_acks() {
        let (mut ledger, epoch) = ledger_with(0..5);
        assert_eq!(
            due_offset(&ledger),
            None,
            "nothing acked: nothing to commit"
        );
        assert_eq!(ledger.ack(&tp(), 2, epoch), Acked::Recorded);
        assert_eq!(due_offset(&ledger), None, "a gap at 0 holds the prefix");
        ledger
            .ack(&tp(), 0, epoch)
            .is_recorded()
            .then_some(())
            .unwrap();
        assert_eq!(due_offset(&ledger), Some(1), "prefix 0 acked: commit 1");
        ledger.committed(&tp(), 1, epoch);
        assert_eq!(due_offset(&ledger), None, "committed: nothing due");
        ledger
            .ack(&tp(), 1, epoch)
            .is_recorded()
            .then_some(())
            .unwrap();
        assert_eq!(due_offset(&ledger), Some(3), "0, 1, 2 acked: commit 3");
        assert_eq!(ledger.unacked(), 2);
        assert!(ledger.ack(&tp(), 3, epoch).is_recorded());
        assert!(ledger.ack(&tp(), 4, epoch).is_recorded());
        assert_eq!(due_offset(&ledger), Some(5), "all acked: the next offset");
        assert_eq!(ledger.unacked(), 0);
    }

    #[test]
    fn acks_of_a_revoked_assignment_are_not_recorded_even_after_it_comes_back() {
        let (mut ledger, old) = ledger_with(0..3);
        assert!(ledger.ack(&tp(), 0, old).is_recorded());
        assert_eq!(
            ledger.revoke(&tp()),
            Some(1),
            "revoke returns the uncommitted prefix"
        );
        assert_eq!(
            ledger.unacked(),
            0,
            "a revoked partition's deliveries leave the bound"
        );
        assert_eq!(ledger.ack(&tp(), 1, old), Acked::Revoked);
        ledger.assign(tp());
        let new = ledger.fetched(&tp(), 1).unwrap();
        assert_ne!(new, old);
        assert_eq!(ledger.ack(&tp(), 2, old), Acked::Revoked, "old epoch");
        assert_eq!(due_offset(&ledger), None, "refetched from 1: nothing new");
        assert!(ledger.ack(&tp(), 1, new).is_recorded());
        assert_eq!(due_offset(&ledger), Some(2));
    }

    #[test]
    fn a_closed_ledger_answers_acks_with_closed_and_fetches_nothing() {
        let (mut ledger, epoch) = ledger_with(0..2);
        assert!(ledger.ack(&tp(), 0, epoch).is_recorded());
        let due = ledger.close();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1, 1);
        assert_eq!(ledger.ack(&tp(), 1, epoch), Acked::Closed);
        assert_eq!(ledger.fetched(&tp(), 2), None);
    }
}

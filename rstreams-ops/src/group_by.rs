//! `group_by(key, max_groups)`: splits the stream by key into groups, each a publisher of its
//! own ([`Group`]) with its own demand.
//!
//! One lock guards the stage: the outer stream (an [`Engine`] around a [`GroupsPull`] that
//! emits the groups), the groups (each an engine around a [`GroupPull`] once subscribed), and
//! the routing of elements.
//!
//! Upstream demand follows the consumers: whenever nothing is outstanding upstream and someone
//! is waiting — the outer stream for a new group, or a group's subscriber for its next
//! element — the stage asks for a batch of `min(`[`BATCH`]`, group_buffer)`. So a synchronous
//! source does not flood the groups before they are subscribed, and a group that is not
//! consumed cannot stall the others (Reactor's `groupBy` hang): they keep asking, and it
//! fills up to `group_buffer`, after which its [`Overflow`] policy applies — by default the
//! stream fails with an error that names the group. A new key beyond `max_groups` open groups
//! is refused the same way.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Weak};

use rstreams_core::support::{
    catch_panic, Dropped, Engine, EngineConfig, Overflow, Pull, Pulled, Pushed, UpstreamSlot, Wake,
};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "group_by";

/// How many elements the stage asks upstream for at a time (at most `group_buffer`).
pub(crate) const BATCH: u64 = 64;

/// How many elements a group holds unless told otherwise.
pub(crate) const DEFAULT_GROUP_BUFFER: usize = 256;

/// The publisher returned by [`group_by`](crate::PublisherExt::group_by).
#[must_use = "publishers do nothing until subscribed"]
pub struct GroupBy<P, F> {
    source: P,
    key: Arc<F>,
    max_groups: usize,
    group_buffer: usize,
    overflow: Overflow,
    dropped: Dropped,
}

impl<P, F> GroupBy<P, F> {
    pub(crate) fn new(source: P, key: F, max_groups: usize) -> Self {
        assert!(
            max_groups > 0,
            "group_by: max_groups must be at least 1 (got 0; valid range 1..=usize::MAX): no element could ever be grouped"
        );
        GroupBy {
            source,
            key: Arc::new(key),
            max_groups,
            group_buffer: DEFAULT_GROUP_BUFFER,
            overflow: Overflow::Fail,
            dropped: Dropped::new(),
        }
    }

    /// How many elements each group holds at most for its subscriber (256 unless set): those
    /// that arrived before it was subscribed, or faster than it takes them.
    ///
    /// # Panics
    ///
    /// When `group_buffer` is 0 (valid range `1..=usize::MAX`).
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{Group, PublisherExt};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let groups = TestSubscriber::<Group<bool, u64>>::new(10);
    /// source::range(0, 10).group_by(|x| x % 2 == 0, 2).group_buffer(3).subscribe(groups.clone());
    /// // Nobody took anything: the first group to hold a fourth element fails the stream.
    /// let error = groups.error().unwrap();
    /// assert!(error.to_string().contains("group `true`"), "{error}");
    /// ```
    pub fn group_buffer(mut self, group_buffer: usize) -> Self {
        assert!(
            group_buffer > 0,
            "group_by: group_buffer must be at least 1 (got 0; valid range 1..=usize::MAX): a group that holds nothing cannot wait for its subscriber"
        );
        self.group_buffer = group_buffer;
        self
    }

    /// What a group whose buffer is full does with one more element, and what a new key does
    /// when `max_groups` groups are open:
    ///
    /// | policy | a full group | a new key beyond `max_groups` |
    /// |---|---|---|
    /// | [`Overflow::Fail`] (the default) | the stream fails, naming the group | the stream fails, naming the key |
    /// | [`Overflow::DropIncoming`] | the element is dropped | the element is dropped |
    /// | [`Overflow::EvictOldest`] | the group's oldest element is dropped, the new one kept | the element is dropped |
    /// | [`Overflow::EvictNewest`] | the group's newest element is dropped, the new one kept | the element is dropped |
    ///
    /// Every element dropped is counted in [`dropped()`](Self::dropped).
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{Group, Overflow, PublisherExt};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let stage = source::range(0, 10).group_by(|_| "all", 1).group_buffer(3).overflow(Overflow::EvictOldest);
    /// let dropped = stage.dropped();
    /// let groups = TestSubscriber::<Group<&str, u64>>::new(u64::MAX);
    /// stage.subscribe(groups.clone());
    /// let all = TestSubscriber::new(10);
    /// groups.values()[0].subscribe(all.clone());
    /// assert_eq!(all.values(), vec![7, 8, 9]); // the newest three were kept
    /// assert_eq!(dropped.count(), 7);
    /// ```
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The count of elements no group subscriber took: dropped by the overflow policy, or
    /// belonging to a group that was dropped without a subscriber, or arriving after the outer
    /// subscriber cancelled for a key with no open group; over all subscriptions of this
    /// publisher and its clones. (Elements queued in a group when its subscriber cancels are
    /// discarded with the subscription, not counted.)
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }
}

impl<P: Clone, F> Clone for GroupBy<P, F> {
    /// A clone shares the key function and the [`Dropped`] count.
    fn clone(&self) -> Self {
        GroupBy {
            source: self.source.clone(),
            key: Arc::clone(&self.key),
            max_groups: self.max_groups,
            group_buffer: self.group_buffer,
            overflow: self.overflow,
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for GroupBy<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupBy")
            .field("source", &self.source)
            .field("max_groups", &self.max_groups)
            .field("group_buffer", &self.group_buffer)
            .field("overflow", &self.overflow)
            .field("dropped", &self.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P, F, K> Publisher for GroupBy<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(&P::Item) -> K + Send + Sync + 'static,
    K: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static,
{
    type Item = Group<K, P::Item>;

    fn subscribe<S: Subscriber<Group<K, P::Item>> + 'static>(&self, subscriber: S) {
        let core = Arc::new(Core {
            max_groups: self.max_groups,
            group_buffer: self.group_buffer,
            batch: BATCH.min(self.group_buffer as u64),
            overflow: self.overflow,
            dropped: self.dropped.clone(),
            upstream: Arc::new(UpstreamSlot::new()),
            state: Mutex::new(State {
                by_key: HashMap::new(),
                groups: HashMap::new(),
                next_id: 0,
                unemitted: VecDeque::new(),
                outer_waiting: false,
                requested: 0,
                received: 0,
                end: None,
                outer: None,
                outer_gone: false,
            }),
        });
        let engine = Engine::start_cyclic(
            |engine| {
                core.state.lock().outer = Some(engine.clone() as Weak<dyn Wake>);
                GroupsPull {
                    core: Arc::clone(&core),
                    leave: Arc::clone(&core) as Arc<dyn Leave>,
                }
            },
            subscriber,
            EngineConfig::new(),
        );
        // The upstream's subscriber keeps the outer stream alive while the upstream is.
        self.source.subscribe(Inlet {
            core,
            key: Arc::clone(&self.key),
            _outer: engine,
        });
    }
}

/// The stage, shared by the outer stream, the groups and the upstream's subscriber.
struct Core<K, T> {
    max_groups: usize,
    group_buffer: usize,
    /// `min(BATCH, group_buffer)`.
    batch: u64,
    overflow: Overflow,
    dropped: Dropped,
    upstream: Arc<UpstreamSlot>,
    state: Mutex<State<K, T>>,
}

struct State<K, T> {
    /// The open groups' ids by key.
    by_key: HashMap<K, u64>,
    /// The open groups by id.
    groups: HashMap<u64, GroupState<K, T>>,
    next_id: u64,
    /// Groups opened and not yet emitted: the outer stream emits them as it demands.
    unemitted: VecDeque<u64>,
    /// The outer stream has demand and no group to emit.
    outer_waiting: bool,
    /// Requested upstream, in all (saturating), and received.
    requested: u64,
    received: u64,
    /// How the stream ended: the upstream's end, or a failure of the stage (overflow, a new
    /// key beyond `max_groups`, a panicking key function, §1.1), or `Ok` once nothing wanted
    /// the upstream any more.
    end: Option<Result<(), Error>>,
    outer: Option<Weak<dyn Wake>>,
    /// The outer subscription ended: no group is emitted any more.
    outer_gone: bool,
}

struct GroupState<K, T> {
    key: K,
    queue: VecDeque<T>,
    sub: Sub,
    /// Its subscriber has demand and nothing to take.
    waiting: bool,
}

/// Where a group's subscriber stands.
enum Sub {
    /// Not subscribed yet (or not even emitted).
    Waiting,
    /// Subscribed: its engine, to wake, and kept alive until the upstream ends.
    Live {
        engine: Option<Weak<dyn Wake>>,
        keep: Option<Arc<dyn Wake>>,
    },
}

/// Wake-ups and releases to make after the lock is released.
struct After<T> {
    wake: Vec<Weak<dyn Wake>>,
    release: Vec<Arc<dyn Wake>>,
    discard: Vec<VecDeque<T>>,
    request: u64,
    cancel: bool,
}

impl<T> Default for After<T> {
    fn default() -> Self {
        After {
            wake: Vec::new(),
            release: Vec::new(),
            discard: Vec::new(),
            request: 0,
            cancel: false,
        }
    }
}

impl<T> After<T> {
    fn run(self, upstream: &UpstreamSlot) {
        if self.cancel {
            upstream.cancel();
        } else if self.request > 0 {
            upstream.request(self.request);
        }
        for engine in self.wake {
            if let Some(engine) = engine.upgrade() {
                engine.wake();
            }
        }
        drop(self.release);
        drop(self.discard);
    }
}

impl<K, T> GroupState<K, T> {
    fn engine(&self) -> Option<&Weak<dyn Wake>> {
        match &self.sub {
            Sub::Live { engine, .. } => engine.as_ref(),
            Sub::Waiting => None,
        }
    }
}

impl<K, T> State<K, T> {
    /// Ends the stage with `end` (first one wins): every group and the outer stream hear of
    /// it (an error at once, discarding what the groups hold), and the engines are no longer
    /// kept alive by the stage.
    fn finish(&mut self, end: Result<(), Error>, after: &mut After<T>) {
        if self.end.is_some() {
            return;
        }
        for group in self.groups.values_mut() {
            after.wake.extend(group.engine().cloned());
            if let Sub::Live { keep, .. } = &mut group.sub {
                after.release.extend(keep.take());
            }
            if end.is_err() {
                after.discard.push(std::mem::take(&mut group.queue));
            }
        }
        after.wake.extend(self.outer.clone());
        self.end = Some(end);
    }

    /// Whether nothing downstream needs the upstream any more.
    fn unwanted(&self) -> bool {
        self.outer_gone && self.groups.is_empty()
    }

    /// What to request upstream now: a batch when nothing is outstanding and someone waits.
    fn top_up(&mut self, batch: u64) -> u64 {
        if self.end.is_some() || self.requested > self.received {
            return 0;
        }
        if !(self.outer_waiting || self.groups.values().any(|g| g.waiting)) {
            return 0;
        }
        self.requested = self.requested.saturating_add(batch);
        batch
    }
}

impl<K: Eq + Hash, T> Core<K, T> {
    /// Removes group `id` (its subscriber left, or it was dropped unsubscribed); cancels the
    /// upstream when nothing needs it any more.
    fn remove(&self, state: &mut State<K, T>, id: u64, count: bool, after: &mut After<T>) {
        if let Some(mut group) = state.groups.remove(&id) {
            state.by_key.remove(&group.key);
            state.unemitted.retain(|u| *u != id);
            if count {
                for _ in &group.queue {
                    self.dropped.record();
                }
            }
            after.discard.push(std::mem::take(&mut group.queue));
            if let Sub::Live { keep, .. } = &mut group.sub {
                after.release.extend(keep.take());
            }
        }
        if state.end.is_none() && state.unwanted() {
            state.end = Some(Ok(()));
            after.cancel = true;
        }
    }
}

/// The outer stream: emits the groups as they open.
struct GroupsPull<K, T> {
    core: Arc<Core<K, T>>,
    leave: Arc<dyn Leave>,
}

impl<K, T> Pull for GroupsPull<K, T>
where
    K: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Group<K, T>;

    fn name(&self) -> &'static str {
        NAME
    }

    fn pull(&mut self, _demand: u64) -> Pulled<Group<K, T>> {
        let core = &self.core;
        loop {
            let mut state = core.state.lock();
            if let Some(Err(error)) = &state.end {
                return Pulled::Error(error.clone());
            }
            while let Some(id) = state.unemitted.pop_front() {
                if let Some(key) = state.groups.get(&id).map(|g| g.key.clone()) {
                    state.outer_waiting = false;
                    return Pulled::Ready(Group {
                        key,
                        core: Arc::clone(core),
                        id,
                        guard: Arc::new(Guard {
                            core: Arc::clone(core) as Arc<dyn Leave>,
                            id,
                        }),
                    });
                }
            }
            if state.end.is_some() {
                return Pulled::End;
            }
            state.outer_waiting = true;
            let more = state.top_up(core.batch);
            drop(state);
            if more == 0 {
                return Pulled::Pending;
            }
            // The upstream may emit (or end) inside this call: look again.
            core.upstream.request(more);
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let state = self.core.state.lock();
        match &state.end {
            Some(Err(error)) => Some(Err(error.clone())),
            Some(Ok(())) if state.unemitted.is_empty() => Some(Ok(())),
            _ => None,
        }
    }
}

impl<K, T> Drop for GroupsPull<K, T> {
    /// The outer subscription ended.
    fn drop(&mut self) {
        self.leave.outer_gone();
    }
}

/// What the stage is told when a subscription or a handle goes (called from `Drop`, which
/// cannot carry the key's bounds).
trait Leave: Send + Sync {
    /// The last handle on group `id` went without a subscriber.
    fn abandon(&self, id: u64);
    /// Group `id`'s subscription ended.
    fn group_gone(&self, id: u64);
    /// The outer subscription ended.
    fn outer_gone(&self);
}

impl<K, T> Leave for Core<K, T>
where
    K: Eq + Hash + fmt::Debug + Send + Sync,
    T: Send,
{
    /// The group was dropped without a subscriber: what it holds is dropped (counted); a
    /// later element with its key opens a new group.
    fn abandon(&self, id: u64) {
        let mut after = After::default();
        {
            let mut state = self.state.lock();
            if !matches!(state.groups.get(&id).map(|g| &g.sub), Some(Sub::Waiting)) {
                return;
            }
            self.remove(&mut state, id, true, &mut after);
        }
        after.run(&self.upstream);
    }

    /// What the group held goes with its subscription (not counted); a later element with
    /// its key opens a new group.
    fn group_gone(&self, id: u64) {
        let mut after = After::default();
        {
            let mut state = self.state.lock();
            self.remove(&mut state, id, false, &mut after);
        }
        after.run(&self.upstream);
    }

    /// No group is emitted any more; those not emitted yet are dropped (their elements
    /// counted), and the upstream is cancelled once no group is left.
    fn outer_gone(&self) {
        let mut after = After::default();
        {
            let mut state = self.state.lock();
            state.outer_gone = true;
            state.outer = None;
            let unemitted: Vec<u64> = state.unemitted.drain(..).collect();
            for id in unemitted {
                self.remove(&mut state, id, true, &mut after);
            }
            if state.end.is_none() && state.unwanted() {
                state.end = Some(Ok(()));
                after.cancel = true;
            }
        }
        after.run(&self.upstream);
    }
}

/// Tells the stage when the last handle on a group goes.
struct Guard {
    core: Arc<dyn Leave>,
    id: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.core.abandon(self.id);
    }
}

/// One group of [`group_by`](crate::PublisherExt::group_by): a publisher of the elements with
/// its [`key`](Self::key), with its own demand.
///
/// It takes one subscriber: a second is rejected (`on_subscribe`, then `on_error` naming
/// §1.9). Until it is subscribed it holds up to `group_buffer` elements; a group whose every
/// handle is dropped without a subscriber is closed: what it holds is dropped (counted in the
/// stage's `dropped()`), and a later element with its key opens a new group. So does a group
/// whose subscriber cancels.
pub struct Group<K, T> {
    key: K,
    core: Arc<Core<K, T>>,
    id: u64,
    guard: Arc<Guard>,
}

impl<K, T> Group<K, T> {
    /// The key every element of this group has.
    pub fn key(&self) -> &K {
        &self.key
    }
}

impl<K: Clone, T> Clone for Group<K, T> {
    /// A clone is a handle on the same group.
    fn clone(&self) -> Self {
        Group {
            key: self.key.clone(),
            core: Arc::clone(&self.core),
            id: self.id,
            guard: Arc::clone(&self.guard),
        }
    }
}

impl<K: fmt::Debug, T> fmt::Debug for Group<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("key", &self.key).finish()
    }
}

impl<K, T> Publisher for Group<K, T>
where
    K: Eq + Hash + fmt::Debug + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = T;

    fn subscribe<S: Subscriber<T> + 'static>(&self, mut subscriber: S) {
        let first = {
            let mut state = self.core.state.lock();
            match state.groups.get_mut(&self.id) {
                Some(group) if matches!(group.sub, Sub::Waiting) => {
                    group.sub = Sub::Live {
                        engine: None,
                        keep: None,
                    };
                    true
                }
                _ => false,
            }
        };
        if !first {
            // §1.9: a rejected subscription gets on_subscribe, then on_error.
            subscriber.on_subscribe(Arc::new(NoopSubscription));
            subscriber.on_error(
                Error::protocol(
                    "1.9",
                    format!(
                        "{NAME}: group `{:?}` takes one subscriber, and it has had one",
                        self.key
                    ),
                )
                .in_stage(NAME),
            );
            return;
        }
        let core = Arc::clone(&self.core);
        let id = self.id;
        let engine = Engine::start_cyclic(
            |engine| {
                if let Some(group) = core.state.lock().groups.get_mut(&id) {
                    if let Sub::Live { engine: slot, .. } = &mut group.sub {
                        *slot = Some(engine.clone() as Weak<dyn Wake>);
                    }
                }
                GroupPull {
                    leave: Arc::clone(&core) as Arc<dyn Leave>,
                    core,
                    id,
                }
            },
            subscriber,
            EngineConfig::new(),
        );
        let mut state = self.core.state.lock();
        let ended = state.end.is_some();
        if let Some(group) = state.groups.get_mut(&self.id) {
            if let Sub::Live { keep, .. } = &mut group.sub {
                if !ended {
                    *keep = Some(engine);
                }
            }
        }
    }
}

/// A group's subscription: takes its elements.
struct GroupPull<K, T> {
    core: Arc<Core<K, T>>,
    leave: Arc<dyn Leave>,
    id: u64,
}

impl<K: Send + Sync + 'static, T: Send + 'static> Pull for GroupPull<K, T> {
    type Item = T;

    fn name(&self) -> &'static str {
        NAME
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        let core = &self.core;
        loop {
            let mut guard = core.state.lock();
            let state = &mut *guard;
            let end = state.end.clone();
            let Some(group) = state.groups.get_mut(&self.id) else {
                return Pulled::End;
            };
            if let Some(Err(error)) = end {
                return Pulled::Error(error);
            }
            if let Some(item) = group.queue.pop_front() {
                group.waiting = false;
                return Pulled::Ready(item);
            }
            if end.is_some() {
                return Pulled::End;
            }
            group.waiting = true;
            let more = state.top_up(core.batch);
            drop(guard);
            if more == 0 {
                return Pulled::Pending;
            }
            // The upstream may emit (or end) inside this call: look again.
            core.upstream.request(more);
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let state = self.core.state.lock();
        let end = state.end.clone()?;
        let group = state.groups.get(&self.id)?;
        (end.is_err() || group.queue.is_empty()).then_some(end)
    }
}

impl<K, T> Drop for GroupPull<K, T> {
    /// The group's subscription ended (finished, cancelled, `request(0)`, a panic).
    fn drop(&mut self) {
        self.leave.group_gone(self.id);
    }
}

/// The subscriber given to the upstream: routes each element to its group.
struct Inlet<K, T, F> {
    core: Arc<Core<K, T>>,
    key: Arc<F>,
    _outer: Arc<dyn Wake>,
}

impl<K, T, F> Inlet<K, T, F>
where
    K: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static,
    T: Send + 'static,
{
    fn end(&self, end: Result<(), Error>, cancel: bool) {
        let mut after = After::default();
        {
            let mut state = self.core.state.lock();
            state.finish(end, &mut after);
        }
        after.cancel = cancel;
        after.run(&self.core.upstream);
    }

    /// Routes `item` (key `key`) under the lock: to its group, a new group, or the policy.
    fn route(&self, state: &mut State<K, T>, key: K, item: T, after: &mut After<T>) {
        let core = &self.core;
        let id = match state.by_key.get(&key) {
            Some(id) => *id,
            None if state.outer_gone => {
                core.dropped.record(); // no group can open any more
                after.discard.push(VecDeque::from([item]));
                return;
            }
            None if state.groups.len() >= core.max_groups => {
                if core.overflow == Overflow::Fail {
                    let error = Error::overflow(format!(
                        "{NAME}: an element with key `{key:?}` would open a group beyond max_groups {} (the {} open groups have not ended)",
                        core.max_groups,
                        state.groups.len()
                    ))
                    .in_stage(NAME);
                    after.discard.push(VecDeque::from([item]));
                    state.finish(Err(error), after);
                    after.cancel = true;
                } else {
                    core.dropped.record();
                    after.discard.push(VecDeque::from([item]));
                }
                return;
            }
            None => {
                let id = state.next_id;
                state.next_id += 1;
                state.by_key.insert(key.clone(), id);
                state.groups.insert(
                    id,
                    GroupState {
                        key,
                        queue: VecDeque::new(),
                        sub: Sub::Waiting,
                        waiting: false,
                    },
                );
                state.unemitted.push_back(id);
                after.wake.extend(state.outer.clone());
                id
            }
        };
        let unemitted = state.unemitted.contains(&id);
        let group = state.groups.get_mut(&id).expect("an open group has state");
        match core
            .overflow
            .push(&mut group.queue, core.group_buffer, item)
        {
            Pushed::Queued => {
                group.waiting = false;
                after.wake.extend(group.engine().cloned());
            }
            Pushed::Dropped(dropped) => {
                core.dropped.record();
                after.discard.push(VecDeque::from([dropped]));
                after.wake.extend(group.engine().cloned());
            }
            Pushed::Overflowed(item) => {
                let why = if unemitted {
                    "it was not emitted yet: the downstream has not asked for more groups"
                } else {
                    match group.sub {
                        Sub::Waiting => "it has no subscriber yet",
                        Sub::Live { .. } => "its subscriber has not taken them",
                    }
                };
                let error = Error::overflow(format!(
                    "{NAME}: group `{:?}` already holds {} elements (group_buffer) and {why}; choose another Overflow policy, a larger group_buffer, or consume every group",
                    group.key, core.group_buffer
                ))
                .in_stage(NAME);
                after.discard.push(VecDeque::from([item]));
                state.finish(Err(error), after);
                after.cancel = true;
            }
        }
    }
}

impl<K, T, F> Subscriber<T> for Inlet<K, T, F>
where
    K: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(&T) -> K + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // Forwards what was requested meanwhile; §2.5: a second subscription, or one after
        // the stage was cancelled, is cancelled by the slot.
        self.core.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        let core = &self.core;
        {
            let state = core.state.lock();
            if state.end.is_some() {
                return; // after a cancel, a failure or the end (§1.7, §2.8)
            }
            if state.received >= state.requested {
                drop(state);
                let error = Error::protocol(
                    "1.1",
                    format!("the upstream emitted an element {NAME} did not request"),
                )
                .in_stage(NAME);
                self.end(Err(error), true);
                return;
            }
        }
        // The key function is user code: outside the lock.
        let key = match catch_panic("key function", || (self.key)(&item)) {
            Ok(key) => key,
            Err(error) => {
                self.end(Err(error.in_stage(NAME)), true);
                return;
            }
        };
        let mut after = After::default();
        {
            let mut guard = core.state.lock();
            let state = &mut *guard;
            if state.end.is_some() {
                return;
            }
            state.received += 1;
            self.route(state, key, item, &mut after);
            // The batch is in: another, if someone still waits.
            after.request = state.top_up(core.batch);
        }
        after.run(&core.upstream);
    }

    fn on_error(&mut self, error: Error) {
        self.core.upstream.clear();
        self.end(Err(error), false);
    }

    fn on_complete(&mut self) {
        self.core.upstream.clear();
        self.end(Ok(()), false);
    }
}

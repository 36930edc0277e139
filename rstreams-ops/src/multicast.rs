//! The hub behind `share()`, `publish()` and `replay(n)`: one upstream subscription, many
//! subscribers, each with its own demand, the slowest holding back the others.
//!
//! The upstream fills one buffer of elements, numbered as they arrive. Each subscriber (a
//! *member*) has its own [`Engine`] around a [`MemberPull`] and a cursor into the buffer: it
//! takes the elements from its cursor on, as its own downstream demands, and the hub drops an
//! element once every member took it (and, for `replay(n)`, once it is no longer among the last
//! `n`).
//!
//! Under [`SlowSubscriber::HoldBack`] (the default), upstream demand follows the slowest
//! member: the hub never asks for an element beyond what every member has demanded
//! (`min(cursor + demand)` over the members), nor more than [`BUFFER`] ahead of the slowest
//! member's cursor. So an element that arrives can always be taken by every member at once,
//! and the buffer holds at most [`BUFFER`] elements beyond the `n` a replay keeps.
//!
//! Under [`SlowSubscriber::DropOldest`], upstream demand follows the fastest member
//! (`max(min(cursor + demand, cursor + BUFFER))`), and each arriving element is checked
//! against every member's room (`min(demand, BUFFER) + buffer`): a member that would hold more
//! than that has its cursor moved past its oldest element(s), counted in the hub's
//! [`Dropped`]. Skipping is only ever a cursor moving forward, so a member's elements stay a
//! contiguous run of the buffer and the buffer holds at most `BUFFER + buffer` beyond the
//! slowest cursor (plus a replay's `n`).
//!
//! With no member, nothing is requested.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};

use rstreams_core::support::{
    add_cap, Dropped, Engine, EngineConfig, Pull, Pulled, UpstreamSlot, Wake,
};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Subscriber, Subscription};

use crate::SlowSubscriber;

/// How many elements the hub buffers at most beyond the slowest subscriber's position (and
/// beyond what a replay keeps): the bound on what it asks upstream ahead of that subscriber.
pub(crate) const BUFFER: u64 = 256;

/// The current connection of a multicast publisher, shared by its clones: `None` before the
/// first.
pub(crate) type Current<T> = Arc<Mutex<Option<Arc<Hub<T>>>>>;

/// How a hub lives and dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// `share()`: detaches (cancels its upstream) when its last member leaves, and takes no
    /// member once detached or ended: the next subscriber starts a new hub.
    RefCounted,
    /// `publish()` / `replay(n)`: connected and disconnected by hand; a member that joins after
    /// the end receives it (after what a replay keeps).
    Connectable,
}

/// One multicast connection: an upstream subscription and its members.
pub(crate) struct Hub<T> {
    name: &'static str,
    /// How many of the latest elements a late member receives first (`replay(n)`), else 0.
    retain: u64,
    lifecycle: Lifecycle,
    /// What a member that falls behind does to the others.
    policy: SlowSubscriber,
    /// The elements skipped for lagging members (under [`SlowSubscriber::DropOldest`]),
    /// shared with the publisher that made the hub.
    dropped: Dropped,
    upstream: Arc<UpstreamSlot>,
    state: Mutex<HubState<T>>,
}

struct HubState<T> {
    /// The elements numbered `base..received`, oldest first.
    buffer: VecDeque<T>,
    /// The number of `buffer[0]`.
    base: u64,
    /// The number the next element from upstream gets: how many arrived.
    received: u64,
    /// How many were requested upstream, in all (saturating).
    requested: u64,
    members: Vec<Member>,
    /// The members' engines, rebuilt when membership changes: what an element wakes (no
    /// allocation per element).
    wakers: Arc<Vec<Weak<dyn Wake>>>,
    next_id: u64,
    /// How the upstream ended, or the disconnect; every member gets it after its elements.
    end: Option<Result<(), Error>>,
    /// `connect` was called (a connectable hub), or the hub was made connected.
    connected: bool,
    /// A ref-counted hub whose last member left: it cancelled its upstream.
    detached: bool,
}

struct Member {
    id: u64,
    /// The number of the next element it takes.
    cursor: u64,
    /// `cursor` plus its downstream's outstanding demand, as of its last pull (moved along
    /// with `cursor` when elements are dropped for it, which uses no demand): under
    /// `HoldBack` the hub never requests beyond the smallest frontier, under `DropOldest`
    /// beyond the largest.
    frontier: u64,
    engine: Option<Weak<dyn Wake>>,
    /// Its engine, kept alive until the upstream ends (as a stage's upstream subscriber keeps
    /// its engine): its subscriber need not keep the subscription to receive elements.
    keep: Option<Arc<dyn Wake>>,
}

impl<T> HubState<T> {
    fn member(&mut self, id: u64) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// Drops the elements every member took and a replay no longer keeps.
    fn trim(&mut self, retain: u64) {
        let slowest = self
            .members
            .iter()
            .map(|m| m.cursor)
            .min()
            .unwrap_or(self.received);
        let keep_from = slowest.min(self.received.saturating_sub(retain));
        while self.base < keep_from && self.buffer.pop_front().is_some() {
            self.base += 1;
        }
    }

    /// The upstream ended: the members' engines are no longer kept alive by the hub (each
    /// finishes on its own demand). Returned to be dropped outside the lock.
    fn release(&mut self) -> Vec<Arc<dyn Wake>> {
        self.members
            .iter_mut()
            .filter_map(|m| m.keep.take())
            .collect()
    }

    /// Under [`SlowSubscriber::DropOldest`], after an element arrived: every member that holds
    /// more than its room (`min(demand, BUFFER) + buffer`) has its oldest elements skipped,
    /// each counted in `dropped`; then what no one holds any longer is trimmed.
    fn shed(&mut self, buffer: u64, retain: u64, dropped: &Dropped) {
        let received = self.received;
        let mut any = false;
        for member in &mut self.members {
            let held = received - member.cursor;
            let demand = member.frontier.saturating_sub(member.cursor);
            let room = add_cap(demand.min(BUFFER), buffer);
            if held > room {
                let skip = held - room;
                member.cursor += skip;
                // Skipped elements use no demand: the frontier moves with the cursor.
                member.frontier = add_cap(member.frontier, skip);
                for _ in 0..skip {
                    dropped.record();
                }
                any = true;
            }
        }
        if any {
            self.trim(retain);
        }
    }

    fn rebuild_wakers(&mut self) {
        self.wakers = Arc::new(
            self.members
                .iter()
                .filter_map(|m| m.engine.clone())
                .collect(),
        );
    }

    /// What to request upstream now (0 for nothing), recorded as requested: up to the
    /// smallest frontier, and at most [`BUFFER`] beyond the slowest cursor. While limited by
    /// the buffer rather than by demand, it asks in batches of a quarter of the buffer unless
    /// nothing is outstanding.
    fn top_up(&mut self, policy: SlowSubscriber) -> u64 {
        // Before `connect`, demand is only recorded: the subscribers gathered by then are all
        // counted when it comes.
        if !self.connected || self.end.is_some() || self.detached || self.members.is_empty() {
            return 0;
        }
        let (target, buffer_bound) = match policy {
            SlowSubscriber::DropOldest { .. } => {
                // The fastest member's demand, each within BUFFER of its own cursor.
                let (target, wanted) = self.members.iter().fold((0, 0), |(t, w), m| {
                    (
                        t.max(m.frontier.min(add_cap(m.cursor, BUFFER))),
                        w.max(m.frontier),
                    )
                });
                (target, wanted > target)
            }
            _ => {
                let (frontier, slowest) =
                    self.members.iter().fold((u64::MAX, u64::MAX), |(f, c), m| {
                        (f.min(m.frontier), c.min(m.cursor))
                    });
                let room = add_cap(slowest, BUFFER);
                (frontier.min(room), frontier > room)
            }
        };
        if target <= self.requested {
            return 0;
        }
        let more = target - self.requested;
        if buffer_bound && more < BUFFER / 4 && self.requested > self.received {
            return 0;
        }
        self.requested = target;
        more
    }
}

impl<T: Clone + Send + 'static> Hub<T> {
    pub(crate) fn new(
        name: &'static str,
        retain: u64,
        lifecycle: Lifecycle,
        policy: SlowSubscriber,
        dropped: Dropped,
    ) -> Self {
        Hub {
            name,
            retain,
            lifecycle,
            policy,
            dropped,
            upstream: Arc::new(UpstreamSlot::new()),
            state: Mutex::new(HubState {
                buffer: VecDeque::new(),
                base: 0,
                received: 0,
                requested: 0,
                members: Vec::new(),
                wakers: Arc::new(Vec::new()),
                next_id: 0,
                end: None,
                connected: false,
                detached: false,
            }),
        }
    }

    /// Whether the upstream ended (or the hub was disconnected or detached).
    pub(crate) fn is_over(&self) -> bool {
        let state = self.state.lock();
        state.end.is_some() || state.detached
    }

    /// Marks the hub connected; `false` if it was already (the caller subscribes it upstream
    /// only on `true`, then calls [`request_demanded`](Self::request_demanded)).
    pub(crate) fn mark_connected(&self) -> bool {
        !std::mem::replace(&mut self.state.lock().connected, true)
    }

    /// Requests upstream what the members demanded before the hub was connected.
    pub(crate) fn request_demanded(&self) {
        let more = self.state.lock().top_up(self.policy);
        if more > 0 {
            self.upstream.request(more);
        }
    }

    /// The number of members now.
    pub(crate) fn members(&self) -> usize {
        self.state.lock().members.len()
    }

    /// Reserves a member's place: from the next element to arrive (a replay: from the oldest
    /// it keeps). `None` for a ref-counted hub that is over (the caller starts a new one).
    pub(crate) fn reserve(&self) -> Option<u64> {
        let mut state = self.state.lock();
        if self.lifecycle == Lifecycle::RefCounted && (state.detached || state.end.is_some()) {
            return None;
        }
        let id = state.next_id;
        state.next_id += 1;
        let cursor = state.base.max(state.received.saturating_sub(self.retain));
        state.members.push(Member {
            id,
            cursor,
            frontier: cursor,
            engine: None,
            keep: None,
        });
        Some(id)
    }

    /// Starts the member `id` (reserved) for `subscriber`: its `on_subscribe`, then its
    /// elements as it demands them.
    pub(crate) fn start<S: Subscriber<T> + 'static>(self: &Arc<Self>, id: u64, subscriber: S) {
        let engine = Engine::start_cyclic(
            |engine| {
                let mut state = self.state.lock();
                if let Some(member) = state.member(id) {
                    member.engine = Some(engine.clone() as Weak<dyn Wake>);
                }
                state.rebuild_wakers();
                MemberPull {
                    hub: Arc::clone(self),
                    id,
                }
            },
            subscriber,
            EngineConfig::new(),
        );
        let mut state = self.state.lock();
        if state.end.is_none() && !state.detached {
            if let Some(member) = state.member(id) {
                member.keep = Some(engine);
            }
        }
    }

    /// The subscriber to give the upstream.
    pub(crate) fn inlet(self: &Arc<Self>) -> HubInlet<T> {
        HubInlet {
            hub: Arc::clone(self),
        }
    }

    /// Ends the connection by hand: cancels the upstream; every member completes after the
    /// elements it has not taken yet.
    pub(crate) fn disconnect(&self) {
        let wakers = {
            let mut state = self.state.lock();
            if state.end.is_some() {
                return;
            }
            state.end = Some(Ok(()));
            (Arc::clone(&state.wakers), state.release())
        };
        self.upstream.cancel();
        wake_all(&wakers.0);
    }

    /// The member `id` left (cancelled, or its subscription ended).
    fn leave(&self, id: u64) {
        enum Then {
            Detach,
            Request(u64),
        }
        let then = {
            let mut state = self.state.lock();
            let mut discarded = VecDeque::new();
            let gone: Vec<Member> = state.members.extract_if(.., |m| m.id == id).collect();
            state.rebuild_wakers();
            state.trim(self.retain);
            let last = state.members.is_empty();
            let then = if last
                && self.lifecycle == Lifecycle::RefCounted
                && !state.detached
                && state.end.is_none()
            {
                state.detached = true;
                discarded = std::mem::take(&mut state.buffer);
                Then::Detach
            } else {
                // The one that left may have held the others back.
                Then::Request(state.top_up(self.policy))
            };
            drop(state);
            drop(gone); // its engine, outside the lock
            drop(discarded);
            then
        };
        match then {
            Then::Detach => self.upstream.cancel(),
            Then::Request(0) => {}
            Then::Request(n) => self.upstream.request(n),
        }
    }
}

impl<T> fmt::Debug for Hub<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Hub")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("members", &state.members.len())
            .field("buffered", &state.buffer.len())
            .field("received", &state.received)
            .field("requested", &state.requested)
            .field("ended", &state.end.is_some())
            .finish()
    }
}

fn wake_all(wakers: &[Weak<dyn Wake>]) {
    for waker in wakers {
        if let Some(engine) = waker.upgrade() {
            engine.wake();
        }
    }
}

/// A member's side: takes the elements from its cursor on, as its downstream demands.
struct MemberPull<T: Clone + Send + 'static> {
    hub: Arc<Hub<T>>,
    id: u64,
}

impl<T: Clone + Send + 'static> Pull for MemberPull<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        self.hub.name
    }

    fn pull(&mut self, demand: u64) -> Pulled<T> {
        let hub = &self.hub;
        loop {
            let mut guard = hub.state.lock();
            let state = &mut *guard;
            let (received, base) = (state.received, state.base);
            let Some(member) = state.member(self.id) else {
                return Pulled::Pending; // left already (never while its engine runs)
            };
            member.frontier = add_cap(member.cursor, demand);
            if member.cursor < received {
                let at = member.cursor;
                member.cursor += 1;
                let item = state.buffer[(at - base) as usize].clone();
                if at == base {
                    state.trim(hub.retain);
                }
                let more = state.top_up(hub.policy);
                drop(guard);
                if more > 0 {
                    hub.upstream.request(more);
                }
                return Pulled::Ready(item);
            }
            if let Some(end) = &state.end {
                return match end {
                    Ok(()) => Pulled::End,
                    Err(error) => Pulled::Error(error.clone()),
                };
            }
            let more = state.top_up(hub.policy);
            drop(guard);
            if more == 0 {
                return Pulled::Pending;
            }
            // The upstream may emit (or end) inside this call: look again.
            hub.upstream.request(more);
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let mut state = self.hub.state.lock();
        let received = state.received;
        let end = state.end.clone()?;
        let member = state.member(self.id)?;
        member.frontier = member.cursor;
        (member.cursor == received).then_some(end)
    }
}

impl<T: Clone + Send + 'static> Drop for MemberPull<T> {
    /// The member's subscription ended (cancel, `request(0)`, its terminal signal, a panic).
    fn drop(&mut self) {
        self.hub.leave(self.id);
    }
}

/// The subscriber a hub gives its upstream: numbers the elements and wakes the members.
pub(crate) struct HubInlet<T> {
    hub: Arc<Hub<T>>,
}

impl<T> fmt::Debug for HubInlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HubInlet { .. }")
    }
}

impl<T: Clone + Send + 'static> HubInlet<T> {
    fn end(&self, end: Result<(), Error>) {
        let wakers = {
            let mut state = self.hub.state.lock();
            if state.end.is_some() || state.detached {
                return; // after the end, a disconnect or a detach (§1.7)
            }
            state.end = Some(end);
            (Arc::clone(&state.wakers), state.release())
        };
        self.hub.upstream.clear();
        wake_all(&wakers.0);
    }
}

impl<T: Clone + Send + 'static> Subscriber<T> for HubInlet<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // Forwards what the members asked for meanwhile; §2.5: a second subscription, or one
        // after a disconnect or detach, is cancelled by the slot.
        self.hub.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        let hub = &self.hub;
        let wakers = {
            let mut state = hub.state.lock();
            if state.end.is_some() || state.detached {
                return; // late: dropped (§1.7, §2.8)
            }
            if state.received >= state.requested {
                state.end = Some(Err(Error::protocol(
                    "1.1",
                    format!(
                        "the upstream emitted more than the {} elements {} requested",
                        state.requested, hub.name
                    ),
                )
                .in_stage(hub.name)));
                let wakers = (Arc::clone(&state.wakers), state.release());
                drop(state);
                hub.upstream.cancel();
                drop(item);
                wake_all(&wakers.0);
                return;
            }
            state.received += 1;
            state.buffer.push_back(item);
            if state.members.is_empty() {
                state.trim(hub.retain); // nobody to take it: a replay keeps the last n
            } else if let SlowSubscriber::DropOldest { buffer } = hub.policy {
                state.shed(buffer as u64, hub.retain, &hub.dropped);
            }
            Arc::clone(&state.wakers)
        };
        wake_all(&wakers);
    }

    fn on_error(&mut self, error: Error) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }
}

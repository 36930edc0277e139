//! An identity processor for the kit's self-tests: correct, or with one defect.
#![allow(dead_code)] // each test file uses one of the two constructors

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_core::support::{DrainCell, UpstreamSlot};
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber, Subscription};

/// A unicast identity processor: downstream demand goes upstream as it is (no prefetch);
/// elements and the end pass through a queue drained by one loop.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    swallow_errors: bool,
    upstream: UpstreamSlot,
    queue: Mutex<VecDeque<u64>>,
    end: Mutex<Option<Option<Error>>>,
    incoming: Mutex<Option<Box<dyn Subscriber<u64>>>>,
    taken: AtomicBool,
    cancelled: AtomicBool,
    down: DrainCell<Option<Box<dyn Subscriber<u64>>>>,
}

impl Identity {
    pub fn new() -> Self {
        Self::with(false)
    }

    /// A processor that drops `on_error` instead of passing it on (breaks §4.2).
    pub fn swallowing_errors() -> Self {
        Self::with(true)
    }

    fn with(swallow_errors: bool) -> Self {
        Identity {
            inner: Arc::new(Inner {
                swallow_errors,
                upstream: UpstreamSlot::new(),
                queue: Mutex::new(VecDeque::new()),
                end: Mutex::new(None),
                incoming: Mutex::new(None),
                taken: AtomicBool::new(false),
                cancelled: AtomicBool::new(false),
                down: DrainCell::new(None),
            }),
        }
    }
}

impl Inner {
    fn drain(&self) {
        self.down.drain(|down| {
            if down.is_none() {
                *down = self.incoming.lock().take();
            }
            let Some(d) = down.as_mut() else { return };
            if self.cancelled.load(Ordering::Acquire) {
                self.queue.lock().clear();
                *down = None;
                return;
            }
            loop {
                if self.cancelled.load(Ordering::Acquire) {
                    self.queue.lock().clear();
                    *down = None;
                    return;
                }
                let next = self.queue.lock().pop_front();
                match next {
                    Some(x) => d.on_next(x),
                    None => break,
                }
            }
            let end = self.end.lock().take();
            match end {
                Some(Some(e)) => d.on_error(e),
                Some(None) => d.on_complete(),
                None => return,
            }
            *down = None;
        });
    }
}

impl Subscriber<u64> for Identity {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.inner.upstream.set(s);
    }
    fn on_next(&mut self, x: u64) {
        self.inner.queue.lock().push_back(x);
        self.inner.drain();
    }
    fn on_error(&mut self, e: Error) {
        if self.inner.swallow_errors {
            return;
        }
        *self.inner.end.lock() = Some(Some(e));
        self.inner.drain();
    }
    fn on_complete(&mut self) {
        *self.inner.end.lock() = Some(None);
        self.inner.drain();
    }
}

struct Downstream(Arc<Inner>);

impl Subscription for Downstream {
    fn request(&self, n: u64) {
        self.0.upstream.request(n);
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        self.0.upstream.cancel();
        self.0.drain();
    }
}

impl Publisher for Identity {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        if self.inner.taken.swap(true, Ordering::AcqRel) {
            s.on_subscribe(Arc::new(NoopSubscription));
            s.on_error(Error::protocol(
                "1.9",
                "this processor serves one subscriber",
            ));
            return;
        }
        s.on_subscribe(Arc::new(Downstream(Arc::clone(&self.inner))));
        *self.inner.incoming.lock() = Some(Box::new(s));
        self.inner.drain();
    }
}

// ===== a multicast processor =====

/// How a [`Hub`] is broken, if it is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum HubDefect {
    /// Asks upstream for what the fastest subscriber wants; the others' elements queue up.
    RunsAhead,
    /// Passes an upstream error to its first subscriber only.
    ErrorToFirstOnly,
}

/// A multicast identity processor: every element goes to every subscriber, and upstream is
/// asked for what the slowest subscriber still wants (Multicast::SlowestHoldsBack). Each
/// subscriber has its own queue and demand; one drain loop signals them all.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    defect: Option<HubDefect>,
    upstream: UpstreamSlot,
    state: Mutex<HubState>,
    downs: DrainCell<Vec<Option<Box<dyn Subscriber<u64>>>>>,
}

#[derive(Default)]
struct HubState {
    subs: Vec<Member>,
    /// Requested from upstream in all, and received.
    asked: u64,
    got: u64,
    end: Option<Option<Error>>,
}

struct Member {
    incoming: Option<Box<dyn Subscriber<u64>>>,
    demand: u64,
    queue: VecDeque<u64>,
    cancelled: bool,
    zero: bool,
    done: bool,
}

impl Member {
    fn live(&self) -> bool {
        !self.cancelled && !self.done && !self.zero
    }
}

impl Hub {
    pub fn new() -> Self {
        Self::with(None)
    }

    pub fn running_ahead() -> Self {
        Self::with(Some(HubDefect::RunsAhead))
    }

    pub fn error_to_first_only() -> Self {
        Self::with(Some(HubDefect::ErrorToFirstOnly))
    }

    fn with(defect: Option<HubDefect>) -> Self {
        Hub {
            inner: Arc::new(HubInner {
                defect,
                upstream: UpstreamSlot::new(),
                state: Mutex::new(HubState::default()),
                downs: DrainCell::new(Vec::new()),
            }),
        }
    }
}

impl HubInner {
    fn drain(&self) {
        self.downs.drain(|downs| loop {
            let mut progress = false;
            {
                let mut st = self.state.lock();
                while downs.len() < st.subs.len() {
                    match st.subs[downs.len()].incoming.take() {
                        Some(s) => downs.push(Some(s)),
                        None => break,
                    }
                }
            }
            for (i, slot) in downs.iter_mut().enumerate() {
                loop {
                    let next = {
                        let mut st = self.state.lock();
                        let m = &mut st.subs[i];
                        if m.cancelled {
                            m.queue.clear();
                            *slot = None;
                            None
                        } else if m.zero {
                            m.queue.clear();
                            if let Some(mut d) = slot.take() {
                                drop(st);
                                d.on_error(Error::request_zero());
                            }
                            None
                        } else if m.demand > 0 && !m.queue.is_empty() {
                            if m.demand != u64::MAX {
                                m.demand -= 1;
                            }
                            m.queue.pop_front()
                        } else {
                            None
                        }
                    };
                    let Some(x) = next else { break };
                    let Some(d) = slot.as_mut() else { break };
                    d.on_next(x);
                    progress = true;
                }
                let end = {
                    let mut st = self.state.lock();
                    let end = st.end.clone();
                    let m = &mut st.subs[i];
                    match end {
                        Some(end) if m.queue.is_empty() && !m.done && slot.is_some() => {
                            m.done = true;
                            Some(end)
                        }
                        _ => None,
                    }
                };
                if let Some((end, mut d)) = end.and_then(|e| slot.take().map(|d| (e, d))) {
                    progress = true;
                    match end {
                        Some(_) if i > 0 && self.defect == Some(HubDefect::ErrorToFirstOnly) => {}
                        Some(e) => d.on_error(e),
                        None => d.on_complete(),
                    }
                }
            }
            if !progress {
                break;
            }
        });
        self.request_upstream();
    }

    /// Asks upstream for what the slowest live subscriber still wants (the fastest, for the
    /// RunsAhead defect), minus what is already on its way; cancels upstream once no
    /// subscriber is left.
    fn request_upstream(&self) {
        let mut st = self.state.lock();
        if st.end.is_some() {
            return;
        }
        let live: Vec<u64> = st
            .subs
            .iter()
            .filter(|m| m.live())
            .map(|m| m.demand.saturating_sub(m.queue.len() as u64))
            .collect();
        if live.is_empty() {
            if !st.subs.is_empty() && st.subs.iter().all(|m| m.cancelled || m.zero) {
                drop(st);
                self.upstream.cancel();
            }
            return;
        }
        let want = if self.defect == Some(HubDefect::RunsAhead) {
            live.iter().copied().max().unwrap_or(0)
        } else {
            live.iter().copied().min().unwrap_or(0)
        };
        if st.asked == u64::MAX {
            return;
        }
        let in_flight = st.asked - st.got;
        if want > in_flight {
            let more = if want == u64::MAX {
                u64::MAX
            } else {
                want - in_flight
            };
            st.asked = st.asked.saturating_add(more);
            drop(st);
            self.upstream.request(more);
        }
    }
}

impl Subscriber<u64> for Hub {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.inner.upstream.set(s);
        self.inner.request_upstream();
    }
    fn on_next(&mut self, x: u64) {
        {
            let mut st = self.inner.state.lock();
            st.got = st.got.saturating_add(1);
            for m in st.subs.iter_mut().filter(|m| m.live()) {
                m.queue.push_back(x);
            }
        }
        self.inner.drain();
    }
    fn on_error(&mut self, e: Error) {
        self.inner.state.lock().end = Some(Some(e));
        self.inner.drain();
    }
    fn on_complete(&mut self) {
        self.inner.state.lock().end = Some(None);
        self.inner.drain();
    }
}

/// The subscription of the `index`-th subscriber of a hub.
struct Member2(Arc<HubInner>, usize);

impl Subscription for Member2 {
    fn request(&self, n: u64) {
        {
            let mut st = self.0.state.lock();
            let m = &mut st.subs[self.1];
            if n == 0 {
                m.zero = true;
            } else {
                m.demand = m.demand.saturating_add(n);
            }
        }
        self.0.drain();
    }
    fn cancel(&self) {
        self.0.state.lock().subs[self.1].cancelled = true;
        self.0.drain();
    }
}

impl Publisher for Hub {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        let index = {
            let mut st = self.inner.state.lock();
            st.subs.push(Member {
                incoming: None,
                demand: 0,
                queue: VecDeque::new(),
                cancelled: false,
                zero: false,
                done: false,
            });
            st.subs.len() - 1
        };
        s.on_subscribe(Arc::new(Member2(Arc::clone(&self.inner), index)));
        self.inner.state.lock().subs[index].incoming = Some(Box::new(s));
        self.inner.drain();
    }
}

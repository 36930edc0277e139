//! Heap allocations, counted by a counting global allocator on the test's own thread: none per
//! element on a synchronous chain, none per fused range inner of `flat_map`, and a fixed number
//! per subscription (what `benches/callgrind.sh` reports as allocations per unit).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rstreams_core::{sink, source, Publisher};
use rstreams_ops::PublisherExt;

/// Counts the allocations made on threads that turned counting on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn record() {
    // `try_with`: a thread being torn down has no locals any more; it is not counted.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only counts,
// in thread-locals with const initialisers (which never allocate).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (every allocation goes there) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record();
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(|n| n.get())
}

/// Runs `publisher` into a sink that adds the elements, and returns the sum.
fn run<P: Publisher<Item = u64>>(publisher: &P) -> u64 {
    let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let t = total.clone();
    let mut sum = 0u64;
    let s = sink::for_each(move |x: u64| sum = sum.wrapping_add(x))
        .on_complete(move || t.store(1, std::sync::atomic::Ordering::Relaxed));
    let done = s.handle();
    publisher.subscribe(s);
    done.wait().unwrap();
    total.load(std::sync::atomic::Ordering::Relaxed)
}

fn chain(n: u64) -> impl Publisher<Item = u64> {
    source::range(0, n)
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .map(|x| x * 2)
        .filter(|x| x % 3 == 0)
        .take(u64::MAX)
}

#[test]
fn a_synchronous_chain_allocates_nothing_per_element() {
    let (short, long) = (chain(10), chain(100_000));
    let few = allocations(|| assert_eq!(run(&short), 1));
    let many = allocations(|| assert_eq!(run(&long), 1));
    assert_eq!(
        few, many,
        "the same allocations for 10 and 100 000 elements"
    );
}

#[test]
fn subscribing_a_five_operator_chain_allocates_a_fixed_small_number() {
    let p = chain(0);
    let per_subscription = allocations(|| {
        run(&p);
    });
    // The subscription's own: the source's (a range's engine; an empty source's is a small
    // `Arc` of flags instead, see the test below) and the sink's shared end (its handle); plus
    // this test's sink: the on_complete box and the flag's Arc. `take` passes the engine's
    // subscription through (the engine asks it what it still wants).
    assert_eq!(
        per_subscription, 4,
        "allocations per subscription (update this count when it improves)"
    );
    let again = allocations(|| {
        run(&p);
    });
    assert_eq!(per_subscription, again, "deterministic");
}

#[test]
fn subscribing_an_empty_source_through_five_operators_allocates_two_of_its_own() {
    let p = source::empty::<u64>()
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .map(|x| x * 2)
        .filter(|x| x % 3 == 0)
        .take(10);
    let per_subscription = allocations(|| assert_eq!(run(&p), 1, "completes"));
    // The empty source's subscription (an `Arc` of its flags: no engine) and the sink's shared
    // end; plus this test's sink: the on_complete box and the flag's Arc. `take` passes the
    // source's subscription through (it emits nothing, so there is nothing to cap).
    assert_eq!(
        per_subscription, 4,
        "allocations per subscription (update this count when it improves)"
    );
}

#[test]
fn a_fused_range_inner_of_flat_map_allocates_nothing_and_any_other_iterator_once() {
    let ranges =
        |outer: u64| source::range(0, outer).flat_map(|x| source::range(x * 10, 10), 8, 32);
    let (small, large) = (ranges(100), ranges(1_100));
    let a = allocations(|| assert_eq!(run(&small), 1));
    let b = allocations(|| assert_eq!(run(&large), 1));
    // 1 000 more inners and 10 000 more elements, and not one allocation more (a subscribed
    // inner costs an inbox, its queue and an engine).
    assert_eq!(b - a, 0, "allocations for 1 000 more range inners");

    let vectors =
        |outer: u64| source::range(0, outer).flat_map(|x| source::from_iter(vec![x; 3]), 8, 32);
    let (small, large) = (vectors(100), vectors(1_100));
    let a = allocations(|| assert_eq!(run(&small), 1));
    let b = allocations(|| assert_eq!(run(&large), 1));
    // Each inner: its vector (made by the closure), the clone of its iterator that a
    // subscription of `from_iter` would make too, and the box around that clone.
    assert_eq!(b - a, 3_000, "allocations for 1 000 more from_iter inners");
}

#[test]
fn building_map_and_filter_allocates_nothing_for_closures_that_capture_nothing() {
    let built = allocations(|| {
        let p = source::range(0, 0)
            .map(|x| x + 1)
            .filter(|x| x % 2 == 0)
            .map(|x| x * 2)
            .filter(|x| x % 3 == 0);
        let clone = p.clone();
        drop((p, clone));
    });
    assert_eq!(built, 0, "a closure with no state is shared without a box");
    // A closure with state is shared behind one Arc, made when the stage is built (not per
    // subscription or clone).
    let offset = 1u64;
    let built = allocations(|| {
        let p = source::range(0, 3).map(move |x| x + offset);
        let _clone = p.clone();
        assert_eq!(run(&p), 1);
        assert_eq!(run(&p), 1);
    });
    // Each subscription: the source's engine, the sink's shared end, and this test's
    // on_complete box and flag.
    assert_eq!(
        built,
        1 + 2 * 4,
        "one Arc, then the four of each subscription"
    );
}

#[test]
fn building_scan_inspect_and_filter_map_allocates_nothing_for_closures_that_capture_nothing() {
    fn chain() -> impl Publisher<Item = u64> + Clone {
        source::range(0, 10)
            .scan(0u64, |sum, x| {
                *sum += x;
                *sum
            })
            .inspect(|x| assert!(*x < 100))
            .filter_map(|x| (x % 2 == 0).then_some(x))
    }
    let built = allocations(|| {
        let p = chain();
        drop((p.clone(), p));
    });
    assert_eq!(built, 0, "a closure with no state is shared without a box");
    // Subscribing: only the subscription's own allocations (the source's engine, the sink's
    // shared end, this test's on_complete box and flag), none per stage.
    let p = chain();
    let plain = source::range(0, 10);
    let base = allocations(|| assert_eq!(run(&plain), 1));
    let with_stages = allocations(|| assert_eq!(run(&p), 1));
    assert_eq!(
        with_stages, base,
        "no allocation per scan, inspect or filter_map"
    );
}

#[test]
fn a_closure_with_state_or_drop_glue_is_dropped_with_the_last_stage_that_holds_it() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    // Zero-sized but with a Drop: must not be leaked.
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = Guard;
    let p = source::range(0, 3)
        .map(move |x| {
            let _ = &guard;
            x
        })
        .filter(|_| true);
    assert_eq!(run(&p), 1);
    let clone = p.clone();
    drop(p);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "a clone still holds it");
    drop(clone);
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        1,
        "dropped once, with the last holder"
    );

    // With state: the captured value is released when the stage and its subscriptions are.
    let shared = Arc::new(());
    let held = shared.clone();
    let p = source::range(0, 3).filter(move |_| Arc::strong_count(&held) > 0);
    assert_eq!(run(&p), 1);
    assert_eq!(Arc::strong_count(&shared), 2, "held by the stage");
    drop(p);
    assert_eq!(Arc::strong_count(&shared), 1, "released with the stage");
}

#[test]
fn a_blocking_run_allocates_nothing_for_its_end_once_its_thread_has_run_one() {
    let p = chain(0);
    let drain = || {
        let mut sum = 0u64;
        sink::for_each(move |x: u64| sum = sum.wrapping_add(x))
            .run(&p)
            .unwrap()
    };
    drain(); // the thread's first run makes the slot it keeps
             // The range's engine: no handle state, no slot, no subscription of take's own.
    assert_eq!(allocations(drain), 1, "allocations per subscription");
}

/// Passes its subscription through without forwarding `wanted`: a stage the engine cannot see
/// past (a user's own subscriber wrapper).
struct Opaque<S>(S);

impl<T, S: rstreams_core::Subscriber<T>> rstreams_core::Subscriber<T> for Opaque<S> {
    fn on_subscribe(&mut self, subscription: std::sync::Arc<dyn rstreams_core::Subscription>) {
        self.0.on_subscribe(subscription)
    }
    fn on_next(&mut self, item: T) {
        self.0.on_next(item)
    }
    fn on_error(&mut self, error: rstreams_core::Error) {
        self.0.on_error(error)
    }
    fn on_complete(&mut self) {
        self.0.on_complete()
    }
}

#[derive(Clone)]
struct OpaqueStage<P>(P);

impl<P: Publisher> Publisher for OpaqueStage<P> {
    type Item = P::Item;
    fn subscribe<S: rstreams_core::Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.0.subscribe(Opaque(subscriber))
    }
}

/// Runs `p` to its end through `run` on this thread (its slot made by a first run), and
/// returns the allocations of a second run.
fn allocations_of_a_run<P: Publisher<Item = u64>>(p: &P) -> u64 {
    let drain = || {
        let mut sum = 0u64;
        sink::for_each(move |x: u64| sum = sum.wrapping_add(x))
            .run(p)
            .unwrap()
    };
    drain();
    allocations(drain)
}

#[test]
fn take_below_every_stage_that_forwards_wanted_passes_the_sources_subscription_through() {
    let chain = source::range(0, 1_000)
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .skip(3)
        .skip_while(|x| *x < 20)
        .filter_map(|x| Some(x / 2))
        .inspect(|x| assert!(*x > 0))
        .scan(0u64, |sum, x| {
            *sum += x;
            *sum
        })
        .take_while(|x| *x < u64::MAX)
        .try_map(Ok::<u64, rstreams_core::Error>)
        .map_err(|e| e)
        .take(100)
        .take(7);
    // The range's engine, nothing else: neither `take` makes a subscription of its own.
    assert_eq!(allocations_of_a_run(&chain), 1);
}

#[test]
fn take_below_a_stage_that_does_not_forward_wanted_caps_with_a_subscription_of_its_own() {
    let chain = OpaqueStage(source::range(0, 1_000).map(|x| x + 1)).take(7);
    // The range's engine and take's capping subscription.
    assert_eq!(allocations_of_a_run(&chain), 2);
}

//! Deliberate panics in the code under test go into the report, not through the panic hook;
//! the hook found before a verification is there again after it. (One test in its own binary:
//! the panic hook is process-wide.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::{Error, Subscriber, Subscription};
use rstreams_tck::{SubscriberVerification, Timeouts};

static SEEN_BY_THE_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Requests, then panics at the first element.
struct PanicsOnNext;

impl Subscriber<u64> for PanicsOnNext {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        s.request(1);
    }
    fn on_next(&mut self, _: u64) {
        panic!("a subscriber bug");
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn rule_2_13_a_panic_is_reported_with_its_location_and_the_hook_found_is_left_as_it_was() {
    std::panic::set_hook(Box::new(|_| {
        SEEN_BY_THE_HOOK.fetch_add(1, Ordering::SeqCst);
    }));
    let report = SubscriberVerification::new(|| PanicsOnNext)
        .timeouts(Timeouts {
            signal: Duration::from_millis(300),
            quiet: Duration::from_millis(5),
            check: Duration::from_secs(3),
        })
        .run();
    let text = report.to_string();
    assert!(
        report.failed_rules().contains(&"2.13".to_string()),
        "{text}"
    );
    // The message and where it was raised are in the report.
    assert!(
        text.contains("panicked during `on_next(0)`: a subscriber bug (at "),
        "{text}"
    );
    assert!(text.contains("panic_hook.rs:"), "{text}");
    // None of them went through the hook (which would print a backtrace between the lines).
    assert_eq!(SEEN_BY_THE_HOOK.load(Ordering::SeqCst), 0);
    // The hook found is in place again: a panic now reaches it.
    let _ = std::thread::spawn(|| panic!("after the verification")).join();
    assert_eq!(SEEN_BY_THE_HOOK.load(Ordering::SeqCst), 1);
    let _ = std::panic::take_hook();
}

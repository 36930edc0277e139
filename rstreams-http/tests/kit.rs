//! The jobs publisher against the compliance kit: fed by a thread that offers requests as
//! fast as admission allows, it must keep every rule of §1 and §3 a source keeps.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use rstreams_core::{Publisher, Subscriber};
use rstreams_http::{Edge, Job, Jobs, Reason};
use rstreams_tck::PublisherVerification;

/// `Jobs` with a feeder: once subscribed, a thread offers `0..n` (each as soon as the edge
/// admits it, i.e. as soon as there is demand), then drops the edge, which completes the
/// stream. The feeder stops early when the edge closes (the subscription ended), and after a
/// minute in any case, so that no thread outlives the checks by long.
struct Fed {
    jobs: Jobs<u64, ()>,
    edge: Mutex<Option<Edge<u64, ()>>>,
    n: u64,
}

impl Publisher for Fed {
    type Item = Job<u64, ()>;

    fn subscribe<S: Subscriber<Job<u64, ()>> + 'static>(&self, subscriber: S) {
        self.jobs.subscribe(subscriber);
        let Some(edge) = self.edge.lock().unwrap().take() else {
            return; // a second subscription: the jobs publisher has refused it (§1.9)
        };
        let n = self.n;
        thread::spawn(move || {
            let give_up = Instant::now() + Duration::from_secs(60);
            for i in 0..n {
                loop {
                    match edge.try_admit(None) {
                        Ok(permit) => {
                            drop(permit.send(i)); // nobody waits for the reply
                            break;
                        }
                        Err(refused) if refused.reason() == Reason::Closed => return,
                        Err(_) if Instant::now() > give_up => return,
                        Err(_) => thread::sleep(Duration::from_micros(50)),
                    }
                }
            }
            drop(edge); // the last handle: completes the stream
        });
    }
}

fn fed(n: u64) -> Fed {
    let (edge, jobs) = Edge::new(usize::MAX);
    Fed {
        jobs,
        edge: Mutex::new(Some(edge)),
        n,
    }
}

#[test]
fn the_jobs_publisher_keeps_every_rule_the_kit_checks() {
    let report = PublisherVerification::new(fed).max_elements(256).run();
    println!("{report}");
    report.assert_compliant();
}

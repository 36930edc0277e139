//! The kit's publisher verification on [`PullSource`], against a real nats-server.
//!
//! A pull consumer never completes, and the kit verifies publishers that emit exactly `n`
//! elements and then complete: each publisher under test is a fresh stream holding `n`
//! messages, read by a new durable consumer through `take(n)`. The kit's demand schedules
//! (requests of 1, of many, of `u64::MAX`, from other threads and from inside `on_next`,
//! cancels) reach the source through `take`, which passes demand through capped at `n`. The
//! failed publisher is a source whose stream does not exist: it must signal `on_subscribe`,
//! then `on_error`.

mod support;

use rstreams_nats::PullSource;
use rstreams_ops::PublisherExt;
use rstreams_tck::PublisherVerification;
use rstreams_test_servers::unique;
use support::Server;

#[test]
fn the_pull_source_passes_the_publisher_verification() {
    // The server stays here (its drop stops it): the kit may keep the factory alive in a
    // parked thread, so the factory holds only a client.
    let server = Server::start();
    let url = server.url.clone();
    let make = server.admin();
    let report = PublisherVerification::new(move |n| {
        let (stream, consumer) = (unique("tck"), unique("c"));
        make.create_stream(&stream);
        make.publish(&format!("{stream}.a"), 0, n);
        PullSource::durable(&make.url, &stream, &consumer).take(n)
    })
    .failed_publisher(move || PullSource::durable(&url, unique("missing"), "c").take(1))
    .max_elements(64)
    .name("nats pull source")
    .run();
    println!("{report}");
    report.assert_compliant();
}

//! The edge over real HTTP on loopback: admission by demand, 503 and 429 with Retry-After,
//! replies, drops, cancel, and the accounting of every request.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use axum::http::StatusCode;
use rstreams_core::scheduler::ThreadPool;
use rstreams_core::{sink, Publisher};
use rstreams_http::{ClientKey, Edge, EdgeConfig, Reason, RetryAfter};
use rstreams_ops::PublisherExt;
use support::{post_work, probe, serve, TestEdge, TestJob};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_requests_are_answered_with_the_pipelines_reply() {
    let (edge, jobs): (TestEdge, _) = Edge::new(16);
    let pipeline = jobs.publish_on(ThreadPool::with_name(1, "pipeline"), 4);
    let worker = sink::for_each(|job: TestJob| {
        let upper = job.value.to_uppercase();
        assert!(job.reply(upper), "the client waits for its reply");
    });
    pipeline.subscribe(worker);
    let addr = serve(edge.clone()).await;

    for i in 0..20 {
        let answered = post_work(addr, None, &format!("job {i}")).await;
        assert_eq!(answered.status, StatusCode::OK, "request {i}: {answered:?}");
        assert_eq!(answered.body, format!("JOB {i}"));
        assert_eq!(answered.retry_after, None);
    }
    let stats = edge.stats();
    assert_eq!((stats.offered, stats.accepted, stats.replied), (20, 20, 20));
    assert_eq!((stats.overloaded, stats.in_flight, stats.queued), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_demand_every_request_gets_503_and_retry_after_at_once() {
    let config = EdgeConfig::new(16).retry_after(RetryAfter::seconds(7));
    let (edge, jobs): (TestEdge, _) = Edge::with_config(config);
    let addr = serve(edge.clone()).await;

    // Before anything subscribed: no demand.
    let before = post_work(addr, None, "early").await;
    assert_eq!(before.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(before.retry_after.as_deref(), Some("7"));

    // A pipeline that is subscribed but stalled: it requests nothing.
    let (p, mut handle) = probe(0);
    jobs.subscribe(p);
    let stalled: Vec<_> = (0..8)
        .map(|i| tokio::spawn(post_work(addr, None, Box::leak(format!("s{i}").into()))))
        .collect();
    for request in stalled {
        // Each one is answered while the pipeline still has no demand: nothing waits for it.
        let answered = request.await.unwrap();
        assert_eq!(
            answered.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{answered:?}"
        );
        assert_eq!(answered.retry_after.as_deref(), Some("7"));
        assert!(answered.body.contains("no demand"), "{answered:?}");
    }
    assert!(
        handle.jobs.try_recv().is_err(),
        "no job reached the stalled pipeline"
    );
    let stats = edge.stats();
    assert_eq!((stats.accepted, stats.overloaded, stats.queued), (0, 9, 0));

    // One unit of demand admits exactly one request.
    handle.request(1);
    let admitted = tokio::spawn(post_work(addr, None, "one"));
    let job = handle.next_job().await;
    assert_eq!(job.value, "one");
    let refused = post_work(addr, None, "two").await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "demand was used up"
    );
    assert!(job.reply("done".into()));
    let answered = admitted.await.unwrap();
    assert_eq!(
        (answered.status, answered.body.as_str()),
        (StatusCode::OK, "done")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_answered_before_its_body_is_sent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (edge, jobs): (TestEdge, _) = Edge::new(16);
    let (p, _handle) = probe(0); // stalled: no demand
    jobs.subscribe(p);
    let addr = serve(edge).await;

    // Announce a megabyte of body and send none of it: admission (the extractor) runs before
    // the body is read, so the refusal cannot depend on the body arriving.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /work HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 1000000\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read_head = async {
        let mut buf = [0u8; 1024];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed without answering");
            received.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(support::HANG, read_head)
        .await
        .expect("answered without the body");
    let head = String::from_utf8_lossy(&received).to_lowercase();
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("retry-after: 1\r\n"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_client_bound_answers_429_to_the_greedy_client_while_another_is_served() {
    let config = EdgeConfig::new(16)
        .retry_after(RetryAfter::seconds(3))
        .per_client(ClientKey::header("x-client"), 2);
    let (edge, jobs): (TestEdge, _) = Edge::with_config(config);
    let (p, mut handle) = probe(100);
    jobs.subscribe(p);
    let addr = serve(edge.clone()).await;

    // The greedy client fills its two slots; the pipeline holds both jobs.
    let g1 = tokio::spawn(post_work(addr, Some("greedy"), "g1"));
    let g2 = tokio::spawn(post_work(addr, Some("greedy"), "g2"));
    let held = [handle.next_job().await, handle.next_job().await];
    assert!(held.iter().all(|j| j.client() == Some("greedy")));

    // Its third request is refused 429, at once, with Retry-After.
    let g3 = post_work(addr, Some("greedy"), "g3").await;
    assert_eq!(g3.status, StatusCode::TOO_MANY_REQUESTS, "{g3:?}");
    assert_eq!(g3.retry_after.as_deref(), Some("3"));

    // Another client is served meanwhile.
    let polite = tokio::spawn(post_work(addr, Some("polite"), "p1"));
    let job = handle.next_job().await;
    assert_eq!((job.value.as_str(), job.client()), ("p1", Some("polite")));
    assert!(job.reply("p1 done".into()));
    let polite = polite.await.unwrap();
    assert_eq!(
        (polite.status, polite.body.as_str()),
        (StatusCode::OK, "p1 done")
    );

    // Once the greedy client's jobs are answered, its slots are free again.
    for job in held {
        let reply = format!("{} done", job.value);
        assert!(job.reply(reply));
    }
    let mut bodies = vec![g1.await.unwrap().body, g2.await.unwrap().body];
    bodies.sort();
    assert_eq!(bodies, ["g1 done", "g2 done"]);
    let g4 = tokio::spawn(post_work(addr, Some("greedy"), "g4"));
    let job = handle.next_job().await;
    assert!(job.reply("g4 done".into()));
    assert_eq!(g4.await.unwrap().status, StatusCode::OK);

    let stats = edge.stats();
    assert_eq!(
        (stats.client_limited, stats.accepted, stats.replied),
        (1, 4, 4)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_client_bound_can_key_clients_by_peer_address() {
    let config = EdgeConfig::new(16).per_client(ClientKey::peer_ip(), 1);
    let (edge, jobs): (TestEdge, _) = Edge::with_config(config);
    let (p, mut handle) = probe(100);
    jobs.subscribe(p);
    let addr = serve(edge).await;

    let first = tokio::spawn(post_work(addr, None, "first"));
    let job = handle.next_job().await;
    assert_eq!(job.client(), Some("127.0.0.1"));
    // Another connection from the same host: the same client.
    let second = post_work(addr, None, "second").await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(job.reply("ok".into()));
    assert_eq!(first.await.unwrap().status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_dropped_unreplied_answers_500_and_a_shed_job_503() {
    let config = EdgeConfig::new(16).retry_after(RetryAfter::seconds(2));
    let (edge, jobs): (TestEdge, _) = Edge::with_config(config);
    let (p, mut handle) = probe(10);
    jobs.subscribe(p);
    let addr = serve(edge.clone()).await;

    let dropped = tokio::spawn(post_work(addr, None, "lost"));
    drop(handle.next_job().await);
    let dropped = dropped.await.unwrap();
    assert_eq!(
        dropped.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{dropped:?}"
    );
    assert_eq!(
        dropped.retry_after, None,
        "a 500 is not an invitation to retry"
    );

    let shed = tokio::spawn(post_work(addr, None, "shed"));
    assert!(handle.next_job().await.shed());
    let shed = shed.await.unwrap();
    assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE, "{shed:?}");
    assert_eq!(shed.retry_after.as_deref(), Some("2"));

    // A job dropped after its value was taken apart answers 500 all the same.
    let split = tokio::spawn(post_work(addr, None, "split"));
    let (value, reply) = handle.next_job().await.into_parts();
    assert_eq!(value, "split");
    drop(reply);
    assert_eq!(
        split.await.unwrap().status,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let stats = edge.stats();
    assert_eq!(
        (stats.accepted, stats.dropped, stats.shed, stats.in_flight),
        (3, 2, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_pipeline_makes_the_edge_answer_503() {
    let (edge, jobs): (TestEdge, _) = Edge::new(16);
    let (p, mut handle) = probe(10);
    jobs.subscribe(p);
    let addr = serve(edge.clone()).await;

    let held = tokio::spawn(post_work(addr, None, "held"));
    let job = handle.next_job().await;
    // The cancel takes effect at once or, if the drain loop is still busy on the thread that
    // delivered the job, when that loop runs its next pass (§3.12). A request racing it is
    // refused either way: admitted against the old demand, it is answered 503 when the
    // subscription ends with it still in the edge.
    handle.cancel();

    // New requests are refused, demand or not.
    for i in 0..3 {
        let answered = post_work(addr, None, &format!("after {i}")).await;
        assert_eq!(
            answered.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{answered:?}"
        );
        assert_eq!(answered.retry_after.as_deref(), Some("1"));
        assert!(answered.body.contains("not running"), "{answered:?}");
    }
    assert!(edge.is_closed());
    // The job the pipeline held when it was cancelled is still its to answer.
    assert!(job.reply("finished anyway".into()));
    assert_eq!(held.await.unwrap().body, "finished anyway");
    let stats = edge.stats();
    assert_eq!(
        stats.overloaded + stats.shed,
        3,
        "each refused, at admission or in the edge"
    );
    assert_eq!((stats.replied, stats.in_flight), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pipeline_closes_the_edge_and_its_jobs_answer_500() {
    let (edge, jobs): (TestEdge, _) = Edge::new(16);
    // A stage that fails on the second job: it cancels the edge's subscription, and the job
    // it failed on is dropped with the pipeline.
    let failing = jobs.map(|job: TestJob| {
        if job.value == "bad" {
            panic!("cannot handle {}", job.value);
        }
        job
    });
    let worker = sink::for_each(|job: TestJob| {
        job.reply("ok".into());
    });
    let done = worker.handle();
    failing.subscribe(worker);
    let addr = serve(edge.clone()).await;

    assert_eq!(post_work(addr, None, "good").await.status, StatusCode::OK);
    let bad = post_work(addr, None, "bad").await;
    assert_eq!(bad.status, StatusCode::INTERNAL_SERVER_ERROR, "{bad:?}");
    assert!(done.wait().is_err(), "the pipeline failed");
    let after = post_work(addr, None, "good again").await;
    assert_eq!(after.status, StatusCode::SERVICE_UNAVAILABLE, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_is_lost_accepted_plus_refused_equals_sent_and_every_accepted_one_is_answered() {
    const CLIENTS: usize = 16;
    const EACH: usize = 25;
    let (edge, jobs): (TestEdge, _) = Edge::new(8);
    // A slow pipeline (about 1 ms per job on one thread) behind a prefetch of 4: overloaded by
    // 16 concurrent clients, so some requests are refused, but none may vanish.
    let pipeline = jobs.publish_on(ThreadPool::with_name(1, "slow"), 4);
    pipeline.subscribe(sink::for_each(|job: TestJob| {
        thread::sleep(Duration::from_millis(1));
        let reply = format!("{}!", job.value);
        job.reply(reply);
    }));
    let addr = serve(edge.clone()).await;

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in 0..EACH {
                    let body = format!("c{c}-{i}");
                    let answered = post_work(addr, None, &body).await;
                    answers.push((body, answered));
                }
                answers
            })
        })
        .collect();
    let (mut accepted, mut refused, mut other) = (0u64, 0u64, Vec::new());
    let mut seen = HashSet::new();
    for client in clients {
        for (body, answered) in client.await.unwrap() {
            assert!(seen.insert(body.clone()), "one answer per request");
            match answered.status {
                StatusCode::OK => {
                    assert_eq!(answered.body, format!("{body}!"), "its own reply");
                    accepted += 1;
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert_eq!(answered.retry_after.as_deref(), Some("1"));
                    refused += 1;
                }
                _ => other.push(answered),
            }
        }
    }
    let sent = (CLIENTS * EACH) as u64;
    assert!(other.is_empty(), "only 200 or 503: {other:?}");
    assert_eq!(accepted + refused, sent, "accepted + refused == sent");
    assert!(accepted > 0);
    let stats = edge.stats();
    assert_eq!(stats.offered, sent);
    assert_eq!((stats.accepted, stats.overloaded), (accepted, refused));
    assert_eq!(
        (stats.replied, stats.in_flight, stats.queued),
        (accepted, 0, 0)
    );
    assert_eq!(
        stats.delivered, accepted,
        "every accepted job reached the pipeline"
    );
}

#[test]
fn a_job_waiting_in_the_edge_when_the_pipeline_cancels_is_answered_503() {
    // The subscriber blocks in on_next with the first job while a second is sent: the second
    // waits in the edge (the drain loop is busy), and the cancel made meanwhile ends the
    // subscription before it is delivered.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (edge, jobs) = Edge::<u32, u32>::new(8);
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let worker = sink::for_each(move |job: rstreams_http::Job<u32, u32>| {
        entered_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        job.reply_with(|v| v * 10);
    })
    .batch(8);
    let handle = worker.handle();
    jobs.subscribe(worker);

    let first = {
        let edge = edge.clone();
        thread::spawn(move || edge.offer(1)) // delivers inline, blocks in on_next
    };
    entered_rx.recv().unwrap();
    let second = edge.offer(2);
    assert!(second.refused_with().is_none(), "admitted: demand was left");
    assert_eq!(
        edge.stats().queued,
        1,
        "it waits in the edge behind the busy drain loop"
    );
    handle.cancel();
    release_tx.send(()).unwrap();
    let first = first.join().unwrap();

    assert_eq!(rt.block_on(first), Ok(10));
    let refused = rt.block_on(second).unwrap_err();
    assert_eq!(refused.reason(), Reason::Closed);
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
    let stats = edge.stats();
    assert_eq!(
        (stats.replied, stats.shed, stats.queued, stats.in_flight),
        (1, 1, 0, 0)
    );
}

#[test]
fn admission_never_exceeds_the_demand_and_a_withdrawn_permit_gives_it_back() {
    let (edge, jobs): (TestEdge, _) = Edge::new(100);
    let (p, mut handle) = probe(0);
    jobs.subscribe(p);
    handle.request(3);
    let permits: Vec<_> = (0..3).map(|_| edge.try_admit(None).unwrap()).collect();
    assert_eq!(edge.try_admit(None).unwrap_err().reason(), Reason::NoDemand);
    assert_eq!(edge.stats().reserved, 3);
    let mut permits = permits.into_iter();
    drop(permits.next()); // withdrawn: its unit of demand comes back
    let again = edge
        .try_admit(None)
        .expect("the withdrawn permit's demand is free again");
    let answers: Vec<_> = permits.chain([again]).map(|p| p.send("x".into())).collect();
    assert!(answers.iter().all(|a| a.refused_with().is_none()));
    assert_eq!(edge.try_admit(None).unwrap_err().reason(), Reason::NoDemand);
    let stats = edge.stats();
    assert_eq!(
        (stats.withdrawn, stats.accepted, stats.delivered),
        (1, 3, 3)
    );
    assert_eq!((stats.offered, stats.demand, stats.queued), (6, 0, 0));
    assert_eq!(
        stats.offered,
        stats.accepted
            + stats.overloaded
            + stats.client_limited
            + stats.withdrawn
            + stats.reserved as u64
    );
    for _ in 0..3 {
        assert!(handle.jobs.try_recv().is_ok(), "delivered to the pipeline");
    }
}

#[test]
fn the_in_flight_bound_refuses_while_jobs_are_unanswered_even_with_demand() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (edge, jobs) = Edge::<u32, u32>::new(2);
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = held.clone();
    jobs.subscribe(sink::for_each(move |job| h.lock().unwrap().push(job))); // unbounded demand
    let a = edge.offer(1);
    let b = edge.offer(2);
    let refused = rt.block_on(edge.offer(3)).unwrap_err();
    assert_eq!(refused.reason(), Reason::InFlightFull);
    let first: rstreams_http::Job<u32, u32> = held.lock().unwrap().remove(0);
    first.reply(100);
    assert_eq!(rt.block_on(a), Ok(100));
    let c = edge.offer(4);
    assert!(c.refused_with().is_none(), "a slot was freed by the reply");
    for job in held.lock().unwrap().drain(..) {
        job.reply_with(|v| v);
    }
    assert_eq!(rt.block_on(b), Ok(2));
    assert_eq!(rt.block_on(c), Ok(4));
}

#[test]
fn a_client_that_went_away_leaves_its_job_abandoned() {
    let (edge, jobs) = Edge::<u32, u32>::new(4);
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = held.clone();
    jobs.subscribe(sink::for_each(move |job| h.lock().unwrap().push(job)));
    let answer = edge.offer(1);
    let job: rstreams_http::Job<u32, u32> = held.lock().unwrap().pop().unwrap();
    assert!(!job.is_abandoned());
    drop(answer);
    assert!(job.is_abandoned());
    assert!(!job.reply(1), "nobody to answer");
    assert_eq!(edge.stats().in_flight, 0);
}

#[test]
fn dropping_the_last_edge_handle_completes_the_jobs_and_a_second_subscriber_is_refused() {
    let (edge, jobs) = Edge::<u32, u32>::new(4);
    let first = sink::for_each(|_job: rstreams_http::Job<u32, u32>| {});
    let done = first.handle();
    jobs.subscribe(first);
    let second = sink::for_each(|_job: rstreams_http::Job<u32, u32>| {});
    let refused = second.handle();
    jobs.subscribe(second);
    let error = refused.wait().unwrap_err();
    assert_eq!(error.rule(), Some("1.9"), "§1.9: {error}");
    assert!(!done.is_done());
    let clone = edge.clone();
    drop(edge);
    assert!(!done.is_done(), "a handle is still alive");
    drop(clone);
    assert!(done.wait().is_ok(), "the last handle completes the stream");
}

#[test]
fn retry_after_spreads_over_consecutive_refusals() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = EdgeConfig::new(4).retry_after(RetryAfter::spread(1, 3));
    let (edge, _jobs) = Edge::<u32, u32>::with_config(config);
    let told: Vec<_> = (0..6)
        .map(|i| {
            rt.block_on(edge.offer(i))
                .unwrap_err()
                .retry_after()
                .unwrap()
                .as_secs()
        })
        .collect();
    assert_eq!(told, [1, 2, 3, 1, 2, 3]);
}

#[test]
#[should_panic(expected = "max_in_flight must be at least 1 (valid range 1..=usize::MAX), got 0")]
fn a_zero_in_flight_bound_is_rejected_when_the_edge_is_built() {
    let _ = EdgeConfig::new(0);
}

#[test]
#[should_panic(expected = "limit must be at least 1 (valid range 1..=usize::MAX), got 0")]
fn a_zero_per_client_limit_is_rejected_when_the_edge_is_built() {
    let _ = EdgeConfig::new(4).per_client(ClientKey::header("x-client"), 0);
}

#[test]
#[should_panic(expected = "max must be at least min")]
fn an_empty_retry_after_range_is_rejected() {
    let _ = RetryAfter::spread(5, 2);
}

//! Harness for the HTTP tests: a real axum server on a loopback port (a task of the test's
//! runtime, gone with it), a hyper client connection per request, and a probe subscriber
//! whose demand the test controls.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rstreams_core::{Error, Subscriber, Subscription};
use rstreams_http::{Edge, Job, Permit, Rejection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A request's job carries its body; the reply is the response body.
pub type TestEdge = Edge<String, String>;
pub type TestJob = Job<String, String>;

/// The handler under test: admission by the extractor (before the body is read), then the
/// body sent to the pipeline and the answer returned.
async fn work(permit: Permit<String, String>, body: String) -> Result<String, Rejection> {
    permit.send(body).await
}

/// Serves `edge` at `POST /work` on a free loopback port, with connection info (for
/// `ClientKey::peer_ip`). The server is a task of the calling runtime: it ends with it.
pub async fn serve(edge: TestEdge) -> SocketAddr {
    let app = Router::new().route("/work", post(work)).with_state(edge);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// What came back for one request.
#[derive(Debug, Clone)]
pub struct Answered {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: String,
}

/// The longest any one request may take before the test calls it hung. Only a guard against
/// hanging forever: no test asserts a duration.
pub const HANG: Duration = Duration::from_secs(20);

/// `POST /work` with `body`, as `client` (header `x-client`) if given, on a new connection.
pub async fn post_work(addr: SocketAddr, client: Option<&str>, body: &str) -> Answered {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        let mut request = Request::post("/work").header(header::HOST, addr.to_string());
        if let Some(client) = client {
            request = request.header("x-client", client);
        }
        let response = sender
            .send_request(
                request
                    .body(Full::new(Bytes::from(body.to_owned())))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        drop(sender);
        let _ = driver.await;
        Answered {
            status,
            retry_after,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    };
    tokio::time::timeout(HANG, exchange)
        .await
        .unwrap_or_else(|_| panic!("the request {body:?} got no answer within {HANG:?}: hung"))
}

/// A subscriber whose demand the test controls, handing every job to the test.
pub struct Probe {
    initial: u64,
    shared: Arc<ProbeShared>,
    jobs: mpsc::UnboundedSender<TestJob>,
}

#[derive(Default)]
pub struct ProbeShared {
    subscription: Mutex<Option<Arc<dyn Subscription>>>,
    end: Mutex<Option<Result<(), Error>>>,
}

/// The test's side of a [`Probe`].
pub struct ProbeHandle {
    shared: Arc<ProbeShared>,
    pub jobs: mpsc::UnboundedReceiver<TestJob>,
}

pub fn probe(initial: u64) -> (Probe, ProbeHandle) {
    let shared = Arc::new(ProbeShared::default());
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Probe {
            initial,
            shared: shared.clone(),
            jobs: tx,
        },
        ProbeHandle { shared, jobs: rx },
    )
}

impl Subscriber<TestJob> for Probe {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.initial > 0 {
            subscription.request(self.initial);
        }
        *self.shared.subscription.lock().unwrap() = Some(subscription);
    }
    fn on_next(&mut self, job: TestJob) {
        let _ = self.jobs.send(job);
    }
    fn on_error(&mut self, error: Error) {
        *self.shared.end.lock().unwrap() = Some(Err(error));
    }
    fn on_complete(&mut self) {
        *self.shared.end.lock().unwrap() = Some(Ok(()));
    }
}

impl ProbeHandle {
    fn subscription(&self) -> Arc<dyn Subscription> {
        self.shared
            .subscription
            .lock()
            .unwrap()
            .clone()
            .expect("the probe was subscribed")
    }

    pub fn request(&self, n: u64) {
        self.subscription().request(n);
    }

    pub fn cancel(&self) {
        self.subscription().cancel();
    }

    pub fn end(&self) -> Option<Result<(), Error>> {
        self.shared.end.lock().unwrap().clone()
    }

    /// The next job the pipeline received (waits for it, within [`HANG`]).
    pub async fn next_job(&mut self) -> TestJob {
        tokio::time::timeout(HANG, self.jobs.recv())
            .await
            .expect("a job reached the pipeline")
            .expect("the probe is alive")
    }
}

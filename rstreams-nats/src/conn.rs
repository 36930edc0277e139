//! One NATS connection and the small tokio runtime that drives it, owned by a stage.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use futures_util::FutureExt;
use rstreams_core::sync::{Condvar, Mutex};
use rstreams_core::Error;
use tokio::runtime::{Builder, Handle, Runtime};

/// Makes the options of each new connection (credentials, name, reconnect policy).
pub(crate) type Options = Arc<dyn Fn() -> ConnectOptions + Send + Sync>;

/// How long dropping a connection waits for what was written to it (acks) to reach the server.
const FLUSH_ON_DROP: Duration = Duration::from_secs(2);

/// A connection with its runtime: one worker thread that runs async-nats's connection task
/// (reads, writes, pings, reconnects) and the futures of [`run`](Self::run).
///
/// Held by a source's fetcher thread and by every delivery it made, so that a delivery can be
/// acked after the subscription ended. It is never held by a task on its own runtime, so its
/// last reference goes on an ordinary thread, where [`Drop`] may wait.
pub(crate) struct Conn {
    /// `Some` until dropped: then shut down without waiting for its tasks.
    runtime: Option<Runtime>,
    handle: Handle,
    client: Client,
}

impl Conn {
    /// Starts the runtime (thread named `name`) and connects to `url` on it. Blocks: call it
    /// from a thread of the stage's own, never from inside an async task.
    pub(crate) fn open(url: &str, options: &Options, name: &str) -> Result<Arc<Conn>, Error> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::new(e).context("starting the connection's runtime"))?;
        let handle = runtime.handle().clone();
        let client = runtime
            .block_on(options().connect(url))
            .map_err(|e| Error::new(e).context(format!("connecting to {url}")))?;
        Ok(Arc::new(Conn {
            runtime: Some(runtime),
            handle,
            client,
        }))
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `future` on the connection's runtime and blocks until it is done. Works from any
    /// thread other than the runtime's own worker (a plain thread, or a task of another
    /// runtime), since the future runs on the worker and this thread only waits.
    ///
    /// # Panics
    ///
    /// When `future` panics (the panic is carried over to this thread).
    pub(crate) fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let slot = Arc::new(Slot {
            value: Mutex::new(None),
            ready: Condvar::new(),
        });
        let filled = Arc::clone(&slot);
        self.handle.spawn(async move {
            let out = AssertUnwindSafe(future).catch_unwind().await;
            *filled.value.lock() = Some(out);
            filled.ready.notify_all();
        });
        let mut value = slot.value.lock();
        loop {
            if let Some(out) = value.take() {
                return out.unwrap_or_else(|payload| std::panic::resume_unwind(payload));
            }
            slot.ready.wait(&mut value);
        }
    }
}

/// Where a future run by [`Conn::run`] leaves its output: `None` until it is done.
struct Slot<T> {
    value: Mutex<Option<std::thread::Result<T>>>,
    ready: Condvar,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Acks are queued on the connection, not yet written: give them a moment to leave.
        let client = self.client.clone();
        let _ = self.run(async move { tokio::time::timeout(FLUSH_ON_DROP, client.flush()).await });
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Conn {
    /// Runs `future` on this thread, in the runtime's context (its I/O is driven by the
    /// worker). Only for the stage's own threads: never from inside an async task, and never
    /// while user code may run (the drain loop runs outside it).
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }
}

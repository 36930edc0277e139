//! Who a request comes from, for the per-client bound.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::header::HeaderName;
use axum::http::request::Parts;

/// A function from a request's head to its client's key.
type KeyFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// How the edge tells clients apart for its per-client bound
/// ([`EdgeConfig::per_client`](crate::EdgeConfig::per_client)): a function of the request's
/// head that returns the client's key, or `None` for a request that belongs to no client (it
/// is then bounded only by the edge's overall limits).
///
/// ```
/// use axum::http::Request;
/// use rstreams_http::ClientKey;
///
/// let by_header = ClientKey::header("x-api-key");
/// let (parts, ()) = Request::get("/").header("x-api-key", "alice").body(()).unwrap().into_parts();
/// assert_eq!(by_header.key(&parts).as_deref(), Some("alice"));
///
/// let (anonymous, ()) = Request::get("/").body(()).unwrap().into_parts();
/// assert_eq!(by_header.key(&anonymous), None);
/// ```
#[derive(Clone)]
pub struct ClientKey {
    key: Arc<KeyFn>,
    what: &'static str,
}

impl ClientKey {
    /// The value of header `name` (a request without it, or with a value that is not visible
    /// ASCII, has no key).
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name.
    pub fn header(name: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|_| {
            panic!("ClientKey::header: name must be a valid HTTP header name, got {name:?}")
        });
        ClientKey {
            key: Arc::new(move |parts: &Parts| {
                let value = parts.headers.get(&name)?;
                value.to_str().ok().map(str::to_owned)
            }),
            what: "header",
        }
    }

    /// The peer's IP address (without the port, so that the connections of one host count
    /// together). It needs the server to record connection info: serve the router with
    /// `into_make_service_with_connect_info::<SocketAddr>()`; without it no request has a key.
    pub fn peer_ip() -> Self {
        ClientKey {
            key: Arc::new(|parts: &Parts| {
                let ConnectInfo(addr) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
                Some(addr.ip().to_string())
            }),
            what: "peer_ip",
        }
    }

    /// Any function of the request's head (method, URI, headers, extensions).
    pub fn from_fn(key: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static) -> Self {
        ClientKey {
            key: Arc::new(key),
            what: "from_fn",
        }
    }

    /// The key of the request with head `parts`.
    pub fn key(&self, parts: &Parts) -> Option<String> {
        (self.key)(parts)
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientKey").field(&self.what).finish()
    }
}

//! The read-only HTTP API and `/metrics` (axum on a one-thread tokio
//! runtime of its own). Endpoints, parameters and auth:
//! `docs/operations.md`; the OpenAPI document is `openapi.json` beside
//! this file, served at `/api/v1/openapi.json`.
//!
//! The server never touches the packet path: it reads a [`View`] of the
//! inventory made on demand (at most once per [`REFRESH`], on a blocking
//! thread) and the counters the capture threads publish.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::metrics;
use super::view::{View, parse_time};
use crate::pipeline::Sensor;

/// A running sensor's view is made again when older than this.
pub const REFRESH: Duration = Duration::from_secs(2);
/// Items per page when `limit` is not given, and at most.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

const OPENAPI: &str = include_str!("openapi.json");

/// What the server serves.
pub enum Source {
    /// A stored inventory document (`mirador serve`).
    Stored(Arc<View>),
    /// A running sensor (`--listen`): its inventory now, and its counters.
    Running(Arc<Sensor>),
}

/// Why the server would not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve on {0} without a token: binding to anything but a loopback address \
         needs --api-token TOKEN (or MIRADOR_API_TOKEN), which every request must then send as \
         'Authorization: Bearer TOKEN'"
    )]
    TokenRequired(SocketAddr),
    #[error("the API token is empty")]
    EmptyToken,
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("cannot start the HTTP server: {0}")]
    Runtime(std::io::Error),
}

/// Binds `addr`: a loopback address serves anyone on this machine; any
/// other needs a token.
pub fn bind(addr: SocketAddr, token: Option<&str>) -> Result<TcpListener, ServeError> {
    match token {
        Some("") => return Err(ServeError::EmptyToken),
        None if !addr.ip().is_loopback() => return Err(ServeError::TokenRequired(addr)),
        _ => {}
    }
    let listener = TcpListener::bind(addr).map_err(|e| ServeError::Bind(addr, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServeError::Bind(addr, e))?;
    Ok(listener)
}

/// A server running on a thread of its own; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `source` on `listener` (from [`bind`]); with a token, every
    /// request must carry it.
    pub fn start(
        listener: TcpListener,
        source: Source,
        token: Option<String>,
    ) -> Result<Server, ServeError> {
        let addr = listener.local_addr().map_err(ServeError::Runtime)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router(Arc::new(Shared {
            source,
            token,
            cache: tokio::sync::Mutex::new(None),
        }));
        let thread = std::thread::Builder::new()
            .name("mirador-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let served = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => axum::serve(listener, app)
                            .with_graceful_shutdown(async {
                                let _ = stopped.await;
                            })
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = served {
                        eprintln!("mirador: HTTP server stopped: {e}");
                    }
                });
            })
            .map_err(ServeError::Runtime)?;
        Ok(Server {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Where it listens (the port chosen when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Shared {
    source: Source,
    token: Option<String>,
    /// A running sensor's latest view and when it was made.
    cache: tokio::sync::Mutex<Option<(Instant, Arc<View>)>>,
}

impl Shared {
    async fn view(&self) -> Result<Arc<View>, ApiError> {
        let sensor = match &self.source {
            Source::Stored(view) => return Ok(Arc::clone(view)),
            Source::Running(sensor) => sensor,
        };
        // Requests in the meantime wait for this one's view.
        let mut cache = self.cache.lock().await;
        if let Some((made, view)) = &*cache
            && made.elapsed() < REFRESH
        {
            return Ok(Arc::clone(view));
        }
        let sensor = Arc::clone(sensor);
        let view = tokio::task::spawn_blocking(move || View::of_sensor(&sensor))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(ApiError::internal)?;
        let view = Arc::new(view);
        *cache = Some((Instant::now(), Arc::clone(&view)));
        Ok(view)
    }

    fn sensor(&self) -> Option<&Sensor> {
        match &self.source {
            Source::Running(sensor) => Some(sensor),
            Source::Stored(_) => None,
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/devices/{id}", get(device))
        .route("/api/v1/anomalies", get(anomalies))
        .route("/api/v1/flows", get(flows))
        .route("/api/v1/openapi.json", get(openapi))
        .fallback(|| async { ApiError::not_found("no such endpoint (see /api/v1/openapi.json)") })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            authorize,
        ))
        .with_state(shared)
}

/// With a token, a request without `Authorization: Bearer TOKEN` gets 401.
async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if let Some(token) = &shared.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
            let mut response = ApiError {
                status: StatusCode::UNAUTHORIZED,
                message: "this server needs 'Authorization: Bearer TOKEN'".into(),
            }
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return response;
        }
    }
    next.run(request).await
}

/// Compares in time that depends on the lengths only, not on where the
/// first difference is.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// An error as the API answers it: a status and `{"error": message}`.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(rejection.body_text())
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let view = shared.view().await?;
    let text = metrics::render(&view, shared.sensor());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    Ok((headers, text).into_response())
}

/// One page of `items` (already filtered) as `{"total", "offset",
/// "limit", <key>: [...]}`: `limit` items (at most [`MAX_LIMIT`]) from
/// `offset`, each as `shown` makes it.
fn page<'a>(
    key: &str,
    items: impl Iterator<Item = &'a Value>,
    (limit, offset): (Option<usize>, Option<usize>),
    shown: impl Fn(&Value) -> Value,
) -> Result<Value, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset = offset.unwrap_or(0);
    let mut total = 0usize;
    let mut shown_items = Vec::new();
    for item in items {
        if total >= offset && shown_items.len() < limit {
            shown_items.push(shown(item));
        }
        total += 1;
    }
    let mut body = json!({ "total": total, "offset": offset, "limit": limit });
    body[key] = Value::Array(shown_items);
    Ok(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceQuery {
    category: Option<String>,
    vendor: Option<String>,
    seen_since: Option<String>,
    trust_below: Option<u8>,
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn devices(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<DeviceQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let since = match &q.seen_since {
        Some(text) => Some(parse_time(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "seen_since {text:?} is not a time (2016-08-29T16:00:00Z, 2016-08-29 or seconds since 1970)"
            ))
        })?),
        None => None,
    };
    let vendor = q.vendor.as_deref().map(str::to_lowercase);
    let view = shared.view().await?;
    let matching = view.devices.iter().filter(|d| {
        q.category.as_deref().is_none_or(|c| d.in_category(c))
            && vendor.as_deref().is_none_or(|v| d.made_by(v))
            && since.is_none_or(|t| d.seen_since(t))
            && q.trust_below.is_none_or(|b| d.trust.is_some_and(|t| t < b))
    });
    // Lists leave out the evidence; a device's own page has it.
    let body = page(
        "devices",
        matching.map(|d| &d.object),
        (q.limit, q.offset),
        |d| {
            let mut d = d.clone();
            if let Some(fields) = d.as_object_mut() {
                fields.remove("evidence");
            }
            d
        },
    )?;
    Ok(Json(body))
}

async fn device(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let view = shared.view().await?;
    match view.device(&id) {
        Some(d) => Ok(Json(d.object.clone())),
        None => Err(ApiError::not_found(format!("no device {id:?}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnomalyQuery {
    /// A MAC, or an address for hosts beyond a router.
    device: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    severity: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn anomalies(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<AnomalyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let view = shared.view().await?;
    // The device as the inventory writes it: a MAC in lower case.
    let device =
        q.device.as_deref().map(
            |d| match d.replace('-', ":").parse::<fingerprints::MacAddr>() {
                Ok(mac) => mac.to_string(),
                Err(_) => d.to_string(),
            },
        );
    let is = |value: &Value, wanted: &Option<String>| {
        wanted.as_deref().is_none_or(|w| value.as_str() == Some(w))
    };
    let matching = view.anomalies()["anomalies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            let subject = &a["subject"];
            is(&a["type"], &q.kind)
                && is(&a["severity"], &q.severity)
                && device.as_ref().is_none_or(|d| {
                    subject["mac"].as_str() == Some(d) || subject["ip"].as_str() == Some(d)
                })
        });
    Ok(Json(page(
        "anomalies",
        matching,
        (q.limit, q.offset),
        Value::clone,
    )?))
}

/// Flows are not kept by the sensor (they are `flow` events): said plainly.
async fn flows() -> ApiError {
    ApiError {
        status: StatusCode::NOT_IMPLEMENTED,
        message: "the sensor keeps no flow records yet: flows are the `flow` events of --events \
                  (EVE JSON); a device's peers and server ports are in /api/v1/devices/{id}"
            .into(),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_binds_need_a_token() {
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(matches!(bind(any, None), Err(ServeError::TokenRequired(_))));
        assert!(matches!(bind(any, Some("")), Err(ServeError::EmptyToken)));
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(bind(loopback, None).is_ok());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3cres"));
        assert!(!same_secret(b"s3cret", b"s3cret!"));
        assert!(!same_secret(b"", b"s3cret"));
    }

    #[test]
    fn the_openapi_document_is_json_listing_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let paths: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for route in [
            "/metrics",
            "/api/v1/devices",
            "/api/v1/devices/{id}",
            "/api/v1/anomalies",
            "/api/v1/flows",
            "/api/v1/openapi.json",
        ] {
            assert!(paths.contains(&route), "{route} not documented");
        }
    }
}

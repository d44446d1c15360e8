//! A real OTLP/HTTP trace and metrics receiver for the tests and the benchmark: it decodes
//! every request with the OpenTelemetry project's own protobuf types (`opentelemetry-proto`)
//! and keeps the spans (POST /v1/traces), the metrics requests (POST /v1/metrics), the headers
//! and the request count. It can also misbehave as receivers do: answer
//! with an error status, answer slowly, or fail the first requests and then recover.
//!
//! It listens on 127.0.0.1 only and answers one request at a time, as a collector behind a
//! single connection would.

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// 200 and an empty `ExportTraceServiceResponse` (`ExportMetricsServiceResponse`), at once.
    Accept,
    /// This status for every request (the spans are not kept).
    Fail(u16),
    /// Accepts, after waiting this long per request.
    Slow(Duration),
    /// This status for the first `n` requests, then accepts.
    FailFirst(u32, u16),
}

/// A span as received, with the resource attributes of its `ResourceSpans`.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub span: Span,
    pub resource: Vec<KeyValue>,
    pub scope_name: String,
}

impl ReceivedSpan {
    /// The span attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&any_value::Value> {
        find(&self.span.attributes, key)
    }

    /// The resource attribute `key`.
    pub fn resource_attr(&self, key: &str) -> Option<&any_value::Value> {
        find(&self.resource, key)
    }

    /// The span attribute `key` as an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.attr(key) {
            Some(any_value::Value::IntValue(i)) => Some(*i),
            _ => None,
        }
    }

    /// The span attribute `key` as a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.attr(key) {
            Some(any_value::Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }
}

/// The attribute `key` of `attrs` (a resource's, a span's, a data point's).
pub fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

#[derive(Default)]
struct State {
    requests: u64,
    bad_requests: Vec<String>,
    spans: Vec<ReceivedSpan>,
    metrics: Vec<ExportMetricsServiceRequest>,
    headers: Vec<(String, String)>,
}

/// A receiver running on a thread of its own until dropped.
pub struct Receiver {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    state: Arc<Mutex<State>>,
    /// The base URL (`http://127.0.0.1:PORT`), as `--otlp-endpoint` takes it.
    pub url: String,
}

impl Receiver {
    /// Starts a receiver on a free port of 127.0.0.1.
    pub fn start(behavior: Behavior) -> Receiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let (s, st) = (Arc::clone(&server), Arc::clone(&state));
        let thread = std::thread::spawn(move || serve(&s, &st, behavior));
        Receiver {
            server,
            thread: Some(thread),
            state,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Requests received (answered or not).
    pub fn requests(&self) -> u64 {
        self.state.lock().unwrap().requests
    }

    /// Spans received and accepted.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.state.lock().unwrap().spans.clone()
    }

    /// How many spans were accepted.
    pub fn span_count(&self) -> usize {
        self.state.lock().unwrap().spans.len()
    }

    /// Metrics requests received and accepted, in order.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.state.lock().unwrap().metrics.clone()
    }

    /// Headers of the last request (names in lower case).
    pub fn headers(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().headers.clone()
    }

    /// Requests that were not a valid OTLP/HTTP protobuf export: why.
    pub fn bad_requests(&self) -> Vec<String> {
        self.state.lock().unwrap().bad_requests.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, state: &Mutex<State>, behavior: Behavior) {
    let protobuf =
        tiny_http::Header::from_bytes("Content-Type", "application/x-protobuf").expect("header");
    while let Ok(mut req) = server.recv() {
        let mut body = Vec::new();
        let read = req.as_reader().read_to_end(&mut body);
        let n = {
            let mut st = state.lock().unwrap();
            st.requests += 1;
            st.headers = req
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.field.as_str().as_str().to_ascii_lowercase(),
                        h.value.to_string(),
                    )
                })
                .collect();
            st.requests
        };
        let status = match behavior {
            Behavior::Fail(code) => code,
            Behavior::FailFirst(first, code) if n <= u64::from(first) => code,
            Behavior::Slow(d) => {
                std::thread::sleep(d);
                200
            }
            Behavior::Accept | Behavior::FailFirst(..) => 200,
        };
        if status == 200 {
            let content_type = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Content-Type"))
                .map(|h| h.value.to_string());
            let decoded = read.map_err(|e| e.to_string()).and_then(|_| {
                if *req.method() != tiny_http::Method::Post {
                    return Err(format!("{} {}", req.method(), req.url()));
                }
                if content_type.as_deref() != Some("application/x-protobuf") {
                    return Err(format!("content type {content_type:?}"));
                }
                decode(req.url(), &body)
            });
            let answer = match decoded {
                Ok(Export::Traces(r)) => {
                    keep(state, r);
                    ExportTraceServiceResponse::default().encode_to_vec()
                }
                Ok(Export::Metrics(r)) => {
                    state.lock().unwrap().metrics.push(r);
                    ExportMetricsServiceResponse::default().encode_to_vec()
                }
                Err(e) => {
                    state.lock().unwrap().bad_requests.push(e.clone());
                    let _ = req.respond(tiny_http::Response::from_string(e).with_status_code(400));
                    continue;
                }
            };
            let _ =
                req.respond(tiny_http::Response::from_data(answer).with_header(protobuf.clone()));
        } else {
            let _ = req.respond(
                tiny_http::Response::from_string(format!("receiver says {status}"))
                    .with_status_code(status),
            );
        }
    }
}

/// A request the receiver understood.
enum Export {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

/// `body` decoded as the export its path says, or why not.
fn decode(path: &str, body: &[u8]) -> Result<Export, String> {
    match path {
        "/v1/traces" => ExportTraceServiceRequest::decode(body)
            .map(Export::Traces)
            .map_err(|e| e.to_string()),
        "/v1/metrics" => ExportMetricsServiceRequest::decode(body)
            .map(Export::Metrics)
            .map_err(|e| e.to_string()),
        other => Err(format!("POST {other}")),
    }
}

fn keep(state: &Mutex<State>, r: ExportTraceServiceRequest) {
    let mut st = state.lock().unwrap();
    for rs in r.resource_spans {
        let resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
        for ss in rs.scope_spans {
            let scope_name = ss.scope.map(|s| s.name).unwrap_or_default();
            for span in ss.spans {
                st.spans.push(ReceivedSpan {
                    span,
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                });
            }
        }
    }
}

//! Where spans and metrics go and how: the flags, then the environment variables the OpenTelemetry SDKs
//! read (specification: "OpenTelemetry Protocol Exporter", "Environment Variable
//! Specification").

use crate::values::AttributeLimits;
use std::time::Duration;

/// An OTLP setting that cannot be used, with the variable or flag that holds it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not an http:// or https:// URL.
    #[error("{source_name}: {value:?} is not an http:// or https:// URL")]
    BadEndpoint {
        /// The flag or variable.
        source_name: String,
        /// Its value.
        value: String,
    },
    /// https:// without the `tls` feature.
    #[error("{source_name}: {value:?} needs TLS: build gosyms with `--features tls`")]
    NoTls {
        /// The flag or variable.
        source_name: String,
        /// Its value.
        value: String,
    },
    /// A protocol gosyms does not speak.
    #[error("{source_name}={value}: gosyms sends OTLP/HTTP protobuf only (http/protobuf)")]
    Protocol {
        /// The variable.
        source_name: String,
        /// Its value.
        value: String,
    },
    /// A malformed number or `key=value` list.
    #[error("{source_name}: {detail}")]
    Bad {
        /// The flag or variable.
        source_name: String,
        /// What is wrong.
        detail: String,
    },
}

/// Where one signal (spans, metrics) is posted, and how.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The full URL (`.../v1/traces`, `.../v1/metrics`).
    pub url: String,
    /// Extra request headers (authentication, tenant).
    pub headers: Vec<(String, String)>,
    /// Per request (`OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s); also how long gosyms waits at
    /// the end for the last requests to be delivered.
    pub timeout: Duration,
}

/// Everything the exporters need to know.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Where spans go.
    pub traces: Endpoint,
    /// Where metrics go (`--stats`).
    pub metrics: Endpoint,
    /// Spans waiting to be sent, at most (`OTEL_BSP_MAX_QUEUE_SIZE`, default 8192).
    pub queue_size: usize,
    /// Spans per request, at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default 512).
    pub batch_size: usize,
    /// How long a span waits for a batch to fill (`OTEL_BSP_SCHEDULE_DELAY`, default 1 s).
    pub schedule_delay: Duration,
    /// Attribute limits (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    pub attribute_limits: AttributeLimits,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource_attributes: Vec<(String, String)>,
}

/// The SDKs' default when no endpoint is configured.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// A signal: the part of its variables' names and the path under a base URL.
#[derive(Clone, Copy)]
struct Signal {
    /// `TRACES` in `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    var: &'static str,
    /// `v1/traces`.
    path: &'static str,
}

const TRACES: Signal = Signal {
    var: "TRACES",
    path: "v1/traces",
};
const METRICS: Signal = Signal {
    var: "METRICS",
    path: "v1/metrics",
};

impl OtlpConfig {
    /// The configuration from `--otlp-endpoint` (a base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`:
    /// `/v1/traces` and `/v1/metrics` are appended), `--otlp-header K=V` (added to the
    /// environment's headers, replacing the same names) and `env` (the process environment,
    /// or a test's).
    ///
    /// Each signal's endpoint: the flag, else its own variable
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, used as it
    /// is), else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces` or `/v1/metrics`, else
    /// `http://localhost:4318` + the same. Headers, timeout and protocol: the signal's own
    /// variable if set, else the general one.
    pub fn new(
        endpoint_flag: Option<&str>,
        header_flags: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let traces = endpoint(TRACES, endpoint_flag, header_flags, &var)?;
        let metrics = endpoint(METRICS, endpoint_flag, header_flags, &var)?;
        let millis = |name: &str, default: u64| -> Result<u64, ConfigError> {
            var(name).map_or(Ok(default), |v| number(name, &v))
        };
        let at_least_one = |name: &str, default: u64| -> Result<usize, ConfigError> {
            let n = millis(name, default)?;
            if n == 0 {
                return Err(ConfigError::Bad {
                    source_name: name.into(),
                    detail: "must be at least 1".into(),
                });
            }
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        };
        let queue_size = at_least_one("OTEL_BSP_MAX_QUEUE_SIZE", 8192)?;
        let batch_size = at_least_one("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?.min(queue_size);
        let schedule_delay = Duration::from_millis(millis("OTEL_BSP_SCHEDULE_DELAY", 1000)?);
        let count = at_least_one("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", 128)?;
        let value_length = var("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")
            .map(|v| number("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", &v))
            .transpose()?
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let resource_attributes = var("OTEL_RESOURCE_ATTRIBUTES")
            .map(|v| key_values("OTEL_RESOURCE_ATTRIBUTES", &v))
            .transpose()?
            .unwrap_or_default();
        Ok(OtlpConfig {
            traces,
            metrics,
            queue_size,
            batch_size,
            schedule_delay,
            attribute_limits: AttributeLimits {
                count,
                value_length,
            },
            service_name: var("OTEL_SERVICE_NAME").map(|s| s.trim().to_string()),
            resource_attributes,
        })
    }
}

/// One signal's endpoint, headers and timeout (see [`OtlpConfig::new`]).
fn endpoint(
    signal: Signal,
    endpoint_flag: Option<&str>,
    header_flags: &[String],
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Endpoint, ConfigError> {
    // The signal's own variable, else the general one: (its name, its value).
    let either = |what: &str| {
        let own = format!("OTEL_EXPORTER_OTLP_{}_{what}", signal.var);
        let general = format!("OTEL_EXPORTER_OTLP_{what}");
        var(&own)
            .map(|v| (own, v))
            .or_else(|| var(&general).map(|v| (general, v)))
    };
    if let Some((name, p)) = either("PROTOCOL") {
        if p.trim() != "http/protobuf" {
            return Err(ConfigError::Protocol {
                source_name: name,
                value: p,
            });
        }
    }
    let own_endpoint = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.var);
    let (source_name, given, url) = if let Some(base) = endpoint_flag {
        (
            "--otlp-endpoint".to_string(),
            base.to_string(),
            signal_path(base, signal),
        )
    } else if let Some(url) = var(&own_endpoint) {
        let url = url.trim().to_string();
        (own_endpoint, url.clone(), url)
    } else if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        let url = signal_path(&base, signal);
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), base, url)
    } else {
        let base = DEFAULT_ENDPOINT.to_string();
        let url = signal_path(&base, signal);
        ("the default endpoint".to_string(), base, url)
    };
    check_url(&source_name, &given)?;

    let mut headers = match either("HEADERS") {
        Some((name, h)) => key_values(&name, &h)?,
        None => Vec::new(),
    };
    for h in header_flags {
        let (k, v) = h.split_once('=').ok_or_else(|| ConfigError::Bad {
            source_name: "--otlp-header".into(),
            detail: format!("{h:?} is not NAME=VALUE"),
        })?;
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k.trim()));
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let timeout_ms = match either("TIMEOUT") {
        Some((name, v)) => number(&name, &v)?,
        None => 10_000,
    };
    Ok(Endpoint {
        url,
        headers,
        timeout: Duration::from_millis(timeout_ms),
    })
}

/// `base` + `/v1/traces` (or the signal's path), with one slash between them.
fn signal_path(base: &str, signal: Signal) -> String {
    format!("{}/{}", base.trim().trim_end_matches('/'), signal.path)
}

fn check_url(source_name: &str, url: &str) -> Result<(), ConfigError> {
    let lower = url.to_ascii_lowercase();
    let host = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    if host.is_none_or(str::is_empty) {
        return Err(ConfigError::BadEndpoint {
            source_name: source_name.into(),
            value: url.into(),
        });
    }
    if lower.starts_with("https://") && !cfg!(feature = "tls") {
        return Err(ConfigError::NoTls {
            source_name: source_name.into(),
            value: url.into(),
        });
    }
    Ok(())
}

fn number(name: &str, v: &str) -> Result<u64, ConfigError> {
    v.trim().parse().map_err(|_| ConfigError::Bad {
        source_name: name.into(),
        detail: format!("{v:?} is not a whole number"),
    })
}

/// `k1=v1,k2=v2` with percent-encoded values (the W3C Baggage form the specification uses).
fn key_values(name: &str, v: &str) -> Result<Vec<(String, String)>, ConfigError> {
    v.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let (k, v) = item.split_once('=').ok_or_else(|| ConfigError::Bad {
                source_name: name.into(),
                detail: format!("{item:?} is not key=value"),
            })?;
            let bad = || ConfigError::Bad {
                source_name: name.into(),
                detail: format!("{item:?}: bad percent-encoding"),
            };
            Ok((
                percent_decode(k.trim()).ok_or_else(bad)?,
                percent_decode(v.trim()).ok_or_else(bad)?,
            ))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(
        flag: Option<&str>,
        headers: &[&str],
        env: &[(&str, &str)],
    ) -> Result<OtlpConfig, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        OtlpConfig::new(flag, &headers, |k| env.get(k).cloned())
    }

    #[test]
    fn endpoints_as_the_sdks_read_them() {
        let c = config(None, &[], &[]).unwrap();
        assert_eq!(c.traces.url, "http://localhost:4318/v1/traces");
        let c = config(
            None,
            &[],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")],
        )
        .unwrap();
        assert_eq!(c.traces.url, "http://collector:4318/v1/traces");
        // The signal's own variable is used as it is, and wins.
        let c = config(
            None,
            &[],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/custom"),
            ],
        )
        .unwrap();
        assert_eq!(c.traces.url, "http://b:9999/custom");
        // The flag wins over both.
        let c = config(
            Some("http://127.0.0.1:1234"),
            &[],
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/custom")],
        )
        .unwrap();
        assert_eq!(c.traces.url, "http://127.0.0.1:1234/v1/traces");
        assert!(matches!(
            config(Some("localhost:4318"), &[], &[]),
            Err(ConfigError::BadEndpoint { .. })
        ));
        assert!(matches!(
            config(None, &[], &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]),
            Err(ConfigError::Protocol { .. })
        ));
        let https = config(Some("https://collector:4318"), &[], &[]);
        if cfg!(feature = "tls") {
            assert_eq!(
                https.unwrap().traces.url,
                "https://collector:4318/v1/traces"
            );
        } else {
            assert!(matches!(https, Err(ConfigError::NoTls { .. })));
        }
    }

    #[test]
    fn metrics_endpoints_headers_and_timeouts() {
        let c = config(
            None,
            &[],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")],
        )
        .unwrap();
        assert_eq!(c.metrics.url, "http://collector:4318/v1/metrics");
        let c = config(
            None,
            &["x-tenant=flag"],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
                (
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                    "http://m:9999/custom",
                ),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=general"),
                ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "api-key=metrics"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "700"),
            ],
        )
        .unwrap();
        // Each signal reads its own variables first, then the general ones.
        assert_eq!(c.metrics.url, "http://m:9999/custom");
        assert_eq!(c.traces.url, "http://a:4318/v1/traces");
        let header = |h: &[(String, String)]| h.first().map(|(_, v)| v.clone());
        assert_eq!(header(&c.metrics.headers).as_deref(), Some("metrics"));
        assert_eq!(header(&c.traces.headers).as_deref(), Some("general"));
        assert_eq!(c.metrics.headers.len(), 2, "the flag's header too");
        assert_eq!(c.metrics.timeout, Duration::from_millis(700));
        assert_eq!(c.traces.timeout, Duration::from_millis(2500));
        let c = config(Some("http://127.0.0.1:1234/"), &[], &[]).unwrap();
        assert_eq!(c.metrics.url, "http://127.0.0.1:1234/v1/metrics");
        assert!(matches!(
            config(
                None,
                &[],
                &[("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")]
            ),
            Err(ConfigError::Protocol { .. })
        ));
    }

    #[test]
    fn headers_timeouts_and_limits() {
        let c = config(
            None,
            &["X-Tenant=flag"],
            &[
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=general"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                    "api-key=a%20b%3Dc, x-tenant=env",
                ),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "10"),
                ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.traces.headers,
            vec![
                ("api-key".to_string(), "a b=c".to_string()),
                ("X-Tenant".to_string(), "flag".to_string())
            ]
        );
        assert_eq!(c.traces.timeout, Duration::from_millis(2500));
        assert_eq!(c.attribute_limits.count, 10);
        assert_eq!(
            c.resource_attributes,
            vec![("deployment.environment".to_string(), "prod".to_string())]
        );
        assert!(matches!(
            config(None, &[], &[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]),
            Err(ConfigError::Bad { .. })
        ));
        assert!(matches!(
            config(None, &["novalue"], &[]),
            Err(ConfigError::Bad { .. })
        ));
    }
}

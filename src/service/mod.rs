//! A node as the Linux service an office admin already knows how to run:
//! systemd readiness, status and watchdog ([`systemd`]), log lines fit for
//! a terminal or the journal ([`log_format`]), and Prometheus metrics
//! ([`metrics`], served by [`metrics_http`]).

pub mod log_format;
pub mod metrics;
pub mod metrics_http;
pub mod systemd;

//! The process's metrics recorder (Prometheus text format), installed once per process: the
//! API and the workers record through the `metrics` facade, and `GET /metrics` renders it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets (seconds) for request, job and append histograms.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Installs the recorder on first call and returns a renderer. If another recorder was
/// installed first (a test binary's own), metrics render empty rather than fail.
pub fn install() -> api::MetricsRender {
    let handle = HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics shows this one only");
        }
        // Histograms and summaries need periodic upkeep to bound their memory.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        });
        handle
    });
    let handle = handle.clone();
    api::MetricsRender(std::sync::Arc::new(move || handle.render()))
}

/// Starts `GET /metrics` on its own listener when `listen` is set (`metrics_listen`); the
/// server runs until the process ends. Returns the address it serves on.
pub fn serve_separately(listen: Option<&str>) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(listen) = listen else { return Ok(None) };
    let listener = std::net::TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    let server = api::metrics_server(install(), listener)?;
    tokio::spawn(server);
    Ok(Some(addr))
}

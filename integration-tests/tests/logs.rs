//! Every log line of a request carries its request id. A binary of its own: it installs the
//! process's tracing subscriber to capture what the in-process API logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use eventstore::incidents::IncidentReport;
use integration_tests::{app, Api};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).lines().map(str::to_owned).collect()
    }
}

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_request_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt().with_env_filter("info").with_ansi(false).with_writer(move || writer.clone()).init();

    let store = app().store();
    let resource = format!("logged-{}", uuid::Uuid::new_v4().simple());
    let report = IncidentReport {
        kind: "test_logs",
        severity: "info",
        resource_type: "test",
        resource_id: &resource,
        summary: "x",
    };
    let id = domain::IncidentId(store.report_incident(&report).await.expect("report")).to_string();

    let admin = Api::new(Some(&app().admin_key));
    let r = admin.send(reqwest::Method::POST, &format!("/admin/incidents/{id}/resolve"), Some("{}".into())).await;
    r.expect(200);
    let request_id = r.request_id.expect("x-request-id");
    let lines = captured.lines();
    let handler_line = lines
        .iter()
        .find(|l| l.contains("incident resolved by an operator") && l.contains(&id))
        .unwrap_or_else(|| panic!("the handler's log line was captured: {lines:#?}"));
    assert!(handler_line.contains(&format!("request_id={request_id}")), "{handler_line}");

    // Lines of other requests do not carry this id.
    let other = admin.get("/admin/incidents?limit=1").await;
    other.expect(200);
    assert!(captured.lines().iter().filter(|l| l.contains(&request_id)).all(|l| !l.contains("/admin/incidents?")));
}

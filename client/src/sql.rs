//! SQL over HTTP: running SQL, the per-query audit, approvals (API.md, "SQL over HTTP").

use reqwest::Method;
use wire::*;

use crate::{seg, Client, Error, Reply};

/// What `POST /databases/{id}/sql` answered.
#[derive(Debug)]
pub enum SqlReply {
    Ran(Reply<SqlResultView>),
    /// 202: held for approval.
    Held(Reply<SqlHeldView>),
}

impl Client {
    /// `POST /databases/{id}/sql`.
    pub async fn sql(&self, db: &str, body: &SqlBody) -> Result<SqlReply, Error> {
        let reply: Reply<serde_json::Value> =
            self.data(self.post(&format!("/databases/{}/sql", seg(db)), body)).await?;
        Ok(if reply.status == 202 { SqlReply::Held(typed(reply)?) } else { SqlReply::Ran(typed(reply)?) })
    }

    /// `GET /databases/{id}/observability`.
    pub async fn observability(&self, db: &str) -> Result<Reply<ObservabilityView>, Error> {
        self.data(self.get(&format!("/databases/{}/observability", seg(db)))).await
    }

    /// `GET /databases/{id}/metrics?since=`: the numbers now and the history since `since`.
    pub async fn metrics(&self, db: &str, q: &MetricsQuery) -> Result<Reply<DatabaseMetricsView>, Error> {
        self.data(self.get(&format!("/databases/{}/metrics", seg(db))).query(q)).await
    }

    /// `GET /databases/{id}/queries`: one page, newest first.
    pub async fn queries(&self, db: &str, q: &QueriesQuery) -> Result<Reply<Vec<QueryLogView>>, Error> {
        self.data(self.get(&format!("/databases/{}/queries", seg(db))).query(q)).await
    }

    /// `GET /databases/{id}/approvals`: one page, newest first.
    pub async fn approvals(&self, db: &str, page: &PageQuery) -> Result<Reply<Vec<ApprovalView>>, Error> {
        self.data(self.get(&format!("/databases/{}/approvals", seg(db))).query(page)).await
    }

    /// `POST /databases/{id}/approvals/{approval_id}/approve` or `/reject`.
    pub async fn decide_approval(
        &self,
        db: &str,
        approval: &str,
        approve: bool,
        confirm: bool,
    ) -> Result<Reply<ApprovalView>, Error> {
        let verb = if approve { "approve" } else { "reject" };
        let path = format!("/databases/{}/approvals/{}/{verb}", seg(db), seg(approval));
        self.data(self.post(&path, &ApprovalDecisionBody { confirm })).await
    }

    /// `GET /databases/{id}/approval-settings`.
    pub async fn approval_settings(&self, db: &str) -> Result<Reply<ApprovalSettingsView>, Error> {
        self.data(self.get(&format!("/databases/{}/approval-settings", seg(db)))).await
    }

    /// `PUT /databases/{id}/approval-settings`.
    pub async fn set_approval_settings(
        &self,
        db: &str,
        body: &ApprovalSettingsBody,
    ) -> Result<Reply<ApprovalSettingsView>, Error> {
        let req = self.req(Method::PUT, &format!("/databases/{}/approval-settings", seg(db))).json(body);
        self.data(req).await
    }
}

/// A reply whose data's type depends on its status, read as that type.
fn typed<U: serde::de::DeserializeOwned>(r: Reply<serde_json::Value>) -> Result<Reply<U>, Error> {
    let data = serde_json::from_value(r.data).map_err(|e| Error::Protocol {
        status: r.status,
        message: format!("unexpected data: {e}"),
        request_id: r.request_id.clone(),
    })?;
    Ok(Reply { data, raw: r.raw, status: r.status, request_id: r.request_id, next_cursor: r.next_cursor })
}

//! One method per route the CLI uses (API.md), typed with the server's own bodies (`wire`).

use reqwest::Method;
use tokio::io::AsyncWriteExt;
use wire::*;

use crate::{seg, Client, Done, Error, Reply};

/// How long a migration request may take (the server's own timeout is shorter).
const LONG_REQUEST: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// How long a dump may stream (the server stops pg_dump at its own deadline, default 30 min).
const DUMP_REQUEST: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);

impl Client {
    // ---- account

    /// `GET /me`.
    pub async fn me(&self) -> Result<Reply<MeView>, Error> {
        self.data(self.get("/me")).await
    }

    /// `PATCH /admin/accounts/{id}` (platform admin): the account's plan.
    pub async fn set_plan(&self, account_id: &str, plan: &str) -> Result<Reply<AccountPlanView>, Error> {
        let body = AccountPatch { plan: plan.to_owned() };
        let req = self.req(Method::PATCH, &format!("/admin/accounts/{}", seg(account_id))).json(&body);
        self.data(req).await
    }

    /// `GET /admin/accounts` (platform admin): one page, newest first.
    pub async fn accounts(&self, q: &AccountQuery) -> Result<Reply<Vec<AccountView>>, Error> {
        self.data(self.get("/admin/accounts").query(q)).await
    }

    // ---- databases

    /// `POST /databases`: 201 when running, 202 (`state: provisioning`, `operation_id`) else.
    pub async fn create_database(&self, body: &CreateDatabase) -> Result<Reply<CreatedDatabase>, Error> {
        self.data(self.post("/databases", body)).await
    }

    /// `GET /databases`: one page.
    pub async fn list_databases(&self, page: &PageQuery) -> Result<Reply<Vec<DatabaseView>>, Error> {
        self.data(self.get("/databases").query(page)).await
    }

    /// `GET /databases`, every page; `raw` is the concatenated `data`.
    pub async fn all_databases(&self) -> Result<Reply<Vec<DatabaseView>>, Error> {
        let mut page = PageQuery { cursor: None, limit: Some(200) };
        let mut all = self.list_databases(&page).await?;
        let mut items = all.raw_items();
        while let Some(cursor) = all.next_cursor.take() {
            page.cursor = Some(cursor);
            let next = self.list_databases(&page).await?;
            items.extend(next.raw_items());
            all.data.extend(next.data);
            all.next_cursor = next.next_cursor;
            all.request_id = next.request_id;
        }
        // Each element as the server sent it, in one array.
        let joined = serde_json::to_string(&items).map_err(|e| Error::Local(e.to_string()))?;
        all.raw = serde_json::value::RawValue::from_string(joined).map_err(|e| Error::Local(e.to_string()))?;
        Ok(all)
    }

    /// `GET /databases/{id}`.
    pub async fn database(&self, id: &str) -> Result<Reply<DatabaseDetail>, Error> {
        self.data(self.get(&format!("/databases/{}", seg(id)))).await
    }

    /// `DELETE /databases/{id}`: 202 with `operation_id`.
    pub async fn delete_database(&self, id: &str) -> Result<Reply<DatabaseView>, Error> {
        self.data(self.req(Method::DELETE, &format!("/databases/{}", seg(id)))).await
    }

    /// `POST /databases/{id}/{stop|start|restart}`.
    pub async fn lifecycle(&self, id: &str, action: Lifecycle) -> Result<Reply<DatabaseView>, Error> {
        self.data(self.req(Method::POST, &format!("/databases/{}/{}", seg(id), action.as_str()))).await
    }

    /// `POST /databases/{id}/reset-password`: the new password, once.
    pub async fn reset_password(&self, id: &str) -> Result<Reply<Credentials>, Error> {
        self.data(self.req(Method::POST, &format!("/databases/{}/reset-password", seg(id)))).await
    }

    /// `GET /databases/{id}/credentials`.
    pub async fn credentials(&self, id: &str) -> Result<Reply<Credentials>, Error> {
        self.data(self.get(&format!("/databases/{}/credentials", seg(id)))).await
    }

    /// `GET /operations/{id}`.
    pub async fn operation(&self, id: &str) -> Result<Reply<OperationView>, Error> {
        self.data(self.get(&format!("/operations/{}", seg(id)))).await
    }

    // ---- database users, allowlist, collaborators

    pub async fn users(&self, db: &str) -> Result<Reply<Vec<UserView>>, Error> {
        self.data(self.get(&format!("/databases/{}/users", seg(db)))).await
    }

    pub async fn create_user(&self, db: &str, username: &str) -> Result<Reply<CreatedUserView>, Error> {
        let body = NewUser { username: username.to_owned() };
        self.data(self.post(&format!("/databases/{}/users", seg(db)), &body)).await
    }

    pub async fn delete_user(&self, db: &str, username: &str) -> Result<Done, Error> {
        self.done(self.req(Method::DELETE, &format!("/databases/{}/users/{}", seg(db), seg(username)))).await
    }

    pub async fn allowlist(&self, db: &str) -> Result<Reply<Vec<RuleView>>, Error> {
        self.data(self.get(&format!("/databases/{}/allowlist", seg(db)))).await
    }

    pub async fn add_rule(&self, db: &str, rule: &NewRule) -> Result<Reply<RuleView>, Error> {
        self.data(self.post(&format!("/databases/{}/allowlist", seg(db)), rule)).await
    }

    pub async fn remove_rule(&self, db: &str, rule_id: &str) -> Result<Done, Error> {
        self.done(self.req(Method::DELETE, &format!("/databases/{}/allowlist/{}", seg(db), seg(rule_id)))).await
    }

    pub async fn collaborators(&self, db: &str) -> Result<Reply<Vec<CollaboratorView>>, Error> {
        self.data(self.get(&format!("/databases/{}/collaborators", seg(db)))).await
    }

    pub async fn add_collaborator(&self, db: &str, body: &AddCollaborator) -> Result<Reply<CollaboratorView>, Error> {
        self.data(self.post(&format!("/databases/{}/collaborators", seg(db)), body)).await
    }

    pub async fn change_collaborator(
        &self,
        db: &str,
        user_id: &str,
        role: &str,
    ) -> Result<Reply<CollaboratorView>, Error> {
        let body = ChangeRole { role: role.to_owned() };
        let path = format!("/databases/{}/collaborators/{}", seg(db), seg(user_id));
        self.data(self.req(Method::PATCH, &path).json(&body)).await
    }

    pub async fn remove_collaborator(&self, db: &str, user_id: &str) -> Result<Done, Error> {
        self.done(self.req(Method::DELETE, &format!("/databases/{}/collaborators/{}", seg(db), seg(user_id)))).await
    }

    // ---- backups, restore, branch

    /// `POST /databases/{id}/backups`: 202 with the backup `pending` and its `operation_id`.
    pub async fn create_backup(&self, db: &str, body: &CreateBackup) -> Result<Reply<BackupView>, Error> {
        self.data(self.post(&format!("/databases/{}/backups", seg(db)), body)).await
    }

    pub async fn backups(&self, db: &str) -> Result<Reply<Vec<BackupView>>, Error> {
        self.data(self.get(&format!("/databases/{}/backups", seg(db)))).await
    }

    pub async fn backup(&self, db: &str, backup_id: &str) -> Result<Reply<BackupView>, Error> {
        self.data(self.get(&format!("/databases/{}/backups/{}", seg(db), seg(backup_id)))).await
    }

    /// `POST /databases/{id}/backups/{backup_id}/verify`: 202 with the verification's operation.
    pub async fn verify_backup(&self, db: &str, backup_id: &str) -> Result<Reply<BackupView>, Error> {
        let path = format!("/databases/{}/backups/{}/verify", seg(db), seg(backup_id));
        self.data(self.req(Method::POST, &path)).await
    }

    pub async fn delete_backup(&self, db: &str, backup_id: &str) -> Result<Reply<BackupView>, Error> {
        self.data(self.req(Method::DELETE, &format!("/databases/{}/backups/{}", seg(db), seg(backup_id)))).await
    }

    /// `GET …/download`: streams the `.sql.gz` into `out`; returns the byte count and the
    /// server's `x-backup-sha256`.
    /// `GET /ca.pem`: the platform CA's certificate, PEM (needs no credential).
    pub async fn ca_pem(&self) -> Result<String, Error> {
        let resp = self.send(self.get("/ca.pem")).await?;
        resp.text().await.map_err(|e| Error::network(&e))
    }

    pub async fn download_backup<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        db: &str,
        backup_id: &str,
        out: &mut W,
    ) -> Result<(u64, Option<String>), Error> {
        use futures::StreamExt;
        let path = format!("/databases/{}/backups/{}/download", seg(db), seg(backup_id));
        let resp = self.send(self.get(&path)).await?;
        let sha = resp.headers().get("x-backup-sha256").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut stream = resp.bytes_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::network(&e))?;
            out.write_all(&chunk).await.map_err(|e| Error::Local(format!("writing the backup: {e}")))?;
            n += chunk.len() as u64;
        }
        out.flush().await.map_err(|e| Error::Local(format!("writing the backup: {e}")))?;
        Ok((n, sha))
    }

    /// `POST /databases/{id}/restore`: a new database from a backup.
    pub async fn restore(&self, db: &str, body: &RestoreBackup) -> Result<Reply<CreatedDatabase>, Error> {
        self.data(self.post(&format!("/databases/{}/restore", seg(db)), body)).await
    }

    /// `POST /databases/{id}/branch`: a new database copied from the current state.
    pub async fn branch(&self, db: &str, name: &str) -> Result<Reply<CreatedDatabase>, Error> {
        let body = BranchDatabase { name: name.to_owned() };
        self.data(self.post(&format!("/databases/{}/branch", seg(db)), &body)).await
    }

    // ---- migrations and dumps

    /// `GET /databases/{id}/migrations`: the recorded migrations, oldest first.
    pub async fn migrations(&self, db: &str) -> Result<Reply<Vec<MigrationView>>, Error> {
        self.data(self.get(&format!("/databases/{}/migrations", seg(db)))).await
    }

    /// `POST /databases/{id}/migrations`: 201 `applied`, or 200 `already_applied`. A
    /// migration may run for minutes (the server's timeout, default 5): the request waits.
    pub async fn apply_migration(&self, db: &str, body: &ApplyMigration) -> Result<Reply<MigrationResult>, Error> {
        let req = self.post(&format!("/databases/{}/migrations", seg(db)), body).timeout(LONG_REQUEST);
        self.data(req).await
    }

    /// `POST /databases/{id}/dump`: streams the plain-SQL dump into `out`; the bytes
    /// written. A dump cut short by the server ends in a network error.
    pub async fn dump<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        db: &str,
        ddl_only: bool,
        out: &mut W,
    ) -> Result<u64, Error> {
        use futures::StreamExt;
        let body = DumpRequest { ddl_only: Some(ddl_only) };
        let req = self.post(&format!("/databases/{}/dump", seg(db)), &body).timeout(DUMP_REQUEST);
        let resp = self.send(req).await?;
        let mut stream = resp.bytes_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::network(&e))?;
            out.write_all(&chunk).await.map_err(|e| Error::Local(format!("writing the dump: {e}")))?;
            n += chunk.len() as u64;
        }
        out.flush().await.map_err(|e| Error::Local(format!("writing the dump: {e}")))?;
        Ok(n)
    }

    // ---- API keys

    /// `POST /api-keys`: the key is in the answer, once.
    pub async fn create_key(&self, body: &CreateKey) -> Result<Reply<KeyWithSecret>, Error> {
        self.data(self.post("/api-keys", body)).await
    }

    pub async fn keys(&self) -> Result<Reply<Vec<KeyView>>, Error> {
        self.data(self.get("/api-keys")).await
    }

    /// `POST /api-keys/{id}/replace`: a new secret, once; the old one stops working.
    pub async fn replace_key(&self, id: &str) -> Result<Reply<KeyWithSecret>, Error> {
        self.data(self.req(Method::POST, &format!("/api-keys/{}/replace", seg(id)))).await
    }

    pub async fn revoke_key(&self, id: &str) -> Result<Done, Error> {
        self.done(self.req(Method::DELETE, &format!("/api-keys/{}", seg(id)))).await
    }

    // ---- activity, incidents

    /// `GET /activity`: one page, newest first.
    pub async fn activity(&self, q: &ActivityQuery) -> Result<Reply<Vec<ActivityView>>, Error> {
        self.data(self.get("/activity").query(q)).await
    }

    /// `GET /admin/incidents` (platform admin): one page.
    pub async fn incidents(&self, q: &IncidentQuery) -> Result<Reply<Vec<IncidentView>>, Error> {
        self.data(self.get("/admin/incidents").query(q)).await
    }

    pub async fn resolve_incident(&self, id: &str) -> Result<Reply<IncidentView>, Error> {
        self.data(self.req(Method::POST, &format!("/admin/incidents/{}/resolve", seg(id)))).await
    }

    // ---- hosts (platform admin)

    /// `GET /admin/hosts`.
    pub async fn hosts(&self) -> Result<Reply<Vec<HostView>>, Error> {
        self.data(self.get("/admin/hosts")).await
    }

    /// `POST /admin/hosts/{id}/{cordon|uncordon|drain}`.
    pub async fn host_action(&self, id: &str, action: &str) -> Result<Reply<HostView>, Error> {
        self.data(self.req(Method::POST, &format!("/admin/hosts/{}/{}", seg(id), seg(action)))).await
    }

    /// `POST /admin/databases/{id}/move` (`{host_id}`): 202 with the move's operation.
    pub async fn move_database(&self, id: &str, host_id: &str) -> Result<Reply<DatabaseView>, Error> {
        let body = crate::wire::MoveDatabase { host_id: host_id.to_owned() };
        self.data(self.req(Method::POST, &format!("/admin/databases/{}/move", seg(id))).json(&body)).await
    }

    /// `DELETE /admin/hosts/{id}` (only a host that holds no database).
    pub async fn remove_host(&self, id: &str) -> Result<Done, Error> {
        self.done(self.req(Method::DELETE, &format!("/admin/hosts/{}", seg(id)))).await
    }
}

/// The lifecycle actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Stop,
    Start,
    Restart,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Stop => "stop",
            Lifecycle::Start => "start",
            Lifecycle::Restart => "restart",
        }
    }
}

//! RELOAD on a host's PgBouncer, checked, and undone when it does not take.

use std::path::Path;

use crate::host::{write_atomically, HostConn, HostError};
use crate::pgbouncer::HBA_FILE;

/// `SHOW CONFIG` as (key, value) pairs.
pub async fn show_config(admin: &tokio_postgres::Client) -> Result<Vec<(String, String)>, HostError> {
    let mut out = Vec::new();
    for msg in admin.simple_query("SHOW CONFIG").await? {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
            if let (Some(k), Some(v)) = (row.get("key"), row.get("value")) {
                out.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    Ok(out)
}

impl HostConn {
    /// RELOAD, then check PgBouncer enforces our HBA file: `auth_type` is `hba` and
    /// `auth_hba_file` is the file we render. (PgBouncer 1.18 cannot show the rules it
    /// loaded; what we render is validated line by line before it is swapped in, because
    /// PgBouncer skips a line it cannot parse.)
    pub(crate) async fn reload_checked(&self, admin: &tokio_postgres::Client, dir: &Path) -> Result<(), HostError> {
        admin.simple_query("RELOAD").await?;
        let config = show_config(admin).await?;
        let get = |k: &str| config.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let want = dir.join(HBA_FILE);
        if get("auth_type") != Some("hba") || get("auth_hba_file").map(Path::new) != Some(want.as_path()) {
            return Err(HostError::Transient(format!(
                "pgbouncer does not enforce {} (auth_type {:?}, auth_hba_file {:?})",
                want.display(),
                get("auth_type"),
                get("auth_hba_file")
            )));
        }
        Ok(())
    }

    /// Puts the previous HBA file back and reloads: a reload that did not take must not leave
    /// a half-applied file for PgBouncer's next reload to pick up. The caller opens the
    /// incident ([`HostError::ReloadNotTaken`]).
    pub(crate) async fn restore_hba(&self, dir: &Path, previous: Option<Vec<u8>>) {
        if let Some(previous) = previous {
            if let Err(e) = write_atomically(dir, HBA_FILE, &previous, 0o600).await {
                tracing::error!(error = %e, "could not restore the previous hba file");
            } else if let Ok(admin) = self.admin().await {
                let _ = admin.simple_query("RELOAD").await;
            }
        }
    }
}

//! A plain-SQL dump of a database streamed to its requester (owner, admin): `pg_dump` as the
//! database's owner role (`hostctl::dump_stream`), `--schema-only` for `ddl_only`. At most
//! `limits.dumps_at_once` run in this process at once (past it: `RATE_LIMITED`), each ends
//! by `limits.dump_deadline_secs`; a `DatabaseDumped` event (`database.dump`) records who
//! took one once it started.

use std::time::Duration;

use bytes::Bytes;
use domain::{DatabaseName, TenantSqlCommand};
use eventstore::Metadata;
use futures::StreamExt;
use hostctl::bins::PgBins;
use hostctl::dump_stream::{self, DumpStream};
use hostctl::tenant::{child_target, SessionLimits};

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::Error;
use crate::inspect::host_error;
use crate::owner_login::owner_login;
use crate::tenant_sql::record;
use crate::Control;

/// How long a client told to wait for a dump slot waits.
const BUSY_RETRY: Duration = Duration::from_secs(5);

/// A dump under way: its first block, read before answering, and the rest. Dropping `rest`
/// stops pg_dump; a failure after the first block is an error item that ends it.
pub struct Dump {
    pub database: DatabaseName,
    pub first: Bytes,
    pub rest: DumpStream,
}

fn pg_bins() -> Result<&'static PgBins, Error> {
    static BINS: std::sync::OnceLock<Option<PgBins>> = std::sync::OnceLock::new();
    BINS.get_or_init(|| {
        PgBins::find().map_err(|e| tracing::warn!(error = %e, "no PostgreSQL client tools for dumps")).ok()
    })
    .as_ref()
    .ok_or_else(|| Error::Unavailable("pg_dump is not available on this server".into()))
}

pub async fn dump(ctx: &Control, caller: &Caller, id: &str, ddl_only: bool, meta: Metadata) -> Result<Dump, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "SQL dumps over HTTP")?;
    let (host, login) = owner_login(ctx, &db, "it can be dumped").await?;
    let permit = ctx.dumps.clone().try_acquire_owned().map_err(|_| Error::RateLimited(BUSY_RETRY))?;
    let bins = pg_bins()?;
    let deadline = Duration::from_secs(ctx.settings.limits.dump_deadline_secs.max(1));
    let target =
        child_target(&host, db.name.as_str(), &login, SessionLimits::job(deadline)).map_err(|e| host_error(&e))?;
    let (first, rest) = dump_stream::start(bins, &target, ddl_only, deadline).await.map_err(|e| host_error(&e))?;
    record(ctx, &TenantSqlCommand::RecordDump { database_id: db.id, ddl_only }, &meta).await?;
    // The slot is held for as long as the stream lives.
    let rest = rest.map(move |block| {
        let _slot = &permit;
        block
    });
    Ok(Dump { database: db.name, first, rest: Box::pin(rest) })
}

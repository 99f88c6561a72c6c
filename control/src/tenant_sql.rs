//! Recording what a user had run in their database (a migration, a dump) as an event of its
//! own stream (`domain::tenant_sql`), for the activity log.

use domain::{StreamId, TenantSql, TenantSqlCommand};
use eventstore::Metadata;

use crate::error::Error;
use crate::Control;

pub(crate) async fn record(ctx: &Control, command: &TenantSqlCommand, meta: &Metadata) -> Result<(), Error> {
    let stream = StreamId::tenant_sql(uuid::Uuid::now_v7());
    match ctx.store.execute_new::<TenantSql>(stream.as_str(), command, meta, &[]).await? {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::internal(e)),
    }
}

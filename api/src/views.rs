//! The published bodies (`wire`) built from the store's rows. The types live in `wire`, which
//! clients share; how a row becomes one lives here, next to the rows.

use domain::DatabaseState;
use eventstore::queries::{ActivityRow, DatabaseRow, OperationRow};
pub use wire::{
    ActivityView, ActorView, BackupView, CreatedDatabase, Credentials, Data, DatabaseDetail, DatabaseView,
    OperationView, Page, ResourceView,
};

use control::authz::DbRole;

pub fn database_view(db: &DatabaseRow, role: DbRole) -> DatabaseView {
    DatabaseView {
        id: db.id.to_string(),
        name: db.name.to_string(),
        engine: db.engine.as_str().into(),
        // A lock is not a lifecycle state: a locked running database is shown as `locked`
        // (a stopped one stays `stopped`), with its reason.
        state: match (db.locked_reason, db.state) {
            (Some(_), DatabaseState::Running) => "locked".into(),
            (_, state) => state.as_str().into(),
        },
        locked_reason: db.locked_reason.map(|r| r.as_str().into()),
        available: db.available,
        role,
        host: db.host.clone(),
        port: db.port,
        size_bytes: db.size_bytes,
        created_at: db.created_at,
        operation_id: db.operation_id.map(|o| o.to_string()),
    }
}

/// A database just made (created, restored, branched): 201 when it runs, else 202 with its
/// operation to follow.
pub fn created_view(c: control::databases::Created) -> (actix_web::http::StatusCode, CreatedDatabase) {
    let mut database = database_view(&c.database, DbRole::Owner);
    database.operation_id = Some(c.operation_id.to_string());
    let status = if c.ready { actix_web::http::StatusCode::CREATED } else { actix_web::http::StatusCode::ACCEPTED };
    let body = CreatedDatabase {
        username: c.database.name.to_string(),
        password: c.password,
        connection_string: c.connection_string,
        database,
    };
    (status, body)
}

pub fn credentials_view(c: control::lifecycle::Credentials, operation: Option<domain::OperationId>) -> Credentials {
    Credentials {
        username: c.username,
        password: c.password,
        connection_string: c.connection_string,
        operation_id: operation.map(|o| o.to_string()),
    }
}

pub fn operation_view(o: OperationRow) -> OperationView {
    OperationView {
        id: o.id.to_string(),
        kind: o.kind.as_str().into(),
        state: o.state.as_str().into(),
        attempts: o.attempts,
        error: o.error,
        database_id: o.database_id.to_string(),
        created_at: o.created_at,
        finished_at: o.finished_at,
    }
}

pub fn activity_view(a: ActivityRow) -> ActivityView {
    let resource_id = match a.resource_type.as_str() {
        "database" => domain::DatabaseId(a.resource_id).to_string(),
        "api_key" => domain::ApiKeyId(a.resource_id).to_string(),
        "backup" => domain::BackupId(a.resource_id).to_string(),
        _ => domain::AccountId(a.resource_id).to_string(),
    };
    ActivityView {
        id: domain::EventId(a.event_id).to_string(),
        at: a.at,
        actor: ActorView {
            user_id: a.actor_user_id.map(|u| u.to_string()),
            api_key_id: a.actor_api_key_id.map(|k| k.to_string()),
        },
        action: a.action,
        resource: ResourceView { kind: a.resource_type, id: resource_id, name: a.resource_name },
        details: a.details,
    }
}

pub fn backup_view(b: eventstore::backups::BackupRow) -> BackupView {
    BackupView {
        id: b.id.to_string(),
        database_id: b.database_id.to_string(),
        state: b.state.as_str().into(),
        trigger: b.trigger.as_str().into(),
        label: b.label,
        object_key: b.object_key,
        size_bytes: b.size_bytes,
        sha256: b.sha256,
        created_at: b.created_at,
        started_at: b.started_at,
        finished_at: b.finished_at,
        scheduled_for: b.scheduled_for,
        error: b.error,
        verified_at: b.verified_at,
        verified_ok: b.verified_ok,
        operation_id: b.operation_id.to_string(),
    }
}

pub fn rule_view(r: eventstore::allowlists::RuleRow) -> wire::RuleView {
    wire::RuleView {
        id: r.id.to_string(),
        cidr: r.cidr,
        label: r.label,
        expires_at: r.expires_at,
        open_to_all: r.open_to_all,
        created_at: r.created_at,
    }
}

pub fn user_view(u: eventstore::dbusers::UserRow) -> wire::UserView {
    wire::UserView { name: u.name, username: u.role_name, state: u.state.as_str().into(), created_at: u.created_at }
}

/// A host as admins see it: unreachable when the watchdog last found it so, else its
/// placement state.
pub fn host_view(h: eventstore::hosts::HostListing) -> wire::HostView {
    let reachable = h.status.as_ref().is_none_or(|s| s.reachable);
    wire::HostView {
        id: h.host.id.to_string(),
        name: h.host.name,
        engine: h.host.engine.as_str().into(),
        region: h.host.region,
        state: if reachable { h.host.state.as_str().into() } else { "unreachable".into() },
        capacity: h.capacity,
        databases: h.databases,
        free_bytes: h.status.as_ref().and_then(|s| s.free_bytes),
        version: h.status.as_ref().and_then(|s| s.version.clone()),
        last_seen_at: h.status.and_then(|s| s.last_seen_at),
    }
}

pub fn incident_view(i: eventstore::incidents::IncidentRow) -> wire::IncidentView {
    wire::IncidentView {
        id: domain::IncidentId(i.id).to_string(),
        kind: i.kind,
        severity: i.severity,
        state: i.state,
        resource: wire::IncidentResource { kind: i.resource_type, id: i.resource_id },
        summary: i.summary,
        first_seen_at: i.first_seen_at,
        last_seen_at: i.last_seen_at,
        occurrences: i.occurrences,
        resolved_at: i.resolved_at,
    }
}

pub fn quotas_view(q: domain::Quotas) -> wire::QuotasView {
    wire::QuotasView {
        databases: q.databases,
        storage_mb: q.storage_mb,
        connection_limit: q.connection_limit,
        database_users: q.database_users as u64,
        server_connections: q.server_connections,
        temp_file_limit_mb: q.temp_file_limit_mb,
    }
}

pub fn query_log_view(q: eventstore::sql::QueryLogRow) -> wire::QueryLogView {
    wire::QueryLogView {
        id: q.id.to_string(),
        at: q.at,
        actor: ActorView {
            user_id: q.actor_user_id.map(|u| u.to_string()),
            api_key_id: q.actor_api_key_id.map(|k| k.to_string()),
        },
        source: q.source.as_str().to_owned(),
        fingerprint: q.fingerprint,
        statement: q.statement,
        command: q.command,
        duration_ms: q.duration_ms,
        row_count: q.row_count,
        error: q.error,
        data_key_id: q.data_key_id,
        subject: q.subject,
    }
}

pub fn approval_view(a: eventstore::sql::ApprovalRow) -> wire::ApprovalView {
    wire::ApprovalView {
        id: a.id.to_string(),
        statement: a.statement,
        kinds: a.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        requested_by: a.requested_by.to_string(),
        requested_at: a.requested_at,
        expires_at: a.expires_at,
        state: a.state.as_str().to_owned(),
        decided_by: a.decided_by.map(|u| u.to_string()),
        decided_at: a.decided_at,
        result: a.result.map(|r| wire::ApprovalResultView {
            command: r.command,
            row_count: r.row_count,
            error: r.error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use domain::{AccountId, DatabaseId, DatabaseName, Engine, HostId, LockReason};

    use super::*;

    fn row(state: DatabaseState, locked_reason: Option<LockReason>) -> DatabaseRow {
        DatabaseRow {
            id: DatabaseId::new(),
            account_id: AccountId::new(),
            name: DatabaseName::parse("shop").expect("a name"),
            engine: Engine::Postgres,
            state,
            host_id: HostId::new(),
            host: "127.0.0.1".into(),
            port: 6432,
            operation_id: None,
            size_bytes: 0,
            created_at: chrono::Utc::now(),
            locked_reason,
            available: true,
        }
    }

    #[test]
    fn the_view_spells_the_row_as_the_api_always_has() {
        for state in DatabaseState::ALL {
            let json = serde_json::to_value(database_view(&row(state, None), DbRole::Owner)).expect("serializes");
            assert_eq!(json["state"], state.as_str());
            assert_eq!((&json["name"], &json["engine"]), (&"shop".into(), &"postgres".into()));
            assert!(json["locked_reason"].is_null(), "{json}");
        }
        let locked = |state| {
            let json = serde_json::to_value(database_view(&row(state, Some(LockReason::StorageQuota)), DbRole::Owner));
            let json = json.expect("serializes");
            assert_eq!(json["locked_reason"], "storage_quota");
            json["state"].as_str().expect("a state").to_owned()
        };
        assert_eq!(locked(DatabaseState::Running), "locked");
        assert_eq!(locked(DatabaseState::Stopped), "stopped");
    }
}

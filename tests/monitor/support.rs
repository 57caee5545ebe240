//! Monitoring test helpers: tenants made with raw SQL (a stand-in for the
//! provisioning path, which the integrator will switch to), and sessions
//! connected as a tenant's role.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use tenantctl::config::{Dur, MonitoringConfig, Thresholds};
use tenantctl::db::Db;
use tenantctl::domain::metrics::MonitoredTenant;
use tenantctl::domain::tenant::{TenantStatus, object_name};
use uuid::Uuid;

use crate::common::cluster;

/// A tenant row, its role (LOGIN, search_path = its schema), its schema and
/// two tables (`trades` with a `timestamp` column, `positions`) owned by the role.
pub async fn create_tenant(db: &Db, name: &str) -> MonitoredTenant {
    create_tenant_with(db, name, -1, None).await
}

pub async fn create_tenant_with(
    db: &Db,
    name: &str,
    connection_limit: i32,
    quota: Option<i64>,
) -> MonitoredTenant {
    let id = Uuid::new_v4();
    let obj = object_name(&id);
    let domain = format!("{}.example.test", id.simple());
    let client = db.client().await.expect("client");
    client
        .execute(
            &format!(
                "INSERT INTO {}.tenants (id, name, domain, schema_name, role_name, status, template,
                     connection_limit, storage_quota_bytes, created_by)
                 VALUES ($1, $2, $3, $4, $4, 'active', 'default', $5, $6, 'test')",
                db.q_schema()
            ),
            &[&id, &name, &domain, &obj, &connection_limit, &quota],
        )
        .await
        .expect("insert tenant row");
    // A least-privilege operator must be a member of the role to create its
    // schema and SET ROLE to it: plainly up to 15; from 16 it holds ADMIN
    // OPTION on the role it created and grants itself SET.
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, rolsuper
             FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .expect("operator");
    let (version, superuser): (i32, bool) = (row.get(0), row.get(1));
    let membership = if superuser {
        String::new()
    } else if version >= 160_000 {
        // As provisioning grants it (`provision::roles::create`).
        format!("GRANT {obj} TO CURRENT_USER WITH INHERIT TRUE, SET TRUE;")
    } else {
        format!("GRANT {obj} TO CURRENT_USER;")
    };
    client
        .batch_execute(&format!(
            "CREATE ROLE {obj} LOGIN;
             ALTER ROLE {obj} SET search_path = {obj};
             {membership}
             CREATE SCHEMA {obj} AUTHORIZATION {obj};
             SET ROLE {obj};
             REVOKE ALL ON SCHEMA {obj} FROM PUBLIC;
             CREATE TABLE {obj}.trades (id bigserial PRIMARY KEY, symbol text NOT NULL,
                 qty integer NOT NULL, price numeric NOT NULL, \"timestamp\" timestamptz NOT NULL DEFAULT now());
             CREATE INDEX trades_timestamp ON {obj}.trades (\"timestamp\");
             CREATE TABLE {obj}.positions (id bigserial PRIMARY KEY, symbol text NOT NULL, qty integer NOT NULL);
             RESET ROLE;"
        ))
        .await
        .expect("create tenant objects");
    MonitoredTenant {
        id,
        name: name.to_string(),
        domain,
        schema_name: obj.clone(),
        role_name: obj,
        status: TenantStatus::Active,
        connection_limit,
        storage_quota_bytes: quota.and_then(|q| u64::try_from(q).ok()),
        template_version: 1,
        latest_template_version: None,
        expected_tables: Arc::from(["trades".to_string(), "positions".to_string()]),
        expected_indexes: Arc::from(["trades_timestamp".to_string()]),
        reference: None,
        created_at: None,
    }
}

/// A connection as the tenant's role (the local cluster trusts local logins).
/// The tenant's template also expects `table` (which the schema lacks: drift).
pub fn expect_table(t: &mut MonitoredTenant, table: &str) {
    t.expected_tables = t
        .expected_tables
        .iter()
        .cloned()
        .chain([table.to_string()])
        .collect();
}

pub async fn connect_as(db: &Db, role: &str) -> tokio_postgres::Client {
    let conninfo = cluster().conninfo_as(&db.params.dbname, role);
    let (client, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .expect("connect as tenant");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Make this session's table statistics visible to others now. PostgreSQL
/// 15+ flushes on request; 14 sends them to its statistics collector at
/// most every 500 ms, when the session goes idle: wait that out, then
/// give the collector a moment.
pub async fn flush_stats(client: &tokio_postgres::Client) {
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .expect("server version")
        .get(0);
    if version >= 150_000 {
        client
            .batch_execute("SELECT pg_stat_force_next_flush()")
            .await
            .expect("force flush");
        client.batch_execute("SELECT 1").await.expect("round trip");
    } else {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        client.batch_execute("SELECT 1").await.expect("round trip");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// Monitoring settings for tests: short timeouts, a generous sweep.
pub fn monitoring() -> MonitoringConfig {
    MonitoringConfig {
        interval: Dur(Duration::from_millis(500)),
        history: Dur(Duration::from_secs(60)),
        query_timeout: Dur(Duration::from_secs(2)),
        exact_sweep_budget: Dur(Duration::from_millis(500)),
        exact_sweep_batch: 50,
        record_usage: false,
        ..MonitoringConfig::default()
    }
}

pub fn thresholds() -> Thresholds {
    Thresholds::default()
}

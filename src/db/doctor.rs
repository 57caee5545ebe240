//! `tenantctl doctor`: what a console needs from a cluster, each check with a
//! status and a one-line fix.

use std::time::Instant;

use serde::Serialize;

use super::{Db, migrate, pg_error};
use crate::config::TimescaleMode;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do, when the status is not ok.
    pub fix: Option<String>,
}

fn check(
    name: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

/// Run every check. Connection failure is reported by the caller, since there
/// is nothing to check without one.
pub async fn run(db: &Db, timescale: TimescaleMode) -> Result<Vec<Check>> {
    let client = db.client().await?;
    let mut out = Vec::new();

    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the server version"))?;
    let (version, num): (String, i32) = (row.get(0), row.get(1));
    out.push(if num >= 140_000 {
        check(
            "server",
            Status::Ok,
            format!("PostgreSQL {version} at {}", db.params.describe()),
            None,
        )
    } else {
        check(
            "server",
            Status::Warn,
            format!("PostgreSQL {version} is older than 14"),
            Some("upgrade the server to PostgreSQL 14 or newer"),
        )
    });

    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        client
            .query_one("SELECT 1", &[])
            .await
            .map_err(|e| pg_error(&e, "round trip failed"))?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let ms = median.as_secs_f64() * 1000.0;
    out.push(if ms < 50.0 {
        check(
            "latency",
            Status::Ok,
            format!("round trip {ms:.2} ms (median of 5)"),
            None,
        )
    } else {
        check(
            "latency",
            Status::Warn,
            format!("round trip {ms:.1} ms (median of 5)"),
            Some("run tenantctl closer to the database; the console stays usable but slower"),
        )
    });

    let row = client
        .query_one(
            "SELECT r.rolsuper, r.rolcreaterole,
                    pg_has_role(current_user, 'pg_read_all_stats', 'member'),
                    has_database_privilege(current_database(), 'CREATE'),
                    current_user
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the role's privileges"))?;
    let (sup, createrole, stats, create_db, user): (bool, bool, bool, bool, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    if sup {
        out.push(check(
            "privileges",
            Status::Ok,
            format!("{user} is a superuser"),
            None,
        ));
    } else {
        out.push(if createrole && create_db {
            check("privileges", Status::Ok, format!("{user} has CREATEROLE and CREATE on the database"), None)
        } else {
            check(
                "privileges",
                Status::Fail,
                format!("{user} lacks {}", [(!createrole).then_some("CREATEROLE"), (!create_db).then_some("CREATE on the database")].into_iter().flatten().collect::<Vec<_>>().join(" and ")),
                Some("ALTER ROLE ... CREATEROLE and GRANT CREATE ON DATABASE ... TO the console role, or use read-only mode"),
            )
        });
        out.push(if stats {
            check(
                "stats access",
                Status::Ok,
                format!("{user} is a member of pg_read_all_stats"),
                None,
            )
        } else {
            check(
                "stats access",
                Status::Warn,
                "other roles' sessions and statements are hidden",
                Some("GRANT pg_read_all_stats TO the console role"),
            )
        });
    }

    let exts = client
        .query(
            "SELECT e.extname, e.extversion FROM pg_extension e WHERE e.extname IN ('pg_stat_statements', 'timescaledb', 'citus')",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot list extensions"))?;
    let ext = |name: &str| {
        exts.iter()
            .find(|r| r.get::<_, &str>(0) == name)
            .map(|r| r.get::<_, String>(1))
    };
    let preload: String = client
        .query_one("SELECT current_setting('shared_preload_libraries')", &[])
        .await
        .map_err(|e| pg_error(&e, "cannot read shared_preload_libraries"))?
        .get(0);
    out.push(
        match (
            ext("pg_stat_statements"),
            preload.contains("pg_stat_statements"),
        ) {
            (Some(v), true) => check(
                "pg_stat_statements",
                Status::Ok,
                format!("version {v}, preloaded"),
                None,
            ),
            (Some(v), false) => check(
                "pg_stat_statements",
                Status::Warn,
                format!("version {v} installed but not in shared_preload_libraries"),
                Some("add pg_stat_statements to shared_preload_libraries and restart the server"),
            ),
            (None, _) => check(
                "pg_stat_statements",
                Status::Warn,
                "not installed: per-tenant calls and statement times show n/a",
                Some("CREATE EXTENSION pg_stat_statements (and preload it)"),
            ),
        },
    );
    out.push(match (ext("timescaledb"), timescale) {
        (Some(v), _) => check(
            "timescaledb",
            Status::Ok,
            format!("version {v}: hypertables enabled"),
            None,
        ),
        (None, TimescaleMode::Require) => check(
            "timescaledb",
            Status::Fail,
            "not installed but timescaledb = require",
            Some("CREATE EXTENSION timescaledb, or set timescaledb = auto"),
        ),
        (None, _) => check(
            "timescaledb",
            Status::Ok,
            "not installed: templates create plain tables",
            None,
        ),
    });
    out.push(match ext("citus") {
        Some(v) => check("citus", Status::Ok, format!("version {v}"), None),
        None => check("citus", Status::Ok, "not installed", None),
    });
    drop(client);

    out.push(match migrate::installed_version(db).await? {
        None => check(
            "control schema",
            Status::Fail,
            format!("{} not installed", db.schema),
            Some("run tenantctl init"),
        ),
        Some(v) if v == migrate::latest_version() => check(
            "control schema",
            Status::Ok,
            format!("{} at version {v}", db.schema),
            None,
        ),
        Some(v) if v < migrate::latest_version() => check(
            "control schema",
            Status::Warn,
            format!(
                "{} at version {v}, this tenantctl has {}",
                db.schema,
                migrate::latest_version()
            ),
            Some("run tenantctl init to upgrade"),
        ),
        Some(v) => check(
            "control schema",
            Status::Fail,
            format!("{} at version {v}, newer than this tenantctl", db.schema),
            Some("upgrade tenantctl"),
        ),
    });
    Ok(out)
}

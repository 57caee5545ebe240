//! `tenantctl doctor`: what a console needs from a cluster, each check with a
//! status and a one-line fix.

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use super::{Db, harden, migrate, pg_error, quote_ident};
use crate::config::TimescaleMode;
use crate::error::{Error, Result};

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

/// Oldest and newest server major versions tenantctl supports and tests.
pub const MIN_SERVER: i32 = 14;
pub const MAX_TESTED_SERVER: i32 = 18;

/// What doctor needs besides the connection.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub timescale: TimescaleMode,
    /// The shared application role tenants are granted to, when configured.
    pub app_role: Option<String>,
    /// A read-only session proves nothing by trying (no probe transaction).
    pub read_only: bool,
}

/// Refuse a server older than PostgreSQL 14, in one sentence.
pub fn ensure_supported(version: &str, version_num: i32) -> Result<()> {
    if version_num / 10_000 < MIN_SERVER {
        return Err(Error::refused(format!(
            "PostgreSQL {version} is not supported: tenantctl needs PostgreSQL {MIN_SERVER} or newer (tested on {MIN_SERVER} to {MAX_TESTED_SERVER}); upgrade the server"
        )));
    }
    Ok(())
}

/// The server's version string and number. One round trip.
pub async fn server_version(db: &Db) -> Result<(String, i32)> {
    let client = db.client().await?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the server version"))?;
    Ok((row.get(0), row.get(1)))
}

/// Run every check with default options (no application role).
pub async fn run(db: &Db, timescale: TimescaleMode) -> Result<Vec<Check>> {
    run_with(
        db,
        &Options {
            timescale,
            ..Options::default()
        },
    )
    .await
}

/// Run every check. Connection failure is reported by the caller, since there
/// is nothing to check without one.
pub async fn run_with(db: &Db, opts: &Options) -> Result<Vec<Check>> {
    let timescale = opts.timescale;
    let client = db.client().await?;
    let mut out = Vec::new();

    let (version, num) = server_version(db).await?;
    if let Err(e) = ensure_supported(&version, num) {
        out.push(check(
            "server",
            Status::Fail,
            e.message,
            Some("upgrade the server to PostgreSQL 14 or newer"),
        ));
        return Ok(out);
    }
    out.push(if num / 10_000 <= MAX_TESTED_SERVER {
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
            format!(
                "PostgreSQL {version} at {} is newer than the versions tenantctl is tested on ({MIN_SERVER} to {MAX_TESTED_SERVER})",
                db.params.describe()
            ),
            Some("check the release notes of tenantctl for support of this server"),
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
            "SELECT r.rolsuper, pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),
                    current_user::text, current_database()::text, pg_is_in_recovery()
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the role's privileges"))?;
    let (sup, stats, user, dbname, standby): (bool, bool, String, String, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    drop(client);
    let who = Who {
        user: quote_ident(&user),
        dbname: quote_ident(&dbname),
        superuser: sup,
        version_num: num,
    };
    if opts.read_only || standby {
        let why = if standby {
            "the server is a standby"
        } else {
            "this session is read-only"
        };
        out.push(check(
            "privileges",
            Status::Warn,
            format!("not proved: {why}, so doctor does not try creating a probe tenant"),
            Some("run doctor in a writable session on the primary"),
        ));
    } else {
        let caps = probe(db, &who, opts.app_role.as_deref()).await?;
        let failed: Vec<&str> = caps
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name)
            .collect();
        out.push(if failed.is_empty() {
            check(
                "privileges",
                Status::Ok,
                if sup {
                    format!("{user} is a superuser; create, suspend and delete proved")
                } else {
                    format!(
                        "{user} is not a superuser; create, suspend and delete proved in a rolled-back transaction"
                    )
                },
                None,
            )
        } else {
            check(
                "privileges",
                Status::Fail,
                format!(
                    "{user} cannot create, suspend or delete tenants: {} failed",
                    failed.join(", ")
                ),
                Some("see the failed checks below for the statement that fixes each"),
            )
        });
        out.extend(caps);
    }
    out.push(if sup || stats {
        check(
            "stats access",
            Status::Ok,
            if sup {
                format!("{user} is a superuser")
            } else {
                format!("{user} has the privileges of pg_read_all_stats")
            },
            None,
        )
    } else {
        check(
            "stats access",
            Status::Warn,
            "other roles' sessions and statements are hidden",
            Some(&format!("GRANT pg_monitor TO {}", who.user)),
        )
    });
    let client = db.client().await?;

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
    if ext("pg_stat_statements").is_some() {
        out.push(stat_reset(&client, &who).await?);
    }
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
    out.extend(isolation(db).await?);
    Ok(out)
}

/// Who is connected, for the statements that fix what is missing.
struct Who {
    /// Quoted role name.
    user: String,
    /// Quoted database name.
    dbname: String,
    superuser: bool,
    version_num: i32,
}

/// One probe step: its check name, what it proves, the SQL, and the fix.
struct Step {
    name: &'static str,
    proves: &'static str,
    sql: String,
    fix: String,
}

/// Prove each capability create, suspend and delete need by doing it to a
/// probe role and schema inside one transaction that is rolled back: create
/// a role, make the operator able to act as it (up to PostgreSQL 15 a
/// CREATEROLE role must be granted the role; from 16 it holds ADMIN OPTION
/// on roles it creates, and SET/INHERIT depend on `createrole_self_grant`),
/// a schema owned by it, `SET ROLE` and a table, the grant to the
/// application role, the role changes of suspend, and the drops of delete.
/// Terminating sessions is checked in the catalog (there is nothing to try
/// it on). Nothing is left behind. Work on the schema runs after `SET ROLE`
/// to its owner: from 16 the operator's membership is `INHERIT FALSE`, so
/// it has none of the owner's privileges without it.
async fn probe(db: &Db, who: &Who, app_role: Option<&str>) -> Result<Vec<Check>> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let role = quote_ident(&format!("tenantctl_probe_{}", &tag[..12]));
    let schema = role.clone();
    let u = &who.user;
    let createrole = format!(
        "ALTER ROLE {u} CREATEROLE (run as a superuser or the provider's administrator role)"
    );
    let membership = if who.superuser {
        None
    } else if who.version_num >= 160_000 {
        Some(format!("GRANT {role} TO {u} WITH INHERIT FALSE, SET TRUE"))
    } else {
        Some(format!("GRANT {role} TO {u}"))
    };
    let mut steps = vec![Step {
        name: "create roles",
        proves: "CREATE ROLE",
        sql: format!("CREATE ROLE {role} NOLOGIN"),
        fix: createrole.clone(),
    }];
    if let Some(sql) = membership {
        steps.push(Step {
            name: "act as tenant roles",
            proves: "granting itself membership in a role it created",
            sql,
            fix: createrole.clone(),
        });
    }
    steps.push(Step {
        name: "create schemas",
        proves: "CREATE SCHEMA ... AUTHORIZATION a tenant role",
        sql: format!("CREATE SCHEMA {schema} AUTHORIZATION {role}"),
        fix: format!("GRANT CREATE ON DATABASE {} TO {u}", who.dbname),
    });
    steps.push(Step {
        name: "set role and create tables",
        proves: "SET ROLE to a tenant role and CREATE TABLE in its schema",
        sql: format!("SET LOCAL ROLE {role}; CREATE TABLE {schema}.probe (id int); RESET ROLE"),
        fix: createrole.clone(),
    });
    if let Some(app) = app_role {
        let app = quote_ident(app);
        steps.push(Step {
            name: "grant to the application role",
            proves: "GRANT a tenant role to app_role",
            sql: format!("GRANT {role} TO {app}"),
            fix: format!("{createrole}; the role {app} must exist"),
        });
    }
    steps.push(Step {
        name: "suspend",
        proves: "ALTER ROLE ... NOLOGIN, its limits and settings, REVOKE on the schema",
        sql: format!(
            "ALTER ROLE {role} NOLOGIN CONNECTION LIMIT 1; ALTER ROLE {role} SET statement_timeout = '1s'; SET LOCAL ROLE {role}; REVOKE USAGE ON SCHEMA {schema} FROM PUBLIC; RESET ROLE"
        ),
        fix: createrole.clone(),
    });
    steps.push(Step {
        name: "delete",
        proves: "DROP SCHEMA ... CASCADE and DROP ROLE",
        sql: format!(
            "SET LOCAL ROLE {role}; DROP SCHEMA {schema} CASCADE; RESET ROLE; DROP ROLE {role}"
        ),
        fix: createrole,
    });

    let mut client = db.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e, "cannot begin the probe transaction"))?;
    tx.batch_execute("SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '15s'")
        .await
        .map_err(|e| pg_error(&e, "cannot set the probe's timeouts"))?;
    let mut out = Vec::new();
    let mut broken: Option<&'static str> = None;
    for step in steps {
        if let Some(first) = broken {
            out.push(check(
                step.name,
                Status::Fail,
                format!("not tried: {first} failed first"),
                Some(&step.fix),
            ));
            continue;
        }
        tx.batch_execute("SAVEPOINT tenantctl_probe")
            .await
            .map_err(|e| pg_error(&e, "probe savepoint failed"))?;
        match tx.batch_execute(&step.sql).await {
            Ok(()) => out.push(check(
                step.name,
                Status::Ok,
                format!("proved: {}", step.proves),
                None,
            )),
            Err(e) => {
                let msg = crate::domain::sanitize::clean(&pg_error(&e, step.proves).message);
                out.push(check(step.name, Status::Fail, msg, Some(&step.fix)));
                tx.batch_execute("ROLLBACK TO SAVEPOINT tenantctl_probe")
                    .await
                    .map_err(|e| pg_error(&e, "probe rollback failed"))?;
                broken = Some(step.name);
            }
        }
    }
    let row = tx
        .query_one(
            "SELECT pg_has_role(current_user, 'pg_signal_backend', 'USAGE')",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read pg_signal_backend membership"))?;
    let signal: bool = row.get(0);
    tx.rollback()
        .await
        .map_err(|e| pg_error(&e, "cannot roll the probe back"))?;
    out.push(if who.superuser || signal {
        check(
            "terminate sessions",
            Status::Ok,
            if who.superuser {
                "superuser".to_string()
            } else {
                "has the privileges of pg_signal_backend".to_string()
            },
            None,
        )
    } else {
        check(
            "terminate sessions",
            Status::Fail,
            "suspend cannot end the tenant's sessions without pg_signal_backend",
            Some(&format!("GRANT pg_signal_backend TO {u}")),
        )
    });
    Ok(out)
}

/// Resetting pg_stat_statements is optional and needs a superuser unless granted.
async fn stat_reset(client: &deadpool_postgres::Object, who: &Who) -> Result<Check> {
    let rows = client
        .query(
            "SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
                    has_function_privilege(p.oid, 'EXECUTE')
             FROM pg_extension e
             JOIN pg_proc p ON p.pronamespace = e.extnamespace AND p.proname = 'pg_stat_statements_reset'
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE e.extname = 'pg_stat_statements'
             ORDER BY p.pronargs DESC",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read pg_stat_statements_reset privileges"))?;
    Ok(match rows.first() {
        Some(r) if r.get::<_, bool>(1) => check(
            "statement stats reset",
            Status::Ok,
            "may reset pg_stat_statements",
            None,
        ),
        Some(r) => check(
            "statement stats reset",
            Status::Warn,
            "resetting pg_stat_statements needs a superuser; everything else works without it",
            Some(&format!(
                "GRANT EXECUTE ON FUNCTION {} TO {} (as a superuser), if you want resets",
                r.get::<_, String>(0),
                who.user
            )),
        ),
        None => check(
            "statement stats reset",
            Status::Warn,
            "pg_stat_statements_reset not found",
            None,
        ),
    })
}

/// Most statements shown in one doctor line before "and N more".
const SHOWN: usize = 3;

/// What weakens isolation on this cluster, from the harden plan, one check
/// per kind, plus schema `public` in the other databases it can reach.
async fn isolation(db: &Db) -> Result<Vec<Check>> {
    use harden::Kind;
    let plan = harden::plan(db).await?;
    let mut out = Vec::new();
    for (kind, name, clean) in [
        (
            Kind::OtherDatabase,
            "isolation: other databases",
            "PUBLIC may connect to no other database",
        ),
        (
            Kind::Temp,
            "isolation: temporary tables",
            "PUBLIC may not create temporary tables here",
        ),
        (
            Kind::PublicSchema,
            "isolation: schema public",
            "PUBLIC may not create in schema public here",
        ),
        (
            Kind::LargeObjects,
            "isolation: large objects",
            "PUBLIC may not execute the server-side large-object functions",
        ),
        (
            Kind::PgStatStatements,
            "isolation: pg_stat_statements",
            "PUBLIC may not read pg_stat_statements",
        ),
        (
            Kind::LoCompatPrivileges,
            "isolation: lo_compat_privileges",
            "lo_compat_privileges is off",
        ),
    ] {
        let found: Vec<&harden::Change> = plan.iter().filter(|c| c.kind == kind).collect();
        if found.is_empty() {
            out.push(check(name, Status::Ok, clean, None));
            continue;
        }
        let detail = if found.len() == 1 {
            found[0].finding.clone()
        } else {
            format!(
                "{} (and {} more like it)",
                found[0].finding,
                found.len() - 1
            )
        };
        let statements: Vec<String> = found
            .iter()
            .flat_map(|c| {
                let stmts = c.statements.join("; ");
                match &c.not_permitted {
                    Some(why) => vec![format!("{stmts} ({why})")],
                    None => vec![stmts],
                }
            })
            .collect();
        let mut fix = statements
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if statements.len() > SHOWN {
            let _ = write!(fix, "; and {} more", statements.len() - SHOWN);
        }
        fix.push_str(" — `tenantctl harden` applies what this role may");
        out.push(check(name, Status::Warn, detail, Some(&fix)));
    }
    out.push(other_public_schemas(db).await?);
    Ok(out)
}

/// At most this many other databases are connected to for schema `public`.
const OTHER_DBS: usize = 20;

/// CREATE on schema `public` for PUBLIC in the other databases, by
/// connecting to each (as the same role) that PUBLIC or the role may reach.
async fn other_public_schemas(db: &Db) -> Result<Check> {
    let client = db.client().await?;
    let names: Vec<String> = client
        .query(
            "SELECT datname::text FROM pg_database
             WHERE datallowconn AND datname <> current_database()
               AND has_database_privilege(oid, 'CONNECT')
             ORDER BY datname",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot list databases"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    drop(client);
    let mut open = Vec::new();
    let mut unreachable = 0usize;
    for name in names.iter().take(OTHER_DBS) {
        let mut params = db.params.clone();
        params.dbname.clone_from(name);
        let pg = params.to_pg_config(super::connect::APPLICATION_NAME);
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            pg.connect(db.tls.clone()),
        )
        .await;
        let Ok(Ok((c, conn))) = conn else {
            unreachable += 1;
            continue;
        };
        let driver = tokio::spawn(conn);
        let create = c
            .query_opt(
                "SELECT has_schema_privilege('public', n.oid, 'CREATE')
                 FROM pg_namespace n WHERE n.nspname = 'public'",
                &[],
            )
            .await
            .ok()
            .flatten()
            .is_some_and(|r| r.get::<_, bool>(0));
        drop(c);
        let _ = driver.await;
        if create {
            open.push(quote_ident(name));
        }
    }
    let mut note = String::new();
    if names.len() > OTHER_DBS {
        note = format!(" ({OTHER_DBS} of {} other databases checked)", names.len());
    }
    if unreachable > 0 {
        let _ = write!(note, " ({unreachable} could not be reached)");
    }
    Ok(if open.is_empty() {
        check(
            "isolation: public in other databases",
            Status::Ok,
            format!("PUBLIC may not create in schema public of the other databases{note}"),
            None,
        )
    } else {
        let shown: Vec<String> = open.iter().take(SHOWN).cloned().collect();
        check(
            "isolation: public in other databases",
            Status::Warn,
            format!(
                "PUBLIC may create in schema public of {} other database(s): {}{}{note}",
                open.len(),
                shown.join(", "),
                if open.len() > SHOWN { ", …" } else { "" }
            ),
            Some("in each of them, as its owner: REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        )
    })
}

//! `tenantctl harden`: close what weakens tenant isolation on this cluster.
//!
//! The plan is read from the catalog: `PUBLIC` holding CONNECT on other
//! databases or TEMP anywhere, EXECUTE on the server-side large-object
//! functions, SELECT on `pg_stat_statements` (view and function; granted to
//! the operator first), CREATE on schema `public` here, and
//! `lo_compat_privileges` on. Each finding is one change of one or two
//! statements; where the operator may not make it (not the owner, not a
//! superuser) the plan says why and `apply` goes on with the next. `doctor`
//! reports the same findings as warnings.

use serde::Serialize;

use super::{Db, pg_error, quote_ident};
use crate::error::Result;

/// Server-side large-object functions (`lo_import`/`lo_export` included;
/// PostgreSQL already keeps those from PUBLIC).
const LO_FUNCTIONS: &[&str] = &[
    "lo_creat",
    "lo_create",
    "lo_open",
    "lo_close",
    "loread",
    "lowrite",
    "lo_lseek",
    "lo_lseek64",
    "lo_tell",
    "lo_tell64",
    "lo_truncate",
    "lo_truncate64",
    "lo_unlink",
    "lo_import",
    "lo_export",
    "lo_from_bytea",
    "lo_get",
    "lo_put",
];

/// What a change is about, for grouping in doctor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// CONNECT (and TEMP) on another database.
    OtherDatabase,
    /// TEMP on this database.
    Temp,
    LargeObjects,
    PgStatStatements,
    PublicSchema,
    LoCompatPrivileges,
}

/// One change the cluster needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: Kind,
    /// What is wrong now, in a few words.
    pub finding: String,
    /// The statements that fix it, in order.
    pub statements: Vec<String>,
    /// Why this operator may not make the change, when it may not.
    pub not_permitted: Option<String>,
}

/// What happened to one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    /// `--dry-run`: shown, not run.
    Planned,
    /// The operator may not make it (see `not_permitted`).
    Skipped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    #[serde(flatten)]
    pub change: Change,
    pub outcome: Outcome,
    /// The server's message when the change failed.
    pub error: Option<String>,
}

/// Read the cluster's state and list the changes it needs. Reads only.
pub async fn plan(db: &Db) -> Result<Vec<Change>> {
    let client = db.client().await?;
    let me = client
        .query_one(
            "SELECT current_user::text, r.rolsuper, current_database()::text,
                    current_setting('server_version_num')::int,
                    current_setting('lo_compat_privileges')::bool
             FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the operator role"))?;
    let (user, superuser, current_db, version, lo_compat): (String, bool, String, i32, bool) =
        (me.get(0), me.get(1), me.get(2), me.get(3), me.get(4));
    let q_user = quote_ident(&user);
    let mut out = Vec::new();

    // Databases: CONNECT elsewhere, TEMP everywhere.
    let rows = client
        .query(
            "SELECT d.datname::text, d.datname = current_database(),
                    pg_catalog.has_database_privilege('public', d.oid, 'CONNECT'),
                    pg_catalog.has_database_privilege('public', d.oid, 'TEMPORARY'),
                    pg_catalog.pg_has_role(current_user, d.datdba, 'USAGE'),
                    pg_catalog.pg_get_userbyid(d.datdba)::text
             FROM pg_catalog.pg_database d
             WHERE d.datallowconn
             ORDER BY d.datname",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read database privileges"))?;
    for r in rows {
        let (name, here, connect, temp, owner, owner_name): (
            String,
            bool,
            bool,
            bool,
            bool,
            String,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        let privs: Vec<&str> = [(!here && connect, "CONNECT"), (temp, "TEMPORARY")]
            .into_iter()
            .filter_map(|(on, p)| on.then_some(p))
            .collect();
        if privs.is_empty() {
            continue;
        }
        let not_permitted = (!superuser && !owner).then(|| {
            format!(
                "only the owner of database {} ({}) or a superuser may change its privileges",
                quote_ident(&name),
                quote_ident(&owner_name)
            )
        });
        out.push(Change {
            kind: if here {
                Kind::Temp
            } else {
                Kind::OtherDatabase
            },
            finding: format!(
                "PUBLIC holds {} on database {}",
                privs.join(" and "),
                quote_ident(&name)
            ),
            statements: vec![format!(
                "REVOKE {} ON DATABASE {} FROM PUBLIC",
                privs.join(", "),
                quote_ident(&name)
            )],
            not_permitted,
        });
    }

    // Server-side large-object functions.
    let names: Vec<String> = LO_FUNCTIONS.iter().map(|s| (*s).to_string()).collect();
    let rows = client
        .query(
            "SELECT p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid),
                    pg_catalog.pg_has_role(current_user, p.proowner, 'USAGE')
             FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace
               AND p.proname = ANY($1)
               AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
             ORDER BY 1, 2",
            &[&names],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read large-object function privileges"))?;
    if !rows.is_empty() {
        let owner = rows.iter().all(|r| r.get::<_, bool>(2));
        let sigs: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "pg_catalog.{}({})",
                    quote_ident(r.get::<_, &str>(0)),
                    r.get::<_, &str>(1)
                )
            })
            .collect();
        out.push(Change {
            kind: Kind::LargeObjects,
            finding: format!(
                "PUBLIC may execute {} server-side large-object functions",
                sigs.len()
            ),
            statements: vec![format!(
                "REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC",
                sigs.join(", ")
            )],
            not_permitted: (!superuser && !owner).then(|| {
                "the large-object functions belong to the bootstrap superuser: a superuser must revoke them".to_string()
            }),
        });
    }

    // pg_stat_statements: the view and the function behind it.
    let row = client
        .query_opt(
            "SELECT n.nspname::text,
                    pg_catalog.has_table_privilege('public', c.oid, 'SELECT'),
                    pg_catalog.has_function_privilege('public', f.oid, 'EXECUTE'),
                    pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
                        AND pg_catalog.pg_has_role(current_user, f.proowner, 'USAGE'),
                    pg_catalog.pg_get_userbyid(c.relowner)::text
             FROM pg_catalog.pg_extension e
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
             JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = 'pg_stat_statements'
             JOIN pg_catalog.pg_proc f ON f.pronamespace = n.oid AND f.proname = 'pg_stat_statements'
                  AND f.pronargs = 1
             WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read pg_stat_statements privileges"))?;
    if let Some(r) = row {
        let (schema, view, func, owner, owner_name): (String, bool, bool, bool, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        if view || func {
            let s = quote_ident(&schema);
            let mut statements = Vec::new();
            if view {
                statements.push(format!(
                    "GRANT SELECT ON {s}.pg_stat_statements TO {q_user}"
                ));
            }
            if func {
                statements.push(format!(
                    "GRANT EXECUTE ON FUNCTION {s}.pg_stat_statements(boolean) TO {q_user}"
                ));
            }
            if view {
                statements.push(format!(
                    "REVOKE SELECT ON {s}.pg_stat_statements FROM PUBLIC"
                ));
            }
            if func {
                statements.push(format!(
                    "REVOKE EXECUTE ON FUNCTION {s}.pg_stat_statements(boolean) FROM PUBLIC"
                ));
            }
            out.push(Change {
                kind: Kind::PgStatStatements,
                finding: "PUBLIC may read pg_stat_statements (every role's statement counts and times)".to_string(),
                statements,
                not_permitted: (!superuser && !owner).then(|| {
                    format!(
                        "pg_stat_statements belongs to {}: that role or a superuser must change its privileges",
                        quote_ident(&owner_name)
                    )
                }),
            });
        }
    }

    // CREATE on schema public in this database (PostgreSQL 14 grants it).
    let row = client
        .query_opt(
            "SELECT pg_catalog.has_schema_privilege('public', n.oid, 'CREATE'),
                    pg_catalog.pg_has_role(current_user, n.nspowner, 'USAGE'),
                    pg_catalog.pg_get_userbyid(n.nspowner)::text
             FROM pg_catalog.pg_namespace n WHERE n.nspname = 'public'",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the privileges of schema public"))?;
    if let Some(r) = row {
        let (create, owner, owner_name): (bool, bool, String) = (r.get(0), r.get(1), r.get(2));
        if create {
            out.push(Change {
                kind: Kind::PublicSchema,
                finding: format!(
                    "PUBLIC may create objects in schema public of database {}",
                    quote_ident(&current_db)
                ),
                statements: vec!["REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_string()],
                not_permitted: (!superuser && !owner).then(|| {
                    format!(
                        "schema public belongs to {}: that role or a superuser must revoke it",
                        quote_ident(&owner_name)
                    )
                }),
            });
        }
    }

    if lo_compat {
        // PostgreSQL 15 can grant SET on a superuser parameter.
        let may_set = if superuser {
            true
        } else if version >= 150_000 {
            client
                .query_one(
                    "SELECT pg_catalog.has_parameter_privilege('lo_compat_privileges', 'SET')",
                    &[],
                )
                .await
                .map_err(|e| pg_error(&e, "cannot read parameter privileges"))?
                .get(0)
        } else {
            false
        };
        out.push(Change {
            kind: Kind::LoCompatPrivileges,
            finding: "lo_compat_privileges is on: every role may read and write every large object".to_string(),
            statements: vec![format!(
                "ALTER DATABASE {} SET lo_compat_privileges = off",
                quote_ident(&current_db)
            )],
            not_permitted: (!may_set).then(|| {
                "lo_compat_privileges is a superuser setting: a superuser must turn it off (ALTER SYSTEM SET lo_compat_privileges = off)".to_string()
            }),
        });
    }
    Ok(out)
}

/// Plan, then apply every permitted change (each in a transaction of its
/// own), or with `dry_run` only list them. A change that fails is reported
/// and the rest go on.
pub async fn apply(db: &Db, dry_run: bool) -> Result<Vec<Applied>> {
    let changes = plan(db).await?;
    let mut out = Vec::with_capacity(changes.len());
    let mut client = db.client().await?;
    for change in changes {
        let (outcome, error) = if change.not_permitted.is_some() {
            (Outcome::Skipped, None)
        } else if dry_run {
            (Outcome::Planned, None)
        } else {
            let tx = client
                .transaction()
                .await
                .map_err(|e| pg_error(&e, "cannot begin a transaction"))?;
            let mut failed = None;
            for s in &change.statements {
                if let Err(e) = tx.batch_execute(s).await {
                    failed = Some(crate::domain::sanitize::clean(
                        &pg_error(&e, &change.finding).message,
                    ));
                    break;
                }
            }
            match failed {
                Some(msg) => {
                    let _ = tx.rollback().await;
                    (Outcome::Failed, Some(msg))
                }
                None => match tx.commit().await {
                    Ok(()) => (Outcome::Applied, None),
                    Err(e) => (
                        Outcome::Failed,
                        Some(crate::domain::sanitize::clean(
                            &pg_error(&e, &change.finding).message,
                        )),
                    ),
                },
            }
        };
        out.push(Applied {
            change,
            outcome,
            error,
        });
    }
    Ok(out)
}

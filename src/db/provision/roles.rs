//! SQL text for the tenant's roles and schema (DESIGN.md §4): the NOLOGIN
//! owner role that owns everything, the login role the application uses,
//! the limits on the login role, and what suspend, resume and delete change.
//! Every identifier is quoted; every value is a number or a literal we built.
//!
//! The operator is normally not a superuser (managed PostgreSQL). Up to
//! PostgreSQL 15 a CREATEROLE role must be a member of a role to create a
//! schema it owns or to `SET ROLE` to it; from 16 the creator holds ADMIN
//! OPTION but SET and INHERIT depend on `createrole_self_grant`. So the
//! operator grants itself both tenant roles explicitly, in the create
//! transaction; the memberships vanish when the roles are dropped.

use std::fmt::Write as _;
use std::time::Duration;

use deadpool_postgres::GenericClient;

use crate::db::{pg_error, quote_ident, quote_literal};
use crate::error::Result;

/// Table privileges the login role gets on everything the owner creates.
pub const TABLE_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE";
/// Writes taken away while a tenant is over its storage quota.
pub const QUOTA_PRIVILEGES: &str = "INSERT, UPDATE";

/// What the connected role may do, read once per change.
#[derive(Debug, Clone, Copy)]
pub struct Operator {
    pub superuser: bool,
    /// `server_version_num`, e.g. 150004.
    pub version: i32,
    /// Superuser, or `SET` on `temp_file_limit` (PostgreSQL 15+).
    pub can_set_temp_file_limit: bool,
}

/// Read the operator's capabilities: one catalog read.
pub async fn operator(client: &impl GenericClient) -> Result<Operator> {
    let what = "cannot read the operator's privileges";
    let row = client
        .query_one(
            "SELECT r.rolsuper, current_setting('server_version_num')::int
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, what))?;
    let (superuser, version): (bool, i32) = (row.get(0), row.get(1));
    let can_set_temp_file_limit = superuser
        || (version >= 150_000
            && client
                .query_one(
                    "SELECT has_parameter_privilege('temp_file_limit', 'SET')",
                    &[],
                )
                .await
                .map_err(|e| pg_error(&e, what))?
                .get::<_, bool>(0));
    Ok(Operator {
        superuser,
        version,
        can_set_temp_file_limit,
    })
}

/// The limits set on a login role.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub connection_limit: i32,
    pub statement_timeout: Option<Duration>,
    pub idle_in_transaction_timeout: Option<Duration>,
    /// Applied only when the operator may set it.
    pub temp_file_limit: Option<u64>,
}

fn ms(d: Duration) -> String {
    quote_literal(&format!("{}ms", d.as_millis()))
}

/// `ALTER ROLE … SET` for each limit (and `RESET` for those absent when
/// `reset_absent`); the connection limit is part of `CREATE/ALTER ROLE`.
pub fn role_settings(login: &str, l: &Limits, op: &Operator, reset_absent: bool) -> String {
    let r = quote_ident(login);
    let mut sql = String::new();
    let mut set = |name: &str, value: Option<String>| match value {
        Some(v) => {
            let _ = writeln!(sql, "ALTER ROLE {r} SET {name} = {v};");
        }
        None if reset_absent => {
            let _ = writeln!(sql, "ALTER ROLE {r} RESET {name};");
        }
        None => {}
    };
    set("statement_timeout", l.statement_timeout.map(ms));
    set(
        "idle_in_transaction_session_timeout",
        l.idle_in_transaction_timeout.map(ms),
    );
    if op.can_set_temp_file_limit {
        set(
            "temp_file_limit",
            l.temp_file_limit
                .map(|b| quote_literal(&format!("{}kB", (b / 1024).max(1)))),
        );
    }
    sql
}

/// Everything before the template, run as the operator: both roles, the
/// operator's memberships, the login role's limits, the schema owned by
/// the owner and closed to PUBLIC, USAGE for the login role (no CREATE),
/// `public` closed for CREATE, the shared application role granted the
/// login role, and the default privileges that give the login role
/// `TABLE_PRIVILEGES` on every table the owner creates.
///
/// With `tenant_ddl` the login role owns the schema itself (the template
/// opted into tenant DDL) and `owner` is not created.
pub fn create(
    owner: &str,
    login: &str,
    schema: &str,
    limits: &Limits,
    op: &Operator,
    app_role: Option<&str>,
    login_enabled: bool,
) -> String {
    let o = quote_ident(owner);
    let r = quote_ident(login);
    let s = quote_ident(schema);
    let attrs = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS";
    let login_kw = if login_enabled { "LOGIN" } else { "NOLOGIN" };
    let mut sql = String::new();
    if owner != login {
        let _ = writeln!(sql, "CREATE ROLE {o} NOLOGIN NOINHERIT {attrs};");
    }
    let _ = writeln!(
        sql,
        "CREATE ROLE {r} {login_kw} NOINHERIT {attrs} CONNECTION LIMIT {};",
        limits.connection_limit
    );
    if !op.superuser {
        // Up to 15: membership is what lets us create a schema owned by the
        // role, SET ROLE to it and drop what it owns. From 16 we hold ADMIN
        // OPTION and grant ourselves SET and INHERIT explicitly.
        let with = if op.version >= 160_000 {
            " WITH INHERIT TRUE, SET TRUE"
        } else {
            ""
        };
        if owner != login {
            let _ = writeln!(sql, "GRANT {o} TO CURRENT_USER{with};");
        }
        let _ = writeln!(sql, "GRANT {r} TO CURRENT_USER{with};");
    }
    sql.push_str(&role_settings(login, limits, op, false));
    let _ = writeln!(sql, "CREATE SCHEMA {s} AUTHORIZATION {o};");
    let _ = writeln!(sql, "REVOKE ALL ON SCHEMA {s} FROM PUBLIC;");
    if owner != login {
        let _ = writeln!(sql, "GRANT USAGE ON SCHEMA {s} TO {r};");
        sql.push_str(&default_privileges(owner, login, schema));
    }
    if let Some(app) = app_role {
        let _ = writeln!(sql, "GRANT {r} TO {};", quote_ident(app));
    }
    sql
}

/// The owner's default privileges in the schema: the login role may read
/// and write every table and use every sequence the owner creates.
pub fn default_privileges(owner: &str, login: &str, schema: &str) -> String {
    let (o, r, s) = (quote_ident(owner), quote_ident(login), quote_ident(schema));
    format!(
        "ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT {TABLE_PRIVILEGES} ON TABLES TO {r};
ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r};\n"
    )
}

/// The login role's privileges on what already exists in the schema (after
/// a restore or a conversion); writes withheld while `quota_blocked`.
pub fn grant_existing(login: &str, schema: &str, quota_blocked: bool) -> String {
    let (r, s) = (quote_ident(login), quote_ident(schema));
    let mut sql = format!(
        "GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {s} TO {r};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r};\n"
    );
    if quota_blocked {
        let _ = writeln!(
            sql,
            "REVOKE {QUOTA_PRIVILEGES} ON ALL TABLES IN SCHEMA {s} FROM {r};"
        );
    }
    sql
}

/// Statements that take the tenant's access away at once, also for sessions
/// that reached it by `SET ROLE`: the next statement of any of them fails.
pub fn cut_access(login: &str, schema: &str, owner: &str, app_role: Option<&str>) -> String {
    let r = quote_ident(login);
    let mut sql = String::new();
    if owner != login {
        let _ = writeln!(
            sql,
            "REVOKE USAGE ON SCHEMA {} FROM {r};",
            quote_ident(schema)
        );
    }
    if let Some(app) = app_role {
        let _ = writeln!(sql, "REVOKE {r} FROM {};", quote_ident(app));
    }
    sql
}

/// The reverse of [`cut_access`].
pub fn restore_access(login: &str, schema: &str, owner: &str, app_role: Option<&str>) -> String {
    let r = quote_ident(login);
    let mut sql = String::new();
    if owner != login {
        let _ = writeln!(sql, "GRANT USAGE ON SCHEMA {} TO {r};", quote_ident(schema));
    }
    if let Some(app) = app_role {
        let _ = writeln!(sql, "GRANT {r} TO {};", quote_ident(app));
    }
    sql
}

/// Drop the schema (with the tenant's chunks and everything in it) and both
/// roles with what they own or were granted in this database.
pub fn drop_all(schema: &str, roles: &[&str]) -> String {
    let mut sql = format!("DROP SCHEMA IF EXISTS {} CASCADE;\n", quote_ident(schema));
    for role in roles {
        let lit = quote_literal(role);
        let _ = writeln!(
            sql,
            "DO $tenantctl$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {lit}) THEN
    EXECUTE 'DROP OWNED BY ' || quote_ident({lit});
    EXECUTE 'DROP ROLE ' || quote_ident({lit});
  END IF;
END $tenantctl$;"
        );
    }
    sql
}

/// Tenant roles must not create in `public` (PostgreSQL 15+ already denies
/// it; older servers and upgraded databases grant it to PUBLIC). Checked
/// through the new login role; the revoke is serialised by a row lock on
/// our own lease row (an advisory lock could be taken by any tenant).
pub fn harden_public(login: &str, control_schema: &str) -> String {
    format!(
        "DO $tenantctl$ BEGIN
  IF to_regnamespace('public') IS NOT NULL THEN
    IF has_schema_privilege({role}, 'public', 'CREATE') THEN
      PERFORM 1 FROM {ctl}.leases WHERE name = 'public_schema' FOR UPDATE;
      REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    END IF;
  END IF;
END $tenantctl$;\n",
        role = quote_literal(login),
        ctl = quote_ident(control_schema),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUPER: Operator = Operator {
        superuser: true,
        version: 150_000,
        can_set_temp_file_limit: true,
    };
    const OPS16: Operator = Operator {
        superuser: false,
        version: 160_000,
        can_set_temp_file_limit: false,
    };

    fn limits() -> Limits {
        Limits {
            connection_limit: 5,
            statement_timeout: Some(Duration::from_secs(2)),
            idle_in_transaction_timeout: Some(Duration::from_secs(60)),
            temp_file_limit: Some(1 << 20),
        }
    }

    #[test]
    fn owner_owns_and_login_only_uses() {
        let sql = create("t_owner", "t", "t", &limits(), &SUPER, Some("app"), true);
        assert!(sql.contains("CREATE ROLE \"t_owner\" NOLOGIN"));
        assert!(sql.contains("CREATE ROLE \"t\" LOGIN NOINHERIT"));
        assert!(sql.contains("CONNECTION LIMIT 5"));
        assert!(sql.contains("CREATE SCHEMA \"t\" AUTHORIZATION \"t_owner\";"));
        assert!(sql.contains("GRANT USAGE ON SCHEMA \"t\" TO \"t\";"));
        assert!(!sql.contains("GRANT CREATE"));
        assert!(sql.contains("SET statement_timeout = '2000ms'"));
        assert!(sql.contains("SET idle_in_transaction_session_timeout = '60000ms'"));
        assert!(sql.contains("SET temp_file_limit = '1024kB'"));
        assert!(sql.contains("GRANT \"t\" TO \"app\""));
        // A superuser needs no membership.
        assert!(!sql.contains("TO CURRENT_USER"));
    }

    #[test]
    fn a_least_privilege_operator_grants_itself_what_it_needs() {
        let sql = create("t_owner", "t", "t", &limits(), &OPS16, None, true);
        assert!(sql.contains("GRANT \"t_owner\" TO CURRENT_USER WITH INHERIT TRUE, SET TRUE;"));
        assert!(sql.contains("GRANT \"t\" TO CURRENT_USER WITH INHERIT TRUE, SET TRUE;"));
        // It may not set a superuser-only parameter.
        assert!(!sql.contains("temp_file_limit"));
        let ops15 = Operator {
            version: 150_004,
            ..OPS16
        };
        let sql = create("t_owner", "t", "t", &limits(), &ops15, None, true);
        assert!(sql.contains("GRANT \"t_owner\" TO CURRENT_USER;"));
    }

    #[test]
    fn suspension_cuts_schema_usage_and_the_app_role_path() {
        let sql = cut_access("t", "t", "t_owner", Some("app"));
        assert!(sql.contains("REVOKE USAGE ON SCHEMA \"t\" FROM \"t\";"));
        assert!(sql.contains("REVOKE \"t\" FROM \"app\";"));
        let back = restore_access("t", "t", "t_owner", Some("app"));
        assert!(back.contains("GRANT USAGE ON SCHEMA \"t\" TO \"t\";"));
        assert!(back.contains("GRANT \"t\" TO \"app\";"));
    }
}

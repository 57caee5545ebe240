-- Control schema v5: a migration run's workers act for one tenant at a time.
-- Each worker of a run logs in once, as a role of its own
-- (tenantctl_mw_<run>_<n>: LOGIN, NOINHERIT, a member of the run's role),
-- and migrates its tenants one after another in that session. Before each
-- tenant the operator takes back what the worker came to own or was granted
-- and moves its membership from the previous tenant's owner role to this
-- one's; after each tenant the session is reset (DISCARD ALL). So tenant
-- code running in the session (a trigger of a backfill, a default) can at
-- most RESET ROLE to the worker, which holds the rights of this one tenant's
-- owner (by SET ROLE only: NOINHERIT) and of the run's role.
--
-- The ledger functions now accept such a worker, and only while this
-- tenant's owner is its one membership besides the run's role: tenant code
-- cannot record progress for another tenant. The per-tenant runner
-- (<schema>_run) of v4 is no longer a caller.

-- Role lookups by name through the syscache and memberships through
-- pg_auth_members' (member, roleid) index: cheap with thousands of roles
-- (a query over pg_roles costs milliseconds there).
CREATE FUNCTION {schema}.migration_caller_may(p_run uuid, p_owner text)
RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    run_hex text := replace(p_run::text, '-', '');
    me oid := to_regrole(quote_ident(session_user::text));
    own oid := to_regrole(quote_ident(p_owner));
    run_role oid := to_regrole(quote_ident('tenantctl_migrate_' || run_hex));
BEGIN
    IF session_user::text NOT LIKE 'tenantctl\_mw\_' || run_hex || '\_%' OR own IS NULL THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = me AND m.roleid = own) THEN
        RETURN false;
    END IF;
    RETURN NOT EXISTS (
        SELECT 1 FROM pg_auth_members m
        WHERE m.member = me AND m.roleid <> own AND m.roleid IS DISTINCT FROM run_role);
END
$fn$;

REVOKE ALL ON FUNCTION {schema}.migration_caller_may(uuid, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION {schema}.migration_begin(p_run uuid, p_tenant uuid)
RETURNS TABLE (at_version integer, at_step integer, pending_step integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    t record;
    l record;
BEGIN
    SELECT x.schema_name, x.template_version, coalesce(x.owner_role, x.role_name) AS owner INTO t
    FROM {schema}.tenants x WHERE x.id = p_tenant FOR UPDATE NOWAIT;
    IF NOT FOUND OR NOT {schema}.migration_caller_may(p_run, t.owner) THEN
        RAISE EXCEPTION 'only the run''s worker acting for this tenant may migrate it'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT x.at_version, x.at_step, x.pending_step, x.state INTO l
    FROM {schema}.migration_ledger x
    WHERE x.run_id = p_run AND x.tenant_id = p_tenant FOR UPDATE NOWAIT;
    IF NOT FOUND OR l.state <> 'running' THEN
        RAISE EXCEPTION 'the run does not hold this tenant'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF t.template_version <> l.at_version THEN
        RAISE EXCEPTION 'the tenant is at version %, the run expected %', t.template_version, l.at_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN QUERY SELECT l.at_version, l.at_step, l.pending_step;
END
$fn$;

CREATE OR REPLACE FUNCTION {schema}.migration_advance(
    p_run uuid, p_tenant uuid, p_version integer, p_step integer, p_pending integer,
    p_finished boolean, p_detail jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    t record;
    l record;
    ms integer;
BEGIN
    SELECT x.schema_name, x.template_version, coalesce(x.owner_role, x.role_name) AS owner INTO t
    FROM {schema}.tenants x WHERE x.id = p_tenant FOR UPDATE NOWAIT;
    IF NOT FOUND OR NOT {schema}.migration_caller_may(p_run, t.owner) THEN
        RAISE EXCEPTION 'only the run''s worker acting for this tenant may migrate it'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT x.* INTO l FROM {schema}.migration_ledger x
    WHERE x.run_id = p_run AND x.tenant_id = p_tenant FOR UPDATE NOWAIT;
    IF NOT FOUND OR l.state <> 'running' THEN
        RAISE EXCEPTION 'the run does not hold this tenant'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_version < l.at_version OR p_version > l.to_version
       OR (p_version = l.at_version AND p_step < l.at_step)
       OR (p_finished AND (p_version <> l.to_version OR p_step <> 0 OR p_pending IS NOT NULL)) THEN
        RAISE EXCEPTION 'migration progress may only move forward'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF t.template_version <> p_version THEN
        UPDATE {schema}.tenants SET template_version = p_version WHERE id = p_tenant;
    END IF;
    ms := CASE WHEN p_finished
          THEN (extract(epoch FROM clock_timestamp() - coalesce(l.started_at, clock_timestamp())) * 1000)::integer END;
    UPDATE {schema}.migration_ledger
    SET at_version = p_version, at_step = p_step, pending_step = p_pending,
        state = CASE WHEN p_finished THEN 'done' ELSE state END,
        ended_at = CASE WHEN p_finished THEN clock_timestamp() END,
        duration_ms = ms, error = NULL
    WHERE run_id = p_run AND tenant_id = p_tenant;
    IF p_finished THEN
        INSERT INTO {schema}.audit_log (actor, action, tenant_id, outcome, detail, duration_ms)
        SELECT r.actor, 'migrate', p_tenant, 'ok',
               coalesce(p_detail, '{}'::jsonb) || jsonb_build_object(
                   'run', p_run, 'template', r.template,
                   'from_version', l.from_version, 'to_version', p_version,
                   'runner', session_user::text),
               ms
        FROM {schema}.migration_runs r WHERE r.id = p_run;
    END IF;
END
$fn$;

-- Control schema v6: a tenant's migration transaction makes one call into
-- the control schema, at its end. migration_advance now also checks what
-- migration_begin checked (the tenant is at the version its ledger row
-- says): the transaction's steps run first and the call decides, so a
-- tenant that is not where the run expected rolls back with the steps. The
-- checks and the row locks come after the steps instead of before them;
-- nothing of the transaction is visible before its commit, so the outcome
-- is the same. migration_begin stays for steps that run outside a
-- transaction (CREATE INDEX CONCURRENTLY), which must check first.

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
    IF t.template_version <> l.at_version THEN
        RAISE EXCEPTION 'the tenant is at version %, the run expected %', t.template_version, l.at_version
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

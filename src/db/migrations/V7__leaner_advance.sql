-- Control schema v7: migration_advance, the one call of a tenant's
-- migration transaction into the control schema, in three statements
-- instead of seven and a nested function: both rows are locked and the
-- run's template and actor read in one join, the worker's memberships
-- are checked by one aggregate over pg_auth_members (inline: the nested
-- SECURITY DEFINER call set and restored search_path once more), and the
-- ledger row and the audit row are written by one statement. The checks,
-- their order of precedence and their errors are those of v6; the slow
-- path (a row missing) finds out which one is missing only then.

CREATE OR REPLACE FUNCTION {schema}.migration_advance(
    p_run uuid, p_tenant uuid, p_version integer, p_step integer, p_pending integer,
    p_finished boolean, p_detail jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    x record;
    own oid;
    allowed boolean;
    ms integer;
    run_hex text := replace(p_run::text, '-', '');
BEGIN
    SELECT t.template_version, coalesce(t.owner_role, t.role_name) AS owner,
           l.state, l.from_version, l.to_version, l.at_version, l.at_step, l.started_at,
           r.template, r.actor
    INTO x
    FROM {schema}.tenants t
    JOIN {schema}.migration_ledger l ON l.run_id = p_run AND l.tenant_id = t.id
    JOIN {schema}.migration_runs r ON r.id = p_run
    WHERE t.id = p_tenant
    FOR UPDATE OF t, l NOWAIT;
    IF NOT FOUND THEN
        -- Which row is missing, in v6's order: the caller check first.
        SELECT coalesce(t.owner_role, t.role_name) AS owner INTO x
        FROM {schema}.tenants t WHERE t.id = p_tenant;
        IF NOT FOUND OR NOT {schema}.migration_caller_may(p_run, x.owner) THEN
            RAISE EXCEPTION 'only the run''s worker acting for this tenant may migrate it'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'the run does not hold this tenant'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- The caller: a worker of this run whose one membership besides the
    -- run's role is this tenant's owner.
    own := to_regrole(quote_ident(x.owner));
    SELECT coalesce(bool_or(m.roleid = own), false)
           AND coalesce(bool_and(m.roleid = own
                OR m.roleid = to_regrole(quote_ident('tenantctl_migrate_' || run_hex))), true)
    INTO allowed
    FROM pg_auth_members m
    WHERE m.member = to_regrole(quote_ident(session_user::text));
    IF session_user::text NOT LIKE 'tenantctl\_mw\_' || run_hex || '\_%' OR own IS NULL
       OR NOT allowed THEN
        RAISE EXCEPTION 'only the run''s worker acting for this tenant may migrate it'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF x.state <> 'running' THEN
        RAISE EXCEPTION 'the run does not hold this tenant'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF x.template_version <> x.at_version THEN
        RAISE EXCEPTION 'the tenant is at version %, the run expected %', x.template_version, x.at_version
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_version < x.at_version OR p_version > x.to_version
       OR (p_version = x.at_version AND p_step < x.at_step)
       OR (p_finished AND (p_version <> x.to_version OR p_step <> 0 OR p_pending IS NOT NULL)) THEN
        RAISE EXCEPTION 'migration progress may only move forward'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF x.template_version <> p_version THEN
        UPDATE {schema}.tenants SET template_version = p_version WHERE id = p_tenant;
    END IF;
    ms := CASE WHEN p_finished
          THEN (extract(epoch FROM clock_timestamp() - coalesce(x.started_at, clock_timestamp())) * 1000)::integer END;
    -- The ledger row, and the audit row when the tenant is finished.
    WITH progress AS (
        UPDATE {schema}.migration_ledger
        SET at_version = p_version, at_step = p_step, pending_step = p_pending,
            state = CASE WHEN p_finished THEN 'done' ELSE state END,
            ended_at = CASE WHEN p_finished THEN clock_timestamp() END,
            duration_ms = ms, error = NULL
        WHERE run_id = p_run AND tenant_id = p_tenant
    )
    INSERT INTO {schema}.audit_log (actor, action, tenant_id, outcome, detail, duration_ms)
    SELECT x.actor, 'migrate', p_tenant, 'ok',
           coalesce(p_detail, '{}'::jsonb) || jsonb_build_object(
               'run', p_run, 'template', x.template,
               'from_version', x.from_version, 'to_version', p_version,
               'runner', session_user::text),
           ms
    WHERE p_finished;
END
$fn$;

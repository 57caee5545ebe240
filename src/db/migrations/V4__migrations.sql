-- Control schema v4: fleet migrations (tenant schemas from template version
-- N to N+1, in waves, resumable).
-- * migration_runs: one row per `migrate apply` run.
-- * migration_ledger: one row per tenant of a run, written as the run goes,
--   so a resumed run continues exactly where it stopped: at_version and
--   at_step say what is applied (steps of migration at_version+1 already
--   run, when a non-transactional step split it), pending_step a
--   non-transactional step that was started but not confirmed.
-- * one running row per tenant across all runs (a partial unique index):
--   two runs never migrate the same tenant at once.
-- * migration_begin / migration_advance: called by the tenant's runner role
--   (tenant rights, never the operator's) inside the transaction that runs
--   the DDL, so the tenant row lock, the DDL, the template_version bump and
--   the ledger step commit together. SECURITY DEFINER (owned by the
--   operator), EXECUTE granted only to a tenant's runner while it migrates
--   that tenant, and each checks that session_user is that tenant's runner.

CREATE TABLE {schema}.migration_runs (
    id          uuid PRIMARY KEY,
    template    text NOT NULL,
    to_version  integer NOT NULL CHECK (to_version >= 1),
    state       text NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'paused', 'stopped', 'done', 'cancelled')),
    options     jsonb NOT NULL DEFAULT '{}',
    actor       text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at    timestamptz
);

CREATE INDEX migration_runs_started ON {schema}.migration_runs (started_at);

CREATE TABLE {schema}.migration_ledger (
    run_id       uuid NOT NULL REFERENCES {schema}.migration_runs (id) ON DELETE CASCADE,
    tenant_id    uuid NOT NULL REFERENCES {schema}.tenants (id),
    ord          integer NOT NULL,
    wave         integer NOT NULL CHECK (wave >= 0),
    from_version integer NOT NULL,
    to_version   integer NOT NULL,
    at_version   integer NOT NULL,
    at_step      integer NOT NULL DEFAULT 0 CHECK (at_step >= 0),
    pending_step integer,
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'done', 'failed', 'skipped')),
    attempts     integer NOT NULL DEFAULT 0,
    error        text,
    duration_ms  integer,
    started_at   timestamptz,
    ended_at     timestamptz,
    PRIMARY KEY (run_id, tenant_id)
);

CREATE UNIQUE INDEX migration_ledger_one_running ON {schema}.migration_ledger (tenant_id)
    WHERE state = 'running';
CREATE INDEX migration_ledger_order ON {schema}.migration_ledger (run_id, wave, ord);

-- The calling session must be tenant p_tenant's runner, its ledger row of
-- p_run must be running, and the tenant must be where the ledger says.
-- Takes the tenant's control row and its ledger row FOR UPDATE NOWAIT
-- (held to the end of the caller's transaction); returns at_version,
-- at_step and pending_step.
CREATE FUNCTION {schema}.migration_begin(p_run uuid, p_tenant uuid)
RETURNS TABLE (at_version integer, at_step integer, pending_step integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    t record;
    l record;
BEGIN
    SELECT x.schema_name, x.template_version INTO t
    FROM {schema}.tenants x WHERE x.id = p_tenant FOR UPDATE NOWAIT;
    IF NOT FOUND OR session_user::text IS DISTINCT FROM t.schema_name || '_run' THEN
        RAISE EXCEPTION 'only the tenant''s runner may migrate it'
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

-- Record progress in the caller's transaction: the tenant's
-- template_version (when p_version is a new version), the ledger's
-- at_version/at_step/pending_step, and when p_finished the ledger row done
-- and the tenant's audit row.
CREATE FUNCTION {schema}.migration_advance(
    p_run uuid, p_tenant uuid, p_version integer, p_step integer, p_pending integer,
    p_finished boolean, p_detail jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    t record;
    l record;
    ms integer;
BEGIN
    SELECT x.schema_name, x.template_version INTO t
    FROM {schema}.tenants x WHERE x.id = p_tenant FOR UPDATE NOWAIT;
    IF NOT FOUND OR session_user::text IS DISTINCT FROM t.schema_name || '_run' THEN
        RAISE EXCEPTION 'only the tenant''s runner may migrate it'
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

REVOKE ALL ON FUNCTION {schema}.migration_begin(uuid, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.migration_advance(uuid, uuid, integer, integer, integer, boolean, jsonb) FROM PUBLIC;

-- Control schema v1: tenants, the append-only audit log, change notifications.
-- {schema} is replaced by the quoted control schema name; {channel} by the
-- quoted literal of its notification channel.

CREATE TABLE {schema}.tenants (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    domain              text NOT NULL CHECK (domain = lower(domain) AND length(domain) BETWEEN 1 AND 253),
    schema_name         text NOT NULL,
    role_name           text NOT NULL,
    status              text NOT NULL DEFAULT 'provisioning'
                        CHECK (status IN ('provisioning', 'active', 'suspended', 'deleted')),
    template            text NOT NULL,
    template_version    integer NOT NULL DEFAULT 1,
    settings            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    connection_limit    integer NOT NULL DEFAULT -1 CHECK (connection_limit >= -1),
    statement_timeout   interval,
    storage_quota_bytes bigint CHECK (storage_quota_bytes IS NULL OR storage_quota_bytes >= 0),
    warnings            text[] NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL,
    provision_ms        integer,
    deleted_at          timestamptz
);

-- A domain is unique among live tenants, case-insensitively; tombstones keep theirs.
CREATE UNIQUE INDEX tenants_domain_live ON {schema}.tenants (lower(domain)) WHERE status <> 'deleted';
CREATE UNIQUE INDEX tenants_schema_live ON {schema}.tenants (schema_name) WHERE status <> 'deleted';
CREATE INDEX tenants_status ON {schema}.tenants (status);

CREATE FUNCTION {schema}.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER tenants_touch BEFORE UPDATE ON {schema}.tenants
    FOR EACH ROW EXECUTE FUNCTION {schema}.touch_updated_at();

-- Every change to a tenant is announced, so every console sees it at once.
CREATE FUNCTION {schema}.tenants_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM pg_notify({channel}, json_build_object('op', TG_OP, 'id', r.id, 'status', r.status)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_notify AFTER INSERT OR UPDATE OR DELETE ON {schema}.tenants
    FOR EACH ROW EXECUTE FUNCTION {schema}.tenants_notify();

CREATE TABLE {schema}.audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    db_role     text NOT NULL DEFAULT current_user,
    action      text NOT NULL,
    tenant_id   uuid,
    outcome     text NOT NULL CHECK (outcome IN ('ok', 'error')),
    detail      jsonb NOT NULL DEFAULT '{}',
    duration_ms integer
);

CREATE INDEX audit_log_at ON {schema}.audit_log (at);
CREATE INDEX audit_log_tenant ON {schema}.audit_log (tenant_id, at);

CREATE FUNCTION {schema}.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON {schema}.audit_log
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {schema}.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_append_only();

REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;

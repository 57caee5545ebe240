-- Control schema v3: containment (DESIGN.md §4).
-- * owner_role: the NOLOGIN role that owns the tenant's schema and objects;
--   NULL for a tenant created before v3, whose login role owns them.
-- * restoring: a restore in progress (a killed one is finished or removed
--   by the next restore of the same tenant).
-- * the limits set on the login role, so each tick can compare them.
-- * quota_blocked: writes revoked because the tenant is over its quota.
-- * leases: coordination between tenantctl processes (advisory locks can
--   be taken by any role, so tenants could block us with them).
-- * notifications carry no tenant data: any role may LISTEN.

ALTER TABLE {schema}.tenants
    ADD COLUMN owner_role text,
    ADD COLUMN idle_in_transaction_timeout interval,
    ADD COLUMN temp_file_limit_bytes bigint CHECK (temp_file_limit_bytes IS NULL OR temp_file_limit_bytes >= 0),
    ADD COLUMN quota_blocked boolean NOT NULL DEFAULT false,
    DROP CONSTRAINT tenants_status_check,
    ADD CONSTRAINT tenants_status_check
        CHECK (status IN ('provisioning', 'active', 'suspended', 'deleted', 'restoring'));

CREATE TABLE {schema}.leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

INSERT INTO {schema}.leases (name, holder, expires_at)
VALUES ('public_schema', '', '-infinity'), ('usage_writer', '', '-infinity'), ('guard', '', '-infinity');

CREATE OR REPLACE FUNCTION {schema}.tenants_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify({channel}, json_build_object('op', TG_OP)::text);
    RETURN NULL;
END
$$;

-- Control schema v2: per-minute per-tenant usage rollups for trends and billing.

CREATE TABLE {schema}.usage_samples (
    tenant_id    uuid NOT NULL,
    minute       timestamptz NOT NULL,
    bytes        bigint NOT NULL,
    connections  integer NOT NULL,
    calls        bigint,
    exec_ms      double precision,
    rows_written bigint NOT NULL,
    PRIMARY KEY (tenant_id, minute)
);

CREATE INDEX usage_samples_minute ON {schema}.usage_samples (minute);

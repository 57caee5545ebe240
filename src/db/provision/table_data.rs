//! What a backup records of each table beyond `pg_dump`: its row count and
//! a checksum, and for a TimescaleDB hypertable (whose rows live in chunks
//! outside the tenant's schema, which `pg_dump -n` does not see) its rows
//! themselves, as `COPY … TO STDOUT (FORMAT binary)` into the backup
//! archive's `hypertables.data` member, with its time column and chunk
//! interval, so that restore makes it a hypertable again and loads them.
//!
//! Everything here runs in a session of the tenant's runner (acting as its
//! owner): reading and writing rows evaluates tenant code (output and input
//! functions, defaults, triggers) with the tenant's rights only.
//!
//! The checksum of a table is the md5 of its rows' md5s in sorted order
//! (each row as text under fixed output settings): independent of the
//! physical order, needing no sortable column, the same before the dump
//! and after the restore.

use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;

use super::archive::{self, ArchiveWriter};

use futures::{SinkExt, StreamExt, pin_mut};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::db::{pg_error, quote_ident};
use crate::error::{Error, Result};

/// Output settings that make a row's text the same in the backup's session
/// and the restore's.
pub const STABLE_OUTPUT: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; \
     SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'";

/// A hypertable as the backup keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HypertableBackup {
    pub time_column: String,
    /// The chunk interval of a time dimension (`interval` as text).
    #[serde(default)]
    pub time_interval: Option<String>,
    /// The chunk interval of an integer dimension.
    #[serde(default)]
    pub integer_interval: Option<i64>,
    /// The columns its rows were copied with, in order.
    pub columns: Vec<String>,
    /// Where its `COPY` stream is among the hypertables' rows (from their
    /// first byte).
    pub offset: u64,
    pub bytes: u64,
}

/// A table of the backup: its row count and checksum when the backup was
/// taken; for a hypertable, how to make it again and where its rows are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    pub table: String,
    pub rows: i64,
    /// See the module comment (format 3; absent in older sidecars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypertable: Option<HypertableBackup>,
}

/// The installed TimescaleDB: its schema and whether `by_range()` exists
/// (2.13+). `None` when it is not installed.
pub async fn timescale(client: &Client) -> Result<Option<(String, bool)>> {
    let row = client
        .query_opt(
            "SELECT n.nspname::text, e.extversion::text FROM pg_catalog.pg_extension e
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot detect TimescaleDB"))?;
    Ok(row.map(|r| {
        let v: String = r.get(1);
        let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        (r.get(0), (major, minor) >= (2, 13))
    }))
}

/// The schema's tables (`relkind = 'r'`), and for each hypertable its first
/// dimension. Catalog reads only.
async fn tables(
    client: &Client,
    schema: &str,
    ts: bool,
) -> Result<Vec<(String, Option<(String, Option<String>, Option<i64>)>)>> {
    let what = "cannot list the tenant's tables";
    let names: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(|e| pg_error(&e, what))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut dims = std::collections::HashMap::new();
    if ts {
        for r in client
            .query(
                "SELECT h.table_name::text, d.column_name::text,
                        CASE WHEN d.interval_length IS NOT NULL AND d.column_type IN
                                  ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
                             THEN (d.interval_length * interval '1 microsecond')::text END,
                        CASE WHEN d.column_type NOT IN
                                  ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
                             THEN d.interval_length END
                 FROM _timescaledb_catalog.hypertable h
                 JOIN _timescaledb_catalog.dimension d ON d.hypertable_id = h.id
                 WHERE h.schema_name = $1
                   AND d.id = (SELECT min(d2.id) FROM _timescaledb_catalog.dimension d2
                               WHERE d2.hypertable_id = h.id)",
                &[&schema],
            )
            .await
            .map_err(|e| pg_error(&e, what))?
        {
            dims.insert(r.get::<_, String>(0), (r.get(1), r.get(2), r.get(3)));
        }
    }
    Ok(names
        .into_iter()
        .map(|n| {
            let d = dims.remove(&n);
            (n, d)
        })
        .collect())
}

/// The columns rows are copied with: not dropped, not generated, in order.
async fn copy_columns(client: &Client, schema: &str, table: &str) -> Result<Vec<String>> {
    Ok(client
        .query(
            "SELECT a.attname::text FROM pg_catalog.pg_attribute a
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0
               AND NOT a.attisdropped AND a.attgenerated = ''
             ORDER BY a.attnum",
            &[&schema, &table],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the table's columns"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Row count and checksum of one table (`ONLY` it for a plain table; a
/// hypertable with its chunks). Reads every row, as the tenant.
async fn count_and_checksum(
    client: &Client,
    schema: &str,
    table: &str,
    hypertable: bool,
) -> Result<(i64, String)> {
    let sql = format!(
        "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), ''))
         FROM (SELECT md5(t::text) AS h FROM {only}{}.{} t) x",
        quote_ident(schema),
        quote_ident(table),
        only = if hypertable { "" } else { "ONLY " }
    );
    let r = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| pg_error(&e, &format!("cannot read the rows of {table}")))?;
    Ok((r.get(0), r.get(1)))
}

fn column_list(cols: &[String]) -> String {
    cols.iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Count and checksum every table of the schema; copy each hypertable's
/// rows, one stream after another, into a member of the archive (begun
/// only when there is a hypertable). Returns the tables and that member's
/// (SHA-256, bytes).
pub async fn back_up(
    client: &Client,
    schema: &str,
    out: &mut ArchiveWriter,
) -> Result<(Vec<TableCount>, Option<(String, u64)>)> {
    client
        .batch_execute(STABLE_OUTPUT)
        .await
        .map_err(|e| pg_error(&e, "cannot prepare the tenant session"))?;
    let ts = timescale(client).await?.is_some();
    let mut result = Vec::new();
    let mut begun = false;
    let mut offset = 0u64;
    for (table, dim) in tables(client, schema, ts).await? {
        let (rows, checksum) = count_and_checksum(client, schema, &table, dim.is_some()).await?;
        let hypertable = match dim {
            None => None,
            Some((time_column, time_interval, integer_interval)) => {
                if !begun {
                    out.begin()?;
                    begun = true;
                }
                let columns = copy_columns(client, schema, &table).await?;
                let sql = format!(
                    "COPY (SELECT {} FROM {}.{}) TO STDOUT (FORMAT binary)",
                    column_list(&columns),
                    quote_ident(schema),
                    quote_ident(&table)
                );
                let stream = client
                    .copy_out(&sql)
                    .await
                    .map_err(|e| pg_error(&e, &format!("cannot copy the rows of {table}")))?;
                pin_mut!(stream);
                let start = offset;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk
                        .map_err(|e| pg_error(&e, &format!("cannot copy the rows of {table}")))?;
                    out.write_all(&chunk).map_err(|e| {
                        Error::failure(format!(
                            "cannot write the backup {}: {e}",
                            out.path().display()
                        ))
                    })?;
                    offset += chunk.len() as u64;
                }
                Some(HypertableBackup {
                    time_column,
                    time_interval,
                    integer_interval,
                    columns,
                    offset: start,
                    bytes: offset - start,
                })
            }
        };
        result.push(TableCount {
            table,
            rows,
            checksum: Some(checksum),
            hypertable,
        });
    }
    let data_sum = if begun {
        Some(out.finish(archive::DATA)?)
    } else {
        None
    };
    Ok((result, data_sum))
}

/// In the restore's session (one transaction, not committed here): make
/// each backed-up hypertable a hypertable again (same time column and
/// chunk interval, as the owner) and load its rows from `data` (a file,
/// and where in it the hypertables' rows begin).
pub async fn restore_hypertables(
    client: &Client,
    schema: &str,
    tables: &[TableCount],
    data: Option<(&Path, u64)>,
) -> Result<()> {
    let hts: Vec<(&TableCount, &HypertableBackup)> = tables
        .iter()
        .filter_map(|t| t.hypertable.as_ref().map(|h| (t, h)))
        .collect();
    if hts.is_empty() {
        return Ok(());
    }
    let Some((ts_schema, new_api)) = timescale(client).await? else {
        return Err(Error::refused(
            "the backup holds hypertables and TimescaleDB is not installed in this database: install it (CREATE EXTENSION timescaledb), then restore",
        ));
    };
    let (data, base) =
        data.ok_or_else(|| Error::invalid("the backup has hypertables but none of their rows"))?;
    let mut file = std::fs::File::open(data)
        .map_err(|e| Error::failure(format!("cannot read {}: {e}", data.display())))?;
    for (t, h) in hts {
        let ts = quote_ident(&ts_schema);
        let rel = crate::db::quote_literal(&format!(
            "{}.{}",
            quote_ident(schema),
            quote_ident(&t.table)
        ));
        let col = crate::db::quote_literal(&h.time_column);
        let every = match (&h.time_interval, h.integer_interval) {
            (Some(iv), _) => format!("{}::interval", crate::db::quote_literal(iv)),
            (None, Some(n)) => n.to_string(),
            (None, None) => {
                return Err(Error::invalid(format!(
                    "the backup records no chunk interval for hypertable {}",
                    t.table
                )));
            }
        };
        let sql = if new_api {
            format!(
                "SELECT {ts}.create_hypertable({rel}::regclass, {ts}.by_range({col}, {every}), create_default_indexes => false)"
            )
        } else {
            format!(
                "SELECT {ts}.create_hypertable({rel}::regclass, {col}, chunk_time_interval => {every}, create_default_indexes => false)"
            )
        };
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| pg_error(&e, &format!("cannot make {} a hypertable again", t.table)))?;
        let sink = client
            .copy_in::<_, std::io::Cursor<Vec<u8>>>(&format!(
                "COPY {}.{} ({}) FROM STDIN (FORMAT binary)",
                quote_ident(schema),
                quote_ident(&t.table),
                column_list(&h.columns)
            ))
            .await
            .map_err(|e| pg_error(&e, &format!("cannot load the rows of {}", t.table)))?;
        pin_mut!(sink);
        let short = || {
            Error::invalid(format!(
                "the backup's hypertable rows are shorter than its sidecar says (rows of {})",
                t.table
            ))
        };
        let at = base.checked_add(h.offset).ok_or_else(short)?;
        file.seek(std::io::SeekFrom::Start(at))
            .map_err(|_| short())?;
        let mut left = h.bytes;
        while left > 0 {
            let mut buf = vec![0u8; usize::try_from(left.min(1 << 16)).unwrap_or(1 << 16)];
            file.read_exact(&mut buf).map_err(|_| short())?;
            left -= buf.len() as u64;
            sink.send(std::io::Cursor::new(buf))
                .await
                .map_err(|e| pg_error(&e, &format!("cannot load the rows of {}", t.table)))?;
        }
        sink.finish()
            .await
            .map_err(|e| pg_error(&e, &format!("cannot load the rows of {}", t.table)))?;
    }
    Ok(())
}

/// Every table's count (and checksum, where the backup has one) now,
/// against the backup: the differences, one phrase each; empty when all
/// match. Reads every row, as the tenant.
pub async fn verify(client: &Client, schema: &str, want: &[TableCount]) -> Result<Vec<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    client
        .batch_execute(STABLE_OUTPUT)
        .await
        .map_err(|e| pg_error(&e, "cannot prepare the tenant session"))?;
    let ts = timescale(client).await?.is_some();
    let mut have: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for (table, dim) in tables(client, schema, ts).await? {
        let v = count_and_checksum(client, schema, &table, dim.is_some()).await?;
        have.insert(table, v);
    }
    let want_map: BTreeMap<&str, &TableCount> =
        want.iter().map(|t| (t.table.as_str(), t)).collect();
    let names: BTreeSet<&str> = want_map
        .keys()
        .copied()
        .chain(have.keys().map(String::as_str))
        .collect();
    let mut diff = Vec::new();
    for k in names {
        match (want_map.get(k), have.get(k)) {
            (Some(w), Some((n, sum))) => {
                if w.rows != *n {
                    diff.push(format!("{k}: {} rows in the backup, {n} restored", w.rows));
                } else if w.checksum.as_ref().is_some_and(|c| c != sum) {
                    diff.push(format!("{k}: its rows' checksum differs from the backup's"));
                }
            }
            (Some(w), None) => {
                diff.push(format!("{k}: {} rows in the backup, none restored", w.rows));
            }
            (None, Some((n, _))) => diff.push(format!("{k}: none in the backup, {n} restored")),
            (None, None) => {}
        }
    }
    Ok(diff)
}

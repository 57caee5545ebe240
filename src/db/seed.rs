//! SQL of the demo: realistic tenant data and the synthetic workload that
//! runs as tenant roles. Used only by `tenantctl demo` and benches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Db, pg_error, quote_ident};
use crate::domain::tenant::Tenant;
use crate::error::{Error, Result};

const SYMS: [&str; 12] = [
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA", "JPM", "XOM", "NESN", "ASML", "SAP", "BHP",
];
const SYMBOLS: &str =
    "ARRAY['AAPL','MSFT','NVDA','AMZN','GOOG','TSLA','JPM','XOM','NESN','ASML','SAP','BHP']";

/// Fill a tenant's default-template tables: portfolios, positions, `trades`
/// trades and a quarter as many market-data bars. Runs as the tenant (its
/// runner, see [`super::runner`]): inserts fire the tenant's triggers,
/// defaults and constraints, which must never run as the operator.
pub async fn fill_tenant(db: &Db, tenant: &Tenant, trades: usize) -> Result<()> {
    let s = quote_ident(&tenant.schema_name);
    let portfolios = (trades / 400).clamp(2, 40);
    let bars = (trades / 4).max(10);
    let sql = format!(
        "INSERT INTO {s}.portfolios (user_id, name, description)
             SELECT gen_random_uuid(), 'Portfolio ' || g, 'Demo book ' || g
             FROM generate_series(1, {portfolios}) g;
         INSERT INTO {s}.positions (portfolio_id, symbol, quantity, avg_price, current_price)
             SELECT p.id, sym, round((random() * 5000)::numeric, 2), round((20 + random() * 480)::numeric, 4),
                    round((20 + random() * 480)::numeric, 4)
             FROM {s}.portfolios p CROSS JOIN unnest({SYMBOLS}) sym;
         WITH p AS (SELECT array_agg(id) AS ids FROM {s}.portfolios)
         INSERT INTO {s}.trades (portfolio_id, symbol, side, quantity, price, \"timestamp\")
             SELECT p.ids[1 + g % array_length(p.ids, 1)], ({SYMBOLS})[1 + g % 12],
                    CASE WHEN g % 2 = 0 THEN 'BUY' ELSE 'SELL' END,
                    round((1 + random() * 500)::numeric, 2), round((20 + random() * 480)::numeric, 4),
                    now() - make_interval(secs => g * 37)
             FROM p, generate_series(1, {trades}) g;
         INSERT INTO {s}.market_data (symbol, \"timestamp\", open, high, low, close, volume)
             SELECT ({SYMBOLS})[1 + g % 12], date_trunc('minute', now()) - make_interval(mins => g / 12),
                    100 + random(), 101 + random(), 99 + random(), 100 + random(), (random() * 1e6)::bigint
             FROM generate_series(0, {bars} - 1) g;"
    );
    let run = super::runner::Runner::start(db, tenant).await?;
    let filled = async {
        let client = run.connect(db, Duration::from_secs(600)).await?;
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| pg_error(&e, &format!("cannot fill demo data for {}", tenant.domain)))
    }
    .await;
    run.finish(db).await;
    filled
}

/// Exact bytes of every relation in the tenant's schema.
pub async fn exact_size(db: &Db, tenant: &Tenant) -> Result<u64> {
    let client = db.client().await?;
    let row = client
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p')",
            &[&tenant.schema_name],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot measure the tenant's size"))?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Refresh planner statistics and relpages after a bulk load.
pub async fn analyze(db: &Db) -> Result<()> {
    let client = db.client().await?;
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .map_err(|e| pg_error(&e, "cannot analyze the demo database"))
}

/// A session that trips a health rule and holds it until `stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    LongRunning,
    IdleInTransaction,
}

async fn connect(conninfo: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .map_err(|e| pg_error(&e, "demo workload cannot connect"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Hold a long-running statement or an open idle transaction until `stop`.
pub async fn hold_session(conninfo: &str, kind: Hold, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(client) = connect(conninfo).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let cancel = client.cancel_token();
        let work = async {
            match kind {
                Hold::LongRunning => {
                    client.batch_execute("SET statement_timeout = 0").await?;
                    client.batch_execute("SELECT pg_sleep(3600)").await
                }
                Hold::IdleInTransaction => {
                    client
                        .batch_execute("BEGIN; SELECT count(*) FROM portfolios")
                        .await?;
                    // Hold it until the session is ended (then the outer loop opens another).
                    while !client.is_closed() {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Ok(())
                }
            }
        };
        tokio::select! {
            _ = work => {}
            () = wait_for(&stop) => {
                let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
                return;
            }
        }
    }
}

async fn wait_for(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One application session as a tenant role: trade inserts, position reads
/// and updates, paced at one operation per `pace`, for `length`.
pub async fn work_session(
    conninfo: &str,
    length: Duration,
    pace: Duration,
    stop: &AtomicBool,
    ops: &AtomicU64,
    seed: u64,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let client = connect(conninfo).await?;
    let err = |e: tokio_postgres::Error| pg_error(&e, "demo workload statement failed");
    // No schema is named: the role's search_path ("$user") finds its own schema.
    let portfolios: Vec<uuid::Uuid> = client
        .query("SELECT id FROM portfolios LIMIT 20", &[])
        .await
        .map_err(err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if portfolios.is_empty() {
        return Err(Error::failure("tenant has no portfolios"));
    }
    let insert = client
        .prepare(
            "INSERT INTO trades (portfolio_id, symbol, side, quantity, price, \"timestamp\")
             VALUES ($1, $2, $3, round((1 + random() * 500)::numeric, 2), round((20 + random() * 480)::numeric, 4), now())",
        )
        .await
        .map_err(err)?;
    let read = client
        .prepare("SELECT symbol, quantity, avg_price FROM positions WHERE portfolio_id = $1 ORDER BY symbol")
        .await
        .map_err(err)?;
    let update = client
        .prepare("UPDATE positions SET quantity = quantity + 1, updated_at = now() WHERE portfolio_id = $1 AND symbol = $2")
        .await
        .map_err(err)?;
    let recent = client
        .prepare("SELECT count(*) FROM trades WHERE portfolio_id = $1 AND \"timestamp\" > now() - interval '1 hour'")
        .await
        .map_err(err)?;
    let started = Instant::now();
    while started.elapsed() < length && !stop.load(Ordering::Relaxed) {
        let p = portfolios[rng.random_range(0..portfolios.len())];
        let sym = SYMS[rng.random_range(0..SYMS.len())];
        let roll: u8 = rng.random_range(0..100);
        if roll < 55 {
            let side = if rng.random_bool(0.5) { "BUY" } else { "SELL" };
            client
                .execute(&insert, &[&p, &sym, &side])
                .await
                .map_err(err)?;
        } else if roll < 80 {
            client.query(&read, &[&p]).await.map_err(err)?;
        } else if roll < 95 {
            client.execute(&update, &[&p, &sym]).await.map_err(err)?;
        } else {
            client.query_one(&recent, &[&p]).await.map_err(err)?;
        }
        ops.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(pace).await;
    }
    Ok(())
}

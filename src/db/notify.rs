//! Tenant change notifications: `LISTEN` on the control schema's channel
//! over a dedicated connection, parsed into [`TenantChange`]s.
//!
//! Any role may `LISTEN` on any channel, so a payload carries no tenant
//! data: only what kind of change it was. A console re-reads the tenant
//! list from the control schema, which tenants cannot read.

use serde::Deserialize;
use tokio::sync::mpsc;

use super::{Db, pg_error, quote_ident};
use crate::error::Result;

/// One change announced by the `tenants_notify` trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantChange {
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub op: String,
}

#[derive(Deserialize)]
struct Payload {
    op: String,
}

/// Parse a notification payload; `None` for anything unexpected.
pub fn parse_payload(payload: &str) -> Option<TenantChange> {
    let p: Payload = serde_json::from_str(payload).ok()?;
    Some(TenantChange { op: p.op })
}

/// Start listening. Changes arrive on the receiver; it closes when the
/// connection ends (the caller reconnects) or when the receiver is dropped
/// (the task then ends and closes the connection).
pub async fn listen(db: &Db) -> Result<mpsc::Receiver<TenantChange>> {
    let (client, mut messages) = db.dedicated().await?;
    client
        .batch_execute(&format!("LISTEN {}", quote_ident(&db.channel())))
        .await
        .map_err(|e| pg_error(&e, "cannot LISTEN for tenant changes"))?;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        // The client must live as long as the listener.
        let _client = client;
        loop {
            tokio::select! {
                msg = messages.recv() => match msg {
                    Some(tokio_postgres::AsyncMessage::Notification(n)) => {
                        if let Some(change) = parse_payload(n.payload()) {
                            if tx.send(change).await.is_err() {
                                break;
                            }
                        }
                    }
                    Some(_) => {}
                    None => break,
                },
                () = tx.closed() => break,
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let c = parse_payload(r#"{"op":"UPDATE"}"#).expect("parses");
        assert_eq!(c.op, "UPDATE");
        assert!(parse_payload("nope").is_none());
    }
}

//! Connecting: libpq parameters to a deadpool pool, TLS by `sslmode`, and
//! errors that say which server failed and what to try.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::AnyCertificate;
use crate::config::conninfo::TargetSessionAttrs;
use crate::config::{Config, ConnParams, SslMode};
use crate::error::{Error, Result};

/// `application_name` of every tenantctl session, so monitoring can exclude them.
pub const APPLICATION_NAME: &str = "tenantctl";

/// A pool of connections to one cluster plus what every query needs to know.
#[derive(Clone)]
pub struct Db {
    pub pool: Pool,
    /// Unquoted control schema name.
    pub schema: String,
    pub params: ConnParams,
    pub tls: Tls,
    pub cluster_name: String,
    /// Template runs per pooled session (see [`Db::client_for_templates`]).
    template_uses: Arc<std::sync::Mutex<HashMap<deadpool_postgres::ObjectId, usize>>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("schema", &self.schema)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Open a pool to the configured cluster and prove it answers.
    pub async fn connect(config: &Config) -> Result<Self> {
        let params = config.conn_params()?;
        Self::connect_params(
            params,
            &config.cluster.control_schema,
            config.cluster.pool_size,
            &config.cluster_name,
        )
        .await
    }

    /// Open a pool from explicit parameters. With several hosts, they are
    /// tried in order (shuffled with `load_balance_hosts=random`) until one
    /// answers and meets `target_session_attrs`, as libpq does; the pool then
    /// connects to that host, and `params` names it alone.
    pub async fn connect_params(
        params: ConnParams,
        schema: &str,
        pool_size: usize,
        cluster_name: &str,
    ) -> Result<Self> {
        let params = choose_host(&params).await?;
        let tls = make_tls(&params)?;
        let pg = params.to_pg_config(APPLICATION_NAME);
        let mgr = Manager::from_config(
            pg,
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(params.effective_connect_timeout())
            .build()
            .map_err(|e| Error::failure(format!("cannot build the connection pool: {e}")))?;
        let db = Db {
            pool,
            schema: schema.to_string(),
            params,
            tls,
            cluster_name: cluster_name.to_string(),
            template_uses: Arc::default(),
        };
        drop(db.client().await?);
        Ok(db)
    }

    /// A pooled connection, or one sentence on why there is none.
    pub async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| self.pool_error(&e))
    }

    /// A pooled connection for work that runs a template's steps inside a
    /// function (provisioning, the template probes). PL/pgSQL keeps a
    /// dropped function's compiled code and saved plans until its session
    /// ends, and every cache invalidation the session receives later (every
    /// other session's DDL) walks all of them: a pooled session that had
    /// created a few hundred tenants spent as much CPU on that as on its
    /// work. So the [`TEMPLATE_SESSION_USES`]th template run of a session is
    /// its last: the session is closed when that run drops it, instead of
    /// going back to the pool (one login per that many creates).
    pub async fn client_for_templates(&self) -> Result<TemplateClient> {
        let o = self.client().await?;
        let id = deadpool_postgres::Object::id(&o);
        let last = match self.template_uses.lock() {
            Ok(mut uses) => {
                // Ids of sessions the pool dropped on its own stay behind;
                // forgetting every count now and then costs nothing real.
                if uses.len() > 4 * self.pool.status().max_size.max(16) {
                    uses.clear();
                }
                let n = uses.entry(id).or_insert(0);
                *n += 1;
                let last = *n >= TEMPLATE_SESSION_USES;
                if last {
                    uses.remove(&id);
                }
                last
            }
            Err(_) => false,
        };
        Ok(TemplateClient {
            object: Some(o),
            last,
        })
    }

    /// A dedicated connection outside the pool (LISTEN, long operations).
    /// Its notifications and notices arrive on the returned channel, which
    /// closes when the connection ends.
    pub async fn dedicated(
        &self,
    ) -> Result<(
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::AsyncMessage>,
    )> {
        let pg = self.params.to_pg_config(APPLICATION_NAME);
        let (client, mut conn) = pg
            .connect(self.tls.clone())
            .await
            .map_err(|e| connect_error(&e, &self.params))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stream = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(msg) = futures::StreamExt::next(&mut stream).await {
                match msg {
                    Ok(m) => {
                        if tx.send(m).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::debug!("dedicated connection ended: {e}");
                        break;
                    }
                }
            }
        });
        Ok((client, rx))
    }

    fn pool_error(&self, e: &deadpool_postgres::PoolError) -> Error {
        match e {
            deadpool_postgres::PoolError::Backend(pe) => connect_error(pe, &self.params),
            deadpool_postgres::PoolError::Timeout(_) => Error::failure(format!(
                "timed out connecting to {}: is the server up and reachable?",
                self.params.describe()
            )),
            other => Error::failure(format!(
                "cannot connect to {}: {other}",
                self.params.describe()
            )),
        }
    }

    /// The server's version string (`SHOW server_version`). One round trip.
    pub async fn server_version(&self) -> Result<String> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT current_setting('server_version')", &[])
            .await
            .map_err(|e| super::pg_error(&e, "cannot read the server version"))?;
        Ok(row.get(0))
    }

    /// One trivial round trip: is the server answering?
    pub async fn ping(&self) -> Result<()> {
        let client = self.client().await?;
        client
            .query_one("SELECT 1", &[])
            .await
            .map_err(|e| super::pg_error(&e, "the server did not answer"))?;
        Ok(())
    }

    /// Is the server answering, whatever the pool is doing? A connection of
    /// its own, outside the pool, so a pool busy with long operations is not
    /// taken for a lost server. One connect and one round trip.
    pub async fn probe(&self) -> Result<()> {
        let pg = self.params.to_pg_config(APPLICATION_NAME);
        let (client, conn) = pg
            .connect(self.tls.clone())
            .await
            .map_err(|e| connect_error(&e, &self.params))?;
        let driver = tokio::spawn(conn);
        let r = client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| super::pg_error(&e, "the server did not answer"));
        drop(client);
        let _ = driver.await;
        r
    }

    /// The control schema, quoted for SQL text.
    pub fn q_schema(&self) -> String {
        super::quote_ident(&self.schema)
    }

    /// The notification channel of this control schema.
    pub fn channel(&self) -> String {
        format!("{}_events", self.schema)
    }
}

/// Pick the host to use: the first (in libpq's order) that accepts a
/// connection and meets `target_session_attrs`. One host with `any` is taken
/// as it is (the pool's first connection tests it).
pub async fn choose_host(params: &ConnParams) -> Result<ConnParams> {
    let tsa = params.target_session_attrs;
    if params.hosts.len() <= 1 && tsa == TargetSessionAttrs::Any {
        return Ok(params.only_host(0));
    }
    let mut order: Vec<usize> = (0..params.hosts.len()).collect();
    if params.load_balance_hosts {
        use rand::seq::SliceRandom;
        order.shuffle(&mut rand::rng());
    }
    let passes: &[TargetSessionAttrs] = if tsa == TargetSessionAttrs::PreferStandby {
        &[TargetSessionAttrs::Standby, TargetSessionAttrs::Any]
    } else {
        std::slice::from_ref(&params.target_session_attrs)
    };
    let mut reasons: Vec<String> = Vec::new();
    for want in passes {
        for &i in &order {
            let one = params.only_host(i);
            let target = one.describe();
            match session_meets(&one, *want).await {
                Ok(None) => return Ok(one),
                Ok(Some(why)) => reasons.push(format!("{target} {why}")),
                Err(e) => reasons.push(e.message),
            }
        }
    }
    Err(Error::failure(format!(
        "no server meets target_session_attrs={}: {}",
        tsa.as_str(),
        reasons.join("; ")
    )))
}

/// Connect to the one host of `one` and check the session kind: `None` when
/// it fits, else why not.
async fn session_meets(one: &ConnParams, want: TargetSessionAttrs) -> Result<Option<String>> {
    let tls = make_tls(one)?;
    let (client, conn) = one
        .to_pg_config(APPLICATION_NAME)
        .connect(tls)
        .await
        .map_err(|e| connect_error(&e, one))?;
    let driver = tokio::spawn(conn);
    let q = |e: tokio_postgres::Error| super::pg_error(&e, "cannot check the session kind");
    let verdict = match want {
        TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => None,
        TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => {
            let row = client
                .query_one("SHOW transaction_read_only", &[])
                .await
                .map_err(q)?;
            let read_only = row.get::<_, String>(0) == "on";
            match (want, read_only) {
                (TargetSessionAttrs::ReadWrite, true) => Some("is read-only".to_string()),
                (TargetSessionAttrs::ReadOnly, false) => Some("is read-write".to_string()),
                _ => None,
            }
        }
        TargetSessionAttrs::Primary | TargetSessionAttrs::Standby => {
            let row = client
                .query_one("SELECT pg_catalog.pg_is_in_recovery()", &[])
                .await
                .map_err(q)?;
            let standby: bool = row.get(0);
            match (want, standby) {
                (TargetSessionAttrs::Primary, true) => Some("is a standby".to_string()),
                (TargetSessionAttrs::Standby, false) => Some("is a primary".to_string()),
                _ => None,
            }
        }
    };
    drop(client);
    let _ = driver.await;
    Ok(verdict)
}

/// One sentence for a failed connection attempt.
pub fn connect_error(e: &tokio_postgres::Error, params: &ConnParams) -> Error {
    let target = params.describe();
    if let Some(db) = e.as_db_error() {
        use tokio_postgres::error::SqlState;
        let hint = if *db.code() == SqlState::INVALID_PASSWORD {
            "check the password (PGPASSWORD, ~/.pgpass or the URL)"
        } else if *db.code() == SqlState::INVALID_CATALOG_NAME {
            "check dbname in the connection string"
        } else if *db.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            "check the user name and pg_hba.conf"
        } else {
            "check the connection settings"
        };
        return Error::failure(format!(
            "cannot connect to {target}: {}; {hint}",
            db.message()
        ));
    }
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail = format!("{detail}: {s}");
        src = s.source();
    }
    let hint = if detail.contains("UnsupportedCertVersion") {
        "the server's certificate is X.509 v1, which sslmode=verify-ca and verify-full cannot verify (the TLS library checks v3 certificates only): reissue it as v3 (openssl x509 -req with an -extfile), or use sslmode=require, which encrypts without verifying as libpq does"
    } else if detail.contains("refused") || detail.contains("No such file") {
        "is the server running and accepting connections there?"
    } else if detail.contains("certificate")
        || detail.contains("tls")
        || detail.contains("TLS")
        || detail.contains("ssl")
    {
        "check sslmode and the root certificate (sslrootcert)"
    } else if detail.contains("timed out") || detail.contains("timeout") {
        "is the host reachable (firewall, VPN)?"
    } else {
        "check the connection settings"
    };
    Error::failure(format!("cannot connect to {target}: {detail}; {hint}"))
}

/// See [`Db::client_for_templates`].
pub const TEMPLATE_SESSION_USES: usize = 16;

/// A session from [`Db::client_for_templates`]: pooled again when dropped,
/// or (its last use) closed. It holds its pool slot until then, so the pool
/// never has more sessions open than its size.
pub struct TemplateClient {
    /// `Some` until dropped.
    object: Option<deadpool_postgres::Object>,
    last: bool,
}

impl std::ops::Deref for TemplateClient {
    type Target = deadpool_postgres::Object;
    fn deref(&self) -> &Self::Target {
        self.object
            .as_ref()
            .expect("a TemplateClient holds its session until dropped")
    }
}

impl std::ops::DerefMut for TemplateClient {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.object
            .as_mut()
            .expect("a TemplateClient holds its session until dropped")
    }
}

impl Drop for TemplateClient {
    fn drop(&mut self) {
        if let (true, Some(o)) = (self.last, self.object.take()) {
            // Out of the pool, and the session ends with the client.
            drop(deadpool_postgres::Object::take(o));
        }
    }
}

/// The rustls connector, tolerant of hosts that are not DNS names (Unix
/// socket paths, where no TLS happens) unless `verify-full` needs the name.
#[derive(Clone)]
pub struct Tls {
    inner: MakeRustlsConnect,
    strict_names: bool,
}

impl tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> for Tls {
    type Stream =
        <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream;
    type TlsConnect = <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
        tokio_postgres::Socket,
    >>::TlsConnect;
    type Error =
        <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Error;

    fn make_tls_connect(
        &mut self,
        domain: &str,
    ) -> std::result::Result<Self::TlsConnect, Self::Error> {
        use tokio_postgres::tls::MakeTlsConnect as M;
        match M::<tokio_postgres::Socket>::make_tls_connect(&mut self.inner, domain) {
            Err(_) if !self.strict_names || domain.is_empty() || domain.starts_with('/') => {
                M::<tokio_postgres::Socket>::make_tls_connect(&mut self.inner, "localhost")
            }
            other => other,
        }
    }
}

/// A rustls connector that behaves like libpq's `sslmode`: disable, allow,
/// prefer and require encrypt without checking the certificate (any one,
/// self-signed or X.509 v1, is accepted, but the handshake signature must
/// match its key: see [`super::tls`]); verify-ca checks the chain against
/// `sslrootcert` (a PEM file, default `~/.postgresql/root.crt`, or `system`
/// for the operating system's store); verify-full also the host name. A client
/// certificate is sent when `sslcert`/`sslkey` (default
/// `~/.postgresql/postgresql.crt` and `.key`) exist.
pub fn make_tls(params: &ConnParams) -> Result<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_provider = provider.key_provider;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::failure(format!("cannot set up TLS: {e}")))?;
    // Unix sockets never use TLS (libpq skips it there), so nothing is loaded.
    let sockets_only = (0..params.hosts.len()).all(|i| params.is_socket(i));
    let builder = match params.sslmode {
        _ if sockets_only => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))),
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = load_roots(params)?;
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| Error::failure(format!("cannot set up TLS verification: {e}")))?;
            if params.sslmode == SslMode::VerifyCa {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(CaOnly(verifier)))
            } else {
                builder.with_webpki_verifier(verifier)
            }
        }
    };
    let cert = if sockets_only {
        None
    } else {
        client_cert(params)?
    };
    let config = match cert {
        Some((certs, key)) => {
            // CertifiedKey::new skips rustls's key/certificate consistency
            // check, which parses the certificate with webpki and so refuses
            // X.509 v1 ones that libpq (and the server) accept; the server
            // checks the certificate itself.
            let signer = key_provider.load_private_key(key).map_err(|e| {
                Error::invalid(format!("the client key cannot be used ({e}): check sslkey"))
            })?;
            let certified = Arc::new(rustls::sign::CertifiedKey::new(certs, signer));
            builder.with_client_cert_resolver(Arc::new(ClientCert(certified)))
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Tls {
        inner: MakeRustlsConnect::new(config),
        strict_names: params.sslmode == SslMode::VerifyFull,
    })
}

/// The client certificate chain and key: `sslcert`/`sslkey` when given (both
/// must be readable), else `~/.postgresql/postgresql.crt` and `.key` when the
/// certificate exists, as libpq does.
fn client_cert(
    params: &ConnParams,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    use rustls::pki_types::pem::PemObject;
    let home = dirs::home_dir().map(|h| h.join(".postgresql"));
    let (cert, explicit) = match &params.sslcert {
        Some(c) => (c.clone(), true),
        None => match &home {
            Some(h) => (h.join("postgresql.crt"), false),
            None => return Ok(None),
        },
    };
    if !explicit && !cert.exists() {
        return Ok(None);
    }
    let key = params
        .sslkey
        .clone()
        .or_else(|| home.as_ref().map(|h| h.join("postgresql.key")))
        .ok_or_else(|| Error::invalid("sslcert is set but sslkey is not: set sslkey"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(Iterator::collect)
        .map_err(|e| {
            Error::invalid(format!(
                "cannot read the client certificate {} ({e}): check sslcert",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::invalid(format!(
            "no PEM certificate in {}: check sslcert",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
        Error::invalid(format!(
            "cannot read the client key {} ({e}): check sslkey",
            key.display()
        ))
    })?;
    Ok(Some((certs, key)))
}

fn load_roots(params: &ConnParams) -> Result<rustls::RootCertStore> {
    use rustls::pki_types::pem::PemObject;
    let path = params
        .sslrootcert
        .clone()
        .or_else(|| dirs::home_dir().map(|h| h.join(".postgresql/root.crt")))
        .ok_or_else(|| {
            Error::invalid(
                "sslmode verify-ca/verify-full needs a root certificate: set sslrootcert",
            )
        })?;
    let mut store = rustls::RootCertStore::empty();
    if path.to_str() == Some("system") {
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(Error::failure(
                "sslrootcert=system, but no certificate was found in the operating system's trust store (install ca-certificates, or set SSL_CERT_FILE)",
            ));
        }
        return Ok(store);
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&path)
        .and_then(Iterator::collect)
        .map_err(|e| {
            Error::invalid(format!(
                "sslmode={} needs the root certificate {}, which cannot be read ({e}): set sslrootcert",
                params.sslmode.as_str(),
                path.display()
            ))
        })?;
    let mut added = 0;
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| Error::invalid(format!("bad certificate in {}: {e}", path.display())))?;
        added += 1;
    }
    if added == 0 {
        return Err(Error::invalid(format!(
            "no PEM certificates found in {}",
            path.display()
        )));
    }
    Ok(store)
}

/// The client certificate of `sslcert`/`sslkey`, offered whenever asked.
#[derive(Debug)]
struct ClientCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name may differ.
#[derive(Debug)]
struct CaOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

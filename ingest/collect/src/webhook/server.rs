//! The webhook's listener: plain HTTP or TLS, with optional client
//! certificates, and a graceful stop.
//!
//! The accept loop is ours rather than `axum::serve` because the handler must
//! know whether *this connection* presented a client certificate that
//! verified against the client CA. The TLS verifier accepts connections
//! without a certificate (so a request without credentials gets a clear 401
//! instead of a failed handshake) and rejects any certificate that does not
//! verify; the result is attached to each request as [`ConnInfo`].
//! On shutdown the loop stops accepting and waits (bounded) for requests in
//! progress, so a batch being published still gets its answer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use lunettes_ingest::Normalizer;
use lunettes_runtime::Shutdown;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::{routes, App, ConnInfo, WebhookConfig};
use crate::publish::Publisher;

/// TLS files of the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
    /// PEM CA bundle that client certificates must chain to; when set, a
    /// verified client certificate authenticates a request.
    pub client_ca: Option<PathBuf>,
}

/// A bound webhook listener, ready to serve.
pub struct WebhookServer {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for WebhookServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookServer")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no PEM certificate found",
        path.display()
    );
    Ok(certs)
}

/// Builds the rustls server configuration from the files.
pub(crate) fn server_config(files: &TlsFiles) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading private key from {}", files.key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots
                    .add(c)
                    .with_context(|| format!("{}: not a usable CA certificate", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .with_context(|| format!("client CA {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("server certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl WebhookServer {
    /// Reads the TLS and token files and binds the listener.
    pub async fn bind(
        config: &WebhookConfig,
        publisher: Arc<Publisher>,
    ) -> anyhow::Result<WebhookServer> {
        let tls = config
            .tls
            .as_ref()
            .map(|files| server_config(files).map(|c| TlsAcceptor::from(Arc::new(c))))
            .transpose()?;
        let token = match &config.token_file {
            None => None,
            Some(p) => {
                let t = std::fs::read_to_string(p)
                    .with_context(|| format!("reading token file {}", p.display()))?;
                let t = t.trim().to_string();
                anyhow::ensure!(!t.is_empty(), "token file {} is empty", p.display());
                Some(t)
            }
        };
        let client_ca = config.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        if token.is_none() && !client_ca {
            tracing::warn!(
                "webhook accepts unauthenticated requests: set --token-file or --client-ca"
            );
        }
        let app = Arc::new(App {
            cluster: config.cluster.clone(),
            normalizer: Mutex::new(Normalizer::new(config.cluster.clone())),
            publisher,
            token,
            client_ca,
            max_body_bytes: config.max_body_bytes,
        });
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding webhook listener {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(WebhookServer {
            listener,
            tls,
            router: routes(app),
            local_addr,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown`, then waits up to `drain` for requests in progress.
    pub async fn serve(self, shutdown: Shutdown, drain: Duration) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            let stop = shutdown.clone().wait();
            let (tcp, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop => break,
            };
            let tls = self.tls.clone();
            let router = self.router.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                match tls {
                    None => {
                        serve_connection(TokioIo::new(tcp), ConnInfo::default(), router, watcher)
                            .await
                    }
                    Some(acceptor) => {
                        let stream = match tokio::time::timeout(
                            Duration::from_secs(10),
                            acceptor.accept(tcp),
                        )
                        .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                        let info = ConnInfo {
                            verified_client_cert: stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .is_some_and(|c| !c.is_empty()),
                        };
                        serve_connection(TokioIo::new(stream), info, router, watcher).await
                    }
                }
            });
        }
        drop(self.listener);
        if tokio::time::timeout(drain, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?drain,
                "webhook requests still running at shutdown deadline"
            );
        }
    }
}

async fn serve_connection<I>(
    io: I,
    info: ConnInfo,
    router: Router,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(info);
        req.map(axum::body::Body::new)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(io, TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "webhook connection ended with an error");
    }
}

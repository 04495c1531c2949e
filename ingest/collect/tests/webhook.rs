//! The audit webhook against a real broker (tansu on loopback): 200 only
//! after Kafka acknowledged the batch, authentication, body limits, client
//! certificates, and a broker outage that loses nothing acknowledged.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{audit_lines, by_dedup, kafka, publisher, read_topic};
use lunettes_collect::webhook::{TlsFiles, WebhookConfig, WebhookServer, DEFAULT_MAX_BODY_BYTES};
use lunettes_collect::{PublishOptions, Publisher};
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::Shutdown;
use lunettes_schemas::Kind;

fn batch(lines: &[String]) -> String {
    format!(
        "{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[{}]}}",
        lines.join(",")
    )
}

async fn start(
    cfg: WebhookConfig,
    publisher: Arc<Publisher>,
) -> (String, lunettes_runtime::shutdown::ShutdownTrigger) {
    let server = WebhookServer::bind(&cfg, publisher).await.expect("bind");
    let addr = server.local_addr();
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(server.serve(shutdown, Duration::from_secs(5)));
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    (
        format!("{scheme}://localhost:{}/audit", addr.port()),
        trigger,
    )
}

fn config(dir: &std::path::Path, max_body: usize) -> WebhookConfig {
    let token = dir.join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    WebhookConfig {
        cluster: "wh".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        token_file: Some(token),
        max_body_bytes: max_body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_200_only_after_ack_and_checks_credentials_and_size() {
    let broker = TestBroker::start();
    let k = kafka(&broker.bootstrap(), "wh-basic", 3);
    let publisher = publisher(&k, PublishOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = start(config(dir.path(), 64 << 10), publisher.clone()).await;
    let http = reqwest::Client::new();

    let mut lines = audit_lines("wh", 10);
    // A malformed item inside a valid batch: dead-lettered, the rest published.
    lines.insert(3, "\"not an audit event\"".into());
    let body = batch(&lines);

    let r = http.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401, "no credentials");
    let r = http
        .post(&url)
        .bearer_auth("wrong")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "wrong token");
    let r = http
        .post(&url)
        .bearer_auth("s3cret-token")
        .body("x".repeat(70 << 10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "above the body limit");
    let r = http
        .post(&url)
        .bearer_auth("s3cret-token")
        .body("this is not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "not JSON");

    let r = http
        .post(&url)
        .bearer_auth("s3cret-token")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["items"], 21);
    assert_eq!(answer["dead_letters"], 1);
    let events = answer["events"].as_u64().unwrap() as usize;
    assert!(
        events >= 20,
        "every create and binding yields HyperEvents: {answer}"
    );

    // 200 came after the acks: everything is already on the topic.
    let metrics = publisher.metrics();
    assert_eq!(
        metrics.events_out.with_label_values(&["wh"]).get() as usize,
        events
    );
    let reads = read_topic(
        &k,
        &k.topics.hyperevents.name,
        events,
        Duration::from_millis(500),
        Duration::from_secs(30),
    );
    let counts = by_dedup(&reads);
    assert_eq!(counts.values().sum::<usize>(), events);
    let got: HashSet<String> = counts.keys().cloned().collect();
    assert_eq!(got, common::expected_dedups("wh", &audit_lines("wh", 10)));
    assert!(counts.values().all(|c| *c == 1), "no duplicates");
    // The Metadata-level binding records carry no uid: the collector resolved
    // it, so each pod's records share one key and one partition.
    let mut partitions: HashMap<String, HashSet<i32>> = HashMap::new();
    for r in &reads {
        let e = r.event();
        assert_eq!(e.kind, Kind::Operation);
        assert!(
            !e.object.uid.is_empty(),
            "uid resolved for {:?}",
            e.operations
        );
        assert_eq!(r.key, e.object.uid);
        partitions
            .entry(e.object.uid.clone())
            .or_default()
            .insert(r.partition);
    }
    assert_eq!(partitions.len(), 10);
    assert!(partitions.values().all(|p| p.len() == 1));
    assert_eq!(metrics.unresolved_uid.with_label_values(&["wh"]).get(), 0);

    let dead = read_topic(
        &k,
        &k.topics.dead_letter.name,
        1,
        Duration::from_millis(300),
        Duration::from_secs(20),
    );
    assert_eq!(dead.len(), 1);
    let d = dead[0].dead_letter();
    assert_eq!(
        (d.cluster.as_str(), d.input.as_str(), d.line),
        ("wh", "webhook", Some(4))
    );
    assert_eq!(d.raw, None, "no raw bytes unless opted in");
    assert_eq!(d.raw_len, "\"not an audit event\"".len() as i64);
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A CA, a server certificate for localhost signed by it, a client
/// certificate signed by it, and a client certificate from another CA.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
    stranger: (String, String),
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let issuer = |name: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
    };
    let ca = issuer("lunettes test CA");
    let other = issuer("some other CA");
    let leaf = |names: Vec<String>, by: &CertifiedIssuer<'_, KeyPair>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, by)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca: ca.pem(),
        server: leaf(vec!["localhost".into()], &ca),
        client: leaf(vec!["kube-apiserver".into()], &ca),
        stranger: leaf(vec!["kube-apiserver".into()], &other),
    }
}

fn tls_client(ca_pem: &str, identity: Option<&(String, String)>) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_authenticates_when_configured() {
    let broker = TestBroker::start();
    let k = kafka(&broker.bootstrap(), "wh-mtls", 2);
    let publisher = publisher(&k, PublishOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let mut cfg = config(dir.path(), DEFAULT_MAX_BODY_BYTES);
    cfg.token_file = None;
    cfg.tls = Some(TlsFiles {
        cert: write(dir.path(), "server.crt", &pki.server.0),
        key: write(dir.path(), "server.key", &pki.server.1),
        client_ca: Some(write(dir.path(), "ca.crt", &pki.ca)),
    });
    let (url, _stop) = start(cfg, publisher).await;
    let body = batch(&audit_lines("mtls", 2));

    let r = tls_client(&pki.ca, Some(&pki.client))
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "certificate signed by the client CA");
    let r = tls_client(&pki.ca, None)
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no client certificate");
    let r = tls_client(&pki.ca, Some(&pki.stranger))
        .post(&url)
        .body(body)
        .send()
        .await;
    assert!(
        r.is_err(),
        "a certificate from another CA fails the handshake: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_gives_5xx_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = common::durable_broker(dir.path());
    let k = kafka(&broker.bootstrap(), "wh-down", 3);
    let opts = PublishOptions {
        ack_timeout: Duration::from_secs(3),
        buffer_wait: Duration::from_secs(2),
        ..Default::default()
    };
    let publisher = publisher(&k, opts).await;
    let mut cfg = config(dir.path(), DEFAULT_MAX_BODY_BYTES);
    cfg.token_file = None;
    let (url, _stop) = start(cfg, publisher).await;
    let http = reqwest::Client::new();

    let first = batch(&audit_lines("before", 5));
    assert_eq!(
        http.post(&url).body(first).send().await.unwrap().status(),
        200
    );

    broker.kill();
    let second = batch(&audit_lines("during", 5));
    let t = Instant::now();
    let r = http.post(&url).body(second.clone()).send().await.unwrap();
    assert!(r.status().is_server_error(), "broker down: {}", r.status());
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "answered within a bounded time: {:?}",
        t.elapsed()
    );

    // The apiserver retries the batch until it gets a 200.
    broker.restart().expect("broker restarts");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = http.post(&url).body(second.clone()).send().await.unwrap();
        let status = r.status();
        if status == 200 {
            break;
        }
        let text = r.text().await.unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "no 200 after the broker came back: {status} {text}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let mut expected = common::expected_dedups("wh", &audit_lines("before", 5));
    expected.extend(common::expected_dedups("wh", &audit_lines("during", 5)));
    let reads = read_topic(
        &k,
        &k.topics.hyperevents.name,
        expected.len(),
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    let counts = by_dedup(&reads);
    let got: HashSet<String> = counts.keys().cloned().collect();
    assert_eq!(
        got, expected,
        "every record of both batches is on the topic"
    );
    let dups: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).collect();
    assert!(dups.is_empty(), "each record exactly once: {dups:?}");
}

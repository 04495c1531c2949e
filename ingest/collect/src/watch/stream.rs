//! One resource of one cluster: raw list + watch, batches, acknowledged
//! resourceVersions.
//!
//! Raw JSON (not typed objects) is read from the apiserver and handed to the
//! normalizer as is, the same bytes `kubectl get -w -o json` would show. A
//! batch of records is published and acknowledged before the
//! resourceVersion after it is persisted, so a restart resumes exactly after
//! what is on the topic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures::{AsyncBufReadExt, StreamExt};
use kube::api::{ListParams, WatchParams};
use lunettes_ingest::Normalizer;
use lunettes_runtime::Shutdown;
use lunettes_schemas::{DeadLetter, HyperEvent};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::state::{SeenSet, VersionStore};
use super::Resource;
use crate::deadletter::dead_letter;
use crate::publish::{PublishError, Publisher};

/// How a watch request ended.
enum WatchEnd {
    /// The server closed the stream (timeout): watch again from the last version.
    Closed,
    /// `410 Gone`: the version is too old, relist.
    Gone,
    /// Shutdown began.
    Shutdown,
}

pub(crate) struct ResourceStream {
    pub cluster: String,
    pub client: kube::Client,
    pub resource: Resource,
    pub normalizer: Arc<Mutex<Normalizer>>,
    pub seen: Arc<Mutex<SeenSet>>,
    pub store: VersionStore,
    pub publisher: Arc<Publisher>,
    pub shutdown: Shutdown,
    pub page_size: u32,
    pub watch_timeout_s: u32,
    pub batch_max: usize,
    pub batch_linger: Duration,
}

#[derive(Default)]
struct Batch {
    events: Vec<HyperEvent>,
    dead: Vec<DeadLetter>,
    records: usize,
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
struct ListPage<'a> {
    metadata: ListMeta,
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct WatchLine<'a> {
    #[serde(rename = "type")]
    type_: String,
    #[serde(borrow)]
    object: &'a RawValue,
}

#[derive(Deserialize, Default)]
struct ObjectMeta {
    #[serde(default)]
    uid: String,
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
}

/// The fields needed to recognize an object: identity, version, Event count.
#[derive(Deserialize, Default)]
struct Probe {
    #[serde(default)]
    kind: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    count: Option<i64>,
    #[serde(default, rename = "deprecatedCount")]
    deprecated_count: Option<i64>,
    #[serde(default)]
    series: Option<Series>,
    // An ERROR watch event's Status.
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize, Default)]
struct Series {
    #[serde(default)]
    count: Option<i64>,
}

impl Probe {
    fn event_key(&self) -> String {
        let count = self
            .series
            .as_ref()
            .and_then(|s| s.count)
            .or(self.count)
            .or(self.deprecated_count)
            .unwrap_or(1);
        format!("{}:{count}", self.metadata.uid)
    }
}

fn is_gone(e: &anyhow::Error) -> bool {
    e.chain().any(
        |c| matches!(c.downcast_ref::<kube::Error>(), Some(kube::Error::Api(s)) if s.code == 410),
    )
}

fn is_shutdown(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<PublishError>(),
        Some(PublishError::Shutdown)
    )
}

impl ResourceStream {
    fn input(&self) -> String {
        format!("watch:{}:{}", self.cluster, self.resource.name())
    }

    /// Lists and watches until shutdown. Only state-file errors are fatal.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut rv = self.store.load(&self.cluster, self.resource.name())?;
        let mut backoff = Duration::from_millis(500);
        loop {
            if self.shutdown.is_triggered() {
                return Ok(());
            }
            let step = match &rv {
                None => self
                    .relist()
                    .await
                    .map(|v| v.map(|v| (WatchEnd::Closed, v))),
                Some(v) => self.watch(v).await.map(|(end, v)| match end {
                    WatchEnd::Shutdown => None,
                    end => Some((end, v)),
                }),
            };
            match step {
                Ok(None) => return Ok(()),
                Ok(Some((WatchEnd::Gone, _))) => {
                    tracing::info!(cluster = %self.cluster, resource = self.resource.name(), "410 Gone: relisting");
                    rv = None;
                }
                Ok(Some((_, v))) => {
                    rv = Some(v);
                    backoff = Duration::from_millis(500);
                }
                Err(e) if is_shutdown(&e) => return Ok(()),
                Err(e) if is_gone(&e) => {
                    tracing::info!(cluster = %self.cluster, resource = self.resource.name(), "410 Gone: relisting");
                    rv = None;
                }
                Err(e) if e.downcast_ref::<StateError>().is_some() => return Err(e),
                Err(e) => {
                    self.publisher.metrics().error("watch");
                    tracing::warn!(cluster = %self.cluster, resource = self.resource.name(), error = %format!("{e:#}"), ?backoff, "list/watch failed; retrying");
                    let wait = self.shutdown.clone().wait();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = wait => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Lists every object (paged), publishing what is new; returns the list's
    /// resourceVersion, or `None` on shutdown.
    async fn relist(&self) -> anyhow::Result<Option<String>> {
        let mut cont: Option<String> = None;
        let input = self.input();
        let mut line = 0u64;
        // Every pod the list holds, to find those deleted while unwatched.
        let mut listed = std::collections::HashSet::new();
        loop {
            let mut lp = ListParams::default().limit(self.page_size);
            if let Some(c) = &cont {
                lp = lp.continue_token(c);
            }
            let req = kube::core::Request::new(self.resource.path()).list(&lp)?;
            let text = self.client.request_text(req).await?;
            let page: ListPage<'_> = serde_json::from_str(&text)
                .with_context(|| format!("{input}: list response is not a list"))?;
            let mut batch = Batch::default();
            for item in &page.items {
                line += 1;
                let probe: Probe = serde_json::from_str(item.get()).unwrap_or_default();
                if self.resource == Resource::Pods && !probe.metadata.uid.is_empty() {
                    listed.insert(probe.metadata.uid.clone());
                }
                // List items usually omit kind/apiVersion; the normalizer needs them.
                let owned;
                let bytes = if probe.kind.is_some() {
                    item.get()
                } else {
                    owned = with_type(
                        item.get(),
                        self.resource.kind(),
                        self.resource.api_version(),
                    );
                    owned.as_str()
                };
                self.add(&mut batch, &input, line, bytes.as_bytes(), &probe);
            }
            self.flush(&mut batch).await?;
            match page.metadata.continue_token {
                Some(c) if !c.is_empty() => cont = Some(c),
                _ => {
                    let rv = page.metadata.resource_version;
                    if self.resource == Resource::Pods {
                        self.report_gone(&listed, &rv).await?;
                    }
                    self.persist(&rv)?;
                    return Ok(Some(rv));
                }
            }
        }
    }

    /// Publishes the deletion of every pod seen before but absent from the
    /// complete list just read (deleted during a watch gap, so no `DELETED`
    /// event will come), before the list's version is persisted.
    async fn report_gone(
        &self,
        listed: &std::collections::HashSet<String>,
        list_version: &str,
    ) -> anyhow::Result<()> {
        let now_us = crate::deadletter::now_us();
        let mut batch = Batch::default();
        let n = self
            .normalizer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pods_missing_from_list(listed, now_us, list_version, &mut batch.events);
        if n > 0 {
            tracing::info!(cluster = %self.cluster, pods = n, "pods deleted while the watch was away");
            self.publisher
                .metrics()
                .gone_pods
                .with_label_values(&[self.cluster.as_str()])
                .inc_by(n as u64);
        }
        self.flush(&mut batch).await
    }

    /// One watch request from `rv`; returns how it ended and the last
    /// acknowledged resourceVersion.
    async fn watch(&self, rv: &str) -> anyhow::Result<(WatchEnd, String)> {
        let wp = WatchParams::default().timeout(self.watch_timeout_s);
        let req = kube::core::Request::new(self.resource.path()).watch(&wp, rv)?;
        let body = self.client.request_stream(req).await?;
        let mut lines = body.lines();
        let input = self.input();
        let mut acked = rv.to_string();
        let mut pending: Option<String> = None;
        let mut batch = Batch::default();
        let mut line_no = 0u64;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let stop = self.shutdown.clone().wait();
            let linger = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                _ = stop => {
                    self.commit(&mut batch, &mut pending, &mut acked).await?;
                    return Ok((WatchEnd::Shutdown, acked));
                }
                _ = linger => {
                    self.commit(&mut batch, &mut pending, &mut acked).await?;
                    deadline = None;
                    continue;
                }
                next = lines.next() => next,
            };
            let text = match next {
                None => {
                    self.commit(&mut batch, &mut pending, &mut acked).await?;
                    return Ok((WatchEnd::Closed, acked));
                }
                Some(Err(e)) => {
                    self.commit(&mut batch, &mut pending, &mut acked).await?;
                    return Err(anyhow::Error::from(e)
                        .context(format!("{input}: reading the watch stream")));
                }
                Some(Ok(t)) => t,
            };
            if text.trim().is_empty() {
                continue;
            }
            line_no += 1;
            let parsed: WatchLine<'_> = match serde_json::from_str(&text) {
                Ok(w) => w,
                Err(e) => {
                    let err = lunettes_ingest::InputError::new(
                        &input,
                        Some(line_no),
                        format!("watch event is not JSON: {e}"),
                    );
                    batch.dead.push(dead_letter(
                        &self.cluster,
                        &err,
                        text.as_bytes(),
                        self.publisher.options().dead_letter_raw,
                    ));
                    continue;
                }
            };
            let probe: Probe = serde_json::from_str(parsed.object.get()).unwrap_or_default();
            match parsed.type_.as_str() {
                "BOOKMARK" => {
                    pending = Some(probe.metadata.resource_version.clone());
                    self.commit(&mut batch, &mut pending, &mut acked).await?;
                    deadline = None;
                }
                "ERROR" => {
                    self.commit(&mut batch, &mut pending, &mut acked).await?;
                    if probe.code == Some(410) {
                        return Ok((WatchEnd::Gone, acked));
                    }
                    anyhow::bail!(
                        "{input}: watch error {}: {}",
                        probe.code.unwrap_or(0),
                        probe.message.as_deref().unwrap_or("")
                    );
                }
                kind => {
                    if !probe.metadata.resource_version.is_empty() {
                        pending = Some(probe.metadata.resource_version.clone());
                    }
                    // An Event expiring (TTL) is not news about a pod.
                    if !(kind == "DELETED" && self.resource.is_event()) {
                        self.add(&mut batch, &input, line_no, text.as_bytes(), &probe);
                    }
                    if batch.records >= self.batch_max {
                        self.commit(&mut batch, &mut pending, &mut acked).await?;
                        deadline = None;
                    } else if deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + self.batch_linger);
                    }
                }
            }
        }
    }

    /// Normalizes one object (or watch event) into `batch`, unless it is an
    /// Event already published.
    fn add(&self, batch: &mut Batch, input: &str, line: u64, bytes: &[u8], probe: &Probe) {
        if self.resource.is_event() && !probe.metadata.uid.is_empty() {
            let key = probe.event_key();
            if !self
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(&key)
            {
                return;
            }
        }
        batch.records += 1;
        let result = self
            .normalizer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .normalize_line(input, line, bytes, &mut batch.events);
        if let Err(e) = result {
            batch.dead.push(dead_letter(
                &self.cluster,
                &e,
                bytes,
                self.publisher.options().dead_letter_raw,
            ));
        }
    }

    /// Publishes the batch; true when there was something.
    async fn flush(&self, batch: &mut Batch) -> anyhow::Result<()> {
        if batch.records > 0 {
            self.publisher
                .metrics()
                .records_in
                .with_label_values(&[self.cluster.as_str(), "watch"])
                .inc_by(batch.records as u64);
        }
        if !batch.events.is_empty() || !batch.dead.is_empty() {
            self.publisher
                .publish_until_acked(&batch.events, &batch.dead, &self.shutdown)
                .await?;
        }
        *batch = Batch::default();
        Ok(())
    }

    /// Publishes the batch, then persists the version after it.
    async fn commit(
        &self,
        batch: &mut Batch,
        pending: &mut Option<String>,
        acked: &mut String,
    ) -> anyhow::Result<()> {
        self.flush(batch).await?;
        if let Some(v) = pending.take() {
            if !v.is_empty() && v != *acked {
                self.persist(&v)?;
                *acked = v;
            }
        }
        Ok(())
    }

    fn persist(&self, rv: &str) -> anyhow::Result<()> {
        self.store
            .store(&self.cluster, self.resource.name(), rv)
            .map_err(|e| anyhow::Error::new(StateError(format!("{e:#}"))))
    }
}

/// A state file could not be written: fatal, as positions would be lost.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StateError(String);

/// `item` with `kind` and `apiVersion` added at the front.
fn with_type(item: &str, kind: &str, api_version: &str) -> String {
    let body = item
        .trim_start()
        .strip_prefix('{')
        .unwrap_or(item)
        .trim_start();
    let sep = if body.starts_with('}') { "" } else { "," };
    format!("{{\"kind\":\"{kind}\",\"apiVersion\":\"{api_version}\"{sep}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_type_meta() {
        let v: serde_json::Value =
            serde_json::from_str(&with_type(r#" {"metadata":{"name":"a"}}"#, "Pod", "v1")).unwrap();
        assert_eq!(v["kind"], "Pod");
        assert_eq!(v["metadata"]["name"], "a");
        let v: serde_json::Value =
            serde_json::from_str(&with_type("{}", "Event", "events.k8s.io/v1")).unwrap();
        assert_eq!(v["apiVersion"], "events.k8s.io/v1");
    }

    #[test]
    fn event_keys_use_series_count() {
        let p: Probe = serde_json::from_str(
            r#"{"metadata":{"uid":"u"},"series":{"count":4},"deprecatedCount":1}"#,
        )
        .unwrap();
        assert_eq!(p.event_key(), "u:4");
        let p: Probe = serde_json::from_str(r#"{"metadata":{"uid":"u"},"count":2}"#).unwrap();
        assert_eq!(p.event_key(), "u:2");
        let p: Probe = serde_json::from_str(r#"{"metadata":{"uid":"u"}}"#).unwrap();
        assert_eq!(p.event_key(), "u:1");
    }
}

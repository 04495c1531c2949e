//! One simulated pod and the apiserver requests made about it.
//!
//! [`PodSim`] holds the pod's state (spec, status, finalizers, events sent so
//! far) and renders each request as an audit record, adding the operations
//! the record implies to the pod's list. The timeline that decides *when*
//! each request happens lives in `lifecycle` and `faults`.

use crate::audit::{status_object, success_status, Actor, AuditRecord, Failure, ObjectRef};
use crate::cluster::{ClusterProfile, Workload, WorkloadKind};
use crate::events::EventState;
use crate::json::{object, Obj};
use crate::rng::SimRng;
use crate::spec::{Admission, PodSpec};
use crate::status::{status_patch, PodStatus};

/// One line of output: the audit record, and the Event object a core v1
/// watch would deliver for it (event writes only).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub stage_us: i64,
    pub audit: String,
    pub watch: Option<String>,
}

/// Finalizer the job controller puts on every job pod (Kubernetes 1.26+).
pub(crate) const JOB_TRACKING: &str = "batch.kubernetes.io/job-tracking";

/// State and emitters of one pod.
pub(crate) struct PodSim<'c> {
    pub cl: &'c ClusterProfile,
    pub wl: &'c Workload,
    pub rng: SimRng,
    pub records: Vec<Record>,
    pub ops: Vec<String>,
    pub name: String,
    pub generate_name: String,
    pub uid: String,
    pub spec: PodSpec,
    pub owner_kind: &'static str,
    pub owner_name: String,
    pub owner_uid: String,
    pub token_volume: String,
    pub node: Option<usize>,
    pub status: PodStatus,
    pub sent: PodStatus,
    pub finalizers: Vec<String>,
    pub created_us: i64,
    /// `(deletionTimestamp, deletionGracePeriodSeconds)` once deleted.
    pub deletion: Option<(i64, i64)>,
    pub resource_version: i64,
    pub(crate) events: Vec<EventState>,
    spec_cache: Option<(Option<usize>, String)>,
    pub(crate) tokens: f64,
    last_kubelet_write: i64,
    pub(crate) tokens_at: i64,
}

impl<'c> PodSim<'c> {
    /// A pod of workload `wl` about to be created.
    pub(crate) fn new(cl: &'c ClusterProfile, wl: &'c Workload, mut rng: SimRng) -> Self {
        let (owner_kind, owner_name, owner_uid, generate_name) = match wl.kind {
            WorkloadKind::Service => {
                let rs = format!("{}-{}", wl.name, wl.template_hash);
                (
                    "ReplicaSet",
                    rs.clone(),
                    wl.owner_uid.clone(),
                    format!("{rs}-"),
                )
            }
            WorkloadKind::Job => {
                let job = format!("{}-{}", wl.name, rng.range(29_000_000, 29_999_999));
                ("Job", job.clone(), rng.uuid(), format!("{job}-"))
            }
        };
        let name = format!("{generate_name}{}", rng.name_suffix(5));
        let uid = rng.uuid();
        let token_volume = format!("kube-api-access-{}", rng.name_suffix(5));
        let status = PodStatus::new(wl.spec.qos_class());
        PodSim {
            cl,
            wl,
            spec: wl.spec.clone(),
            rng,
            records: Vec::new(),
            ops: Vec::new(),
            name,
            generate_name,
            uid,
            owner_kind,
            owner_name,
            owner_uid,
            token_volume,
            node: None,
            sent: status.clone(),
            status,
            finalizers: if wl.kind == WorkloadKind::Job {
                vec![JOB_TRACKING.to_string()]
            } else {
                Vec::new()
            },
            created_us: 0,
            deletion: None,
            resource_version: 0,
            events: Vec::new(),
            spec_cache: None,
            tokens: crate::events::EVENT_BURST,
            last_kubelet_write: i64::MIN / 2,
            tokens_at: 0,
        }
    }

    /// Namespace.
    pub(crate) fn ns(&self) -> &'static str {
        self.wl.namespace
    }

    /// Apiserver handling latency of one request, microseconds.
    pub(crate) fn latency(&mut self) -> i64 {
        self.rng.lognormal_us(4.0, 0.6, 1.0, 40.0)
    }

    pub(crate) fn next_rv(&mut self, stage_us: i64) -> String {
        // Opaque to clients; derived from the write time so that it grows in
        // write order across the cluster although pods are simulated apart.
        let rv = stage_us - 1_600_000_000_000_000;
        self.resource_version = rv;
        rv.to_string()
    }

    pub(crate) fn push(&mut self, stage_us: i64, audit: String, watch: Option<String>) {
        self.records.push(Record {
            stage_us,
            audit,
            watch,
        });
    }

    // ----- actors -------------------------------------------------------

    pub(crate) fn node_name(&self) -> &str {
        self.node.map_or("", |i| self.cl.nodes[i].name.as_str())
    }

    /// The kubelet of the pod's node (of the first node before binding).
    pub(crate) fn kubelet_actor(&self) -> &'c Actor {
        &self.cl.kubelet_actors[self.node.unwrap_or(0)]
    }

    /// A kube-controller-manager controller (`replicaset-controller` or
    /// `job-controller`).
    pub(crate) fn controller_actor(&self, controller: &str) -> &'c Actor {
        if controller == "job-controller" {
            &self.cl.job_controller
        } else {
            &self.cl.replicaset_controller
        }
    }

    /// The scheduler.
    pub(crate) fn scheduler_actor(&self) -> &'c Actor {
        &self.cl.scheduler
    }

    /// The controller that creates this pod.
    pub(crate) fn creator(&self) -> &'static str {
        match self.wl.kind {
            WorkloadKind::Service => "replicaset-controller",
            WorkloadKind::Job => "job-controller",
        }
    }

    // ----- object rendering ---------------------------------------------

    fn write_metadata(&self, o: &mut Obj<'_>, stored: bool) {
        o.obj("metadata", |m| {
            if stored {
                m.id("name", &self.name);
            }
            m.id("generateName", &self.generate_name)
                .id("namespace", self.ns());
            if stored {
                m.id("uid", &self.uid)
                    .id("resourceVersion", &self.resource_version.to_string())
                    .secs("creationTimestamp", self.created_us);
                if let Some((ts, grace)) = self.deletion {
                    m.secs("deletionTimestamp", ts)
                        .int("deletionGracePeriodSeconds", grace);
                }
            } else {
                m.null("creationTimestamp");
            }
            m.obj("labels", |l| match self.wl.kind {
                WorkloadKind::Service => {
                    l.id("app", self.wl.name)
                        .id("pod-template-hash", &self.wl.template_hash);
                }
                WorkloadKind::Job => {
                    l.id("batch.kubernetes.io/controller-uid", &self.owner_uid)
                        .id("batch.kubernetes.io/job-name", &self.owner_name)
                        .id("controller-uid", &self.owner_uid)
                        .id("job-name", &self.owner_name);
                }
            });
            m.arr("ownerReferences", |a| {
                a.obj(|r| {
                    r.id(
                        "apiVersion",
                        if self.owner_kind == "Job" {
                            "batch/v1"
                        } else {
                            "apps/v1"
                        },
                    )
                    .id("kind", self.owner_kind)
                    .id("name", &self.owner_name)
                    .id("uid", &self.owner_uid)
                    .bool("controller", true)
                    .bool("blockOwnerDeletion", true);
                });
            });
            if !self.finalizers.is_empty() {
                m.strs("finalizers", &self.finalizers);
            }
        });
    }

    /// The pod as the controller sends it.
    fn request_pod(&self) -> String {
        object(|o| {
            o.id("kind", "Pod").id("apiVersion", "v1");
            self.write_metadata(o, false);
            o.obj("spec", |s| self.spec.write(s, None));
            o.obj("status", |_| {});
        })
    }

    /// The stored spec, rendered once per binding state: every status write
    /// returns the whole pod, and re-rendering an unchanged spec each time
    /// was most of the simulator's cost.
    fn stored_spec(&mut self) -> &str {
        if self
            .spec_cache
            .as_ref()
            .is_none_or(|(n, _)| *n != self.node)
        {
            let node = self.node.map(|i| self.cl.nodes[i].name.as_str());
            let adm = Admission {
                token_volume: &self.token_volume,
                node,
            };
            let json = object(|o| self.spec.write(o, Some(&adm)));
            self.spec_cache = Some((self.node, json));
        }
        self.spec_cache.as_ref().map_or("{}", |(_, s)| s.as_str())
    }

    /// The pod as stored now.
    pub(crate) fn stored_pod(&mut self) -> String {
        self.stored_spec();
        let spec = self.spec_cache.as_ref().map_or("{}", |(_, s)| s.as_str());
        let mut out = String::with_capacity(spec.len() + 2048);
        let mut o = Obj::open(&mut out);
        o.id("kind", "Pod").id("apiVersion", "v1");
        self.write_metadata(&mut o, true);
        o.raw("spec", spec);
        o.obj("status", |s| self.sent.write_full(s));
        o.close();
        out
    }

    fn pod_uri(&self, sub: &str) -> String {
        format!("/api/v1/namespaces/{}/pods/{}{sub}", self.ns(), self.name)
    }

    fn pod_ref(&self, sub: Option<&'static str>) -> ObjectRef<'_> {
        ObjectRef {
            resource: "pods",
            subresource: sub,
            namespace: self.ns(),
            name: Some(&self.name),
            uid: Some(&self.uid),
            api_group: None,
            api_version: "v1",
        }
    }

    // ----- pod requests -------------------------------------------------

    /// A successful create; returns the stage time.
    pub(crate) fn create(&mut self, t_req: i64) -> i64 {
        let stage = t_req + self.rng.lognormal_us(9.0, 0.5, 3.0, 60.0);
        self.created_us = stage;
        let request = self.request_pod();
        self.next_rv(stage);
        let response = self.stored_pod();
        let actor = self.controller_actor(self.creator());
        let rec = AuditRecord {
            audit_id: self.rng.uuid(),
            request_uri: format!("/api/v1/namespaces/{}/pods", self.ns()),
            verb: "create",
            actor,
            object_ref: ObjectRef {
                resource: "pods",
                subresource: None,
                namespace: self.ns(),
                name: Some(&self.name),
                uid: None,
                api_group: None,
                api_version: "v1",
            },
            code: 201,
            failure: None,
            request_object: Some(&request),
            response_object: Some(&response),
            received_us: t_req,
            stage_us: stage,
            extra_annotations: &[(
                "pod-security.kubernetes.io/enforce-policy",
                "baseline:latest",
            )],
        }
        .render();
        self.push(stage, rec, None);
        self.ops.push("pod:create:success".into());
        self.ops.push("schedule:default-scheduler:entry".into());
        stage
    }

    /// A rejected create; returns the stage time.
    pub(crate) fn create_failed(
        &mut self,
        t_req: i64,
        code: i64,
        reason: &str,
        message: &str,
    ) -> i64 {
        let stage = t_req + self.rng.lognormal_us(12.0, 0.6, 3.0, 200.0);
        self.created_us = stage;
        let request = self.request_pod();
        let response = status_object(code, reason, message, &self.name);
        let actor = self.controller_actor(self.creator());
        let rec = AuditRecord {
            audit_id: self.rng.uuid(),
            request_uri: format!("/api/v1/namespaces/{}/pods", self.ns()),
            verb: "create",
            actor,
            object_ref: ObjectRef {
                resource: "pods",
                subresource: None,
                namespace: self.ns(),
                name: None,
                uid: None,
                api_group: None,
                api_version: "v1",
            },
            code,
            failure: Some(Failure { reason, message }),
            request_object: Some(&request),
            response_object: Some(&response),
            received_us: t_req,
            stage_us: stage,
            extra_annotations: &[],
        }
        .render();
        self.push(stage, rec, None);
        self.ops.push("pod:create:failed".into());
        stage
    }

    /// The scheduler binds the pod to `node`; returns the stage time.
    pub(crate) fn bind(&mut self, t_req: i64, node: usize) -> i64 {
        let stage = t_req + self.latency();
        self.node = Some(node);
        let node_name = self.cl.nodes[node].name.clone();
        let request = object(|o| {
            o.id("kind", "Binding")
                .id("apiVersion", "v1")
                .obj("metadata", |m| {
                    m.id("name", &self.name)
                        .id("namespace", self.ns())
                        .id("uid", &self.uid)
                        .null("creationTimestamp");
                })
                .obj("target", |t| {
                    t.id("kind", "Node").id("name", &node_name);
                });
        });
        let actor = self.scheduler_actor();
        let rec = AuditRecord {
            audit_id: self.rng.uuid(),
            request_uri: self.pod_uri("/binding"),
            verb: "create",
            actor,
            object_ref: self.pod_ref(Some("binding")),
            code: 201,
            failure: None,
            request_object: Some(&request),
            response_object: Some(success_status()),
            received_us: t_req,
            stage_us: stage,
            extra_annotations: &[],
        }
        .render();
        self.push(stage, rec, None);
        self.next_rv(stage);
        self.ops.push("schedule:binding:success".into());
        // The binding registry sets PodScheduled=True itself.
        self.status
            .set_condition("PodScheduled", true, None, None, stage);
        self.sent = self.status.clone();
        stage
    }

    /// Writes the status change since the last write, as the kubelet does:
    /// a strategic merge patch, or a PUT of the whole pod on clusters that
    /// send status by update. No-op when nothing changed.
    ///
    /// The kubelet's status manager sends one write at a time and waits for
    /// the answer, so a write starts after the previous one completed;
    /// returns the request time actually used.
    pub(crate) fn kubelet_status(&mut self, t_req: i64) -> i64 {
        let t_req = t_req.max(self.last_kubelet_write + 1000);
        if self.status == self.sent {
            return t_req;
        }
        let actor = self.kubelet_actor();
        if self.cl.status_by_update {
            self.sent = self.status.clone();
            let request = self.stored_pod();
            let stage = t_req + self.latency();
            self.next_rv(stage);
            let response = self.stored_pod();
            self.sent.full_ops(&mut self.ops);
            let rec = AuditRecord {
                audit_id: self.rng.uuid(),
                request_uri: self.pod_uri("/status"),
                verb: "update",
                actor,
                object_ref: self.pod_ref(Some("status")),
                code: 200,
                failure: None,
                request_object: Some(&request),
                response_object: Some(&response),
                received_us: t_req,
                stage_us: stage,
                extra_annotations: &[],
            }
            .render();
            self.push(stage, rec, None);
            self.last_kubelet_write = stage;
        } else if let Some(stage) = self.status_patch_by(t_req, actor) {
            self.last_kubelet_write = stage;
        }
        t_req
    }

    /// A status patch by `actor` (the kubelet, or the scheduler for
    /// PodScheduled=False and DisruptionTarget); returns its stage time, or
    /// `None` when nothing changed.
    pub(crate) fn status_patch_by(&mut self, t_req: i64, actor: &Actor) -> Option<i64> {
        let body = status_patch(&self.uid, &self.sent, &self.status, &mut self.ops)?;
        self.sent = self.status.clone();
        let stage = t_req + self.latency();
        self.next_rv(stage);
        let response = self.stored_pod();
        let rec = AuditRecord {
            audit_id: self.rng.uuid(),
            request_uri: self.pod_uri("/status"),
            verb: "patch",
            actor,
            object_ref: self.pod_ref(Some("status")),
            code: 200,
            failure: None,
            request_object: Some(&body),
            response_object: Some(&response),
            received_us: t_req,
            stage_us: stage,
            extra_annotations: &[],
        }
        .render();
        self.push(stage, rec, None);
        Some(stage)
    }

    /// A controller adds (`add`) or removes a finalizer with a patch.
    pub(crate) fn finalizer_patch(
        &mut self,
        t_req: i64,
        finalizer: &str,
        add: bool,
        actor: &Actor,
    ) {
        let body = object(|o| {
            o.obj("metadata", |m| {
                if add {
                    m.strs("finalizers", &[finalizer]);
                } else {
                    m.strs("$deleteFromPrimitiveList/finalizers", &[finalizer]);
                }
            });
        });
        if add {
            self.finalizers.push(finalizer.to_string());
        } else {
            self.finalizers.retain(|f| f != finalizer);
        }
        let stage = t_req + self.latency();
        self.next_rv(stage);
        let response = self.stored_pod();
        let rec = AuditRecord {
            audit_id: self.rng.uuid(),
            request_uri: self.pod_uri(""),
            verb: "patch",
            actor,
            object_ref: self.pod_ref(None),
            code: 200,
            failure: None,
            request_object: Some(&body),
            response_object: Some(&response),
            received_us: t_req,
            stage_us: stage,
            extra_annotations: &[],
        }
        .render();
        self.push(stage, rec, None);
        self.ops.push(format!(
            "finalizer:{finalizer}:{}",
            if add { "add" } else { "delete" }
        ));
    }

    /// A delete with `grace` seconds; returns the stage time. The kubelet's
    /// final delete uses grace 0. The response is the pod as stored after the
    /// request (the object is gone only when no finalizer remains and grace is 0).
    pub(crate) fn delete(
        &mut self,
        t_req: i64,
        grace: i64,
        actor: &Actor,
        by_kubelet: bool,
    ) -> i64 {
        let stage = t_req + self.latency();
        let grace = if self.node.is_none() { 0 } else { grace };
        let ts = match self.deletion {
            Some((ts, _)) if grace > 0 => ts,
            _ => stage + grace * 1_000_000,
        };
        self.deletion = Some((ts, grace));
        let request = object(|o| {
            o.id("kind", "DeleteOptions")
                .id("apiVersion", "meta.k8s.io/__internal");
            if by_kubelet {
                o.int("gracePeriodSeconds", 0).obj("preconditions", |p| {
                    p.id("uid", &self.uid);
                });
            } else {
                o.id("propagationPolicy", "Background");
            }
        });
        self.next_rv(stage);
        let response = self.stored_pod();
        let rec = AuditRecord {
            audit_id: self.rng.uuid(),
            request_uri: self.pod_uri(""),
            verb: "delete",
            actor,
            object_ref: self.pod_ref(None),
            code: 200,
            failure: None,
            request_object: Some(&request),
            response_object: Some(&response),
            received_us: t_req,
            stage_us: stage,
            extra_annotations: &[],
        }
        .render();
        self.push(stage, rec, None);
        let gone = grace == 0 && self.finalizers.is_empty();
        self.ops.push(
            if gone {
                "pod:deleted:success"
            } else {
                "pod:delete:success"
            }
            .into(),
        );
        stage
    }
}

//! Pod specs: the model the simulator reasons about and its JSON rendering.
//!
//! A spec is rendered twice per create: as the controller sends it (the
//! template, already defaulted by the Deployment/Job admission) and as the
//! apiserver answers it (plus the service-account token volume, default
//! tolerations, priority). Faults that need a spec feature (a PVC, a probe, a
//! postStart hook, an env reference) add it here so the logs stay coherent.

use crate::json::Obj;

/// An HTTP readiness probe.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probe {
    pub path: &'static str,
    pub port: u16,
    pub initial_delay_s: i64,
    pub period_s: i64,
}

/// One container of the spec.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub pull_always: bool,
    pub cpu_m: u32,
    pub mem_mi: u32,
    pub port: Option<u16>,
    pub readiness: Option<Probe>,
    pub post_start: bool,
    /// `(configMap, key)` read through `env.valueFrom.configMapKeyRef`.
    pub env_ref: Option<(String, String)>,
    /// Literal env vars. Values never leave the normalizer (redaction).
    pub env_plain: Vec<(&'static str, String)>,
    /// `(volume, mountPath, readOnly)`.
    pub mounts: Vec<(String, String, bool)>,
    pub command: Vec<String>,
}

/// Where a volume comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum VolumeSource {
    ConfigMap(String),
    Secret(String),
    Pvc(String),
    EmptyDir,
}

/// The parts of a pod spec the simulator varies.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodSpec {
    pub containers: Vec<ContainerSpec>,
    pub init_containers: Vec<ContainerSpec>,
    pub volumes: Vec<(String, VolumeSource)>,
    pub restart_policy: &'static str,
    pub host_network: bool,
    pub node_selector: Option<(String, String)>,
    pub service_account: String,
    pub grace_s: i64,
    pub priority_class: Option<&'static str>,
}

/// Per-pod values the apiserver fills in at admission.
pub(crate) struct Admission<'a> {
    /// Name of the projected service-account token volume.
    pub token_volume: &'a str,
    /// Bound node, once scheduled.
    pub node: Option<&'a str>,
}

impl PodSpec {
    /// QoS class as the apiserver computes it (requests only, no limits
    /// here, so Burstable unless nothing is requested).
    pub(crate) fn qos_class(&self) -> &'static str {
        if self
            .containers
            .iter()
            .chain(&self.init_containers)
            .all(|c| c.cpu_m == 0 && c.mem_mi == 0)
        {
            "BestEffort"
        } else {
            "Burstable"
        }
    }

    /// Writes the `spec` object members. `admission` is `None` for the
    /// controller's request and `Some` for the stored pod.
    pub(crate) fn write(&self, o: &mut Obj<'_>, admission: Option<&Admission<'_>>) {
        let token = admission.map(|a| a.token_volume);
        o.arr("volumes", |a| {
            for (name, src) in &self.volumes {
                a.obj(|v| {
                    v.id("name", name);
                    match src {
                        VolumeSource::ConfigMap(cm) => v.obj("configMap", |c| {
                            c.id("name", cm).int("defaultMode", 420);
                        }),
                        VolumeSource::Secret(s) => v.obj("secret", |c| {
                            c.id("secretName", s).int("defaultMode", 420);
                        }),
                        VolumeSource::Pvc(claim) => v.obj("persistentVolumeClaim", |c| {
                            c.id("claimName", claim);
                        }),
                        VolumeSource::EmptyDir => v.obj("emptyDir", |_| {}),
                    };
                });
            }
            if let Some(token) = token {
                a.obj(|v| {
                    v.id("name", token).obj("projected", |p| {
                        p.arr("sources", |s| {
                            s.obj(|x| {
                                x.obj("serviceAccountToken", |t| {
                                    t.int("expirationSeconds", 3607).id("path", "token");
                                });
                            });
                            s.obj(|x| {
                                x.obj("configMap", |c| {
                                    c.id("name", "kube-root-ca.crt").arr("items", |i| {
                                        i.obj(|k| {
                                            k.id("key", "ca.crt").id("path", "ca.crt");
                                        });
                                    });
                                });
                            });
                            s.obj(|x| {
                                x.obj("downwardAPI", |d| {
                                    d.arr("items", |i| {
                                        i.obj(|k| {
                                            k.obj("fieldRef", |f| {
                                                f.id("apiVersion", "v1")
                                                    .id("fieldPath", "metadata.namespace");
                                            })
                                            .id("path", "namespace");
                                        });
                                    });
                                });
                            });
                        })
                        .int("defaultMode", 420);
                    });
                });
            }
        });
        if !self.init_containers.is_empty() {
            o.arr("initContainers", |a| {
                for c in &self.init_containers {
                    a.obj(|co| write_container(co, c, token));
                }
            });
        }
        o.arr("containers", |a| {
            for c in &self.containers {
                a.obj(|co| write_container(co, c, token));
            }
        });
        o.id("restartPolicy", self.restart_policy)
            .int("terminationGracePeriodSeconds", self.grace_s)
            .id("dnsPolicy", "ClusterFirst");
        if let Some((k, v)) = &self.node_selector {
            o.obj("nodeSelector", |n| {
                n.id(k, v);
            });
        }
        o.id("serviceAccountName", &self.service_account);
        if let Some(a) = admission {
            o.id("serviceAccount", &self.service_account);
            if let Some(node) = a.node {
                o.id("nodeName", node);
            }
        }
        if self.host_network {
            o.bool("hostNetwork", true);
        }
        o.obj("securityContext", |_| {})
            .id("schedulerName", "default-scheduler");
        if admission.is_some() {
            o.arr("tolerations", |t| {
                for key in [
                    "node.kubernetes.io/not-ready",
                    "node.kubernetes.io/unreachable",
                ] {
                    t.obj(|x| {
                        x.id("key", key)
                            .id("operator", "Exists")
                            .id("effect", "NoExecute")
                            .int("tolerationSeconds", 300);
                    });
                }
            });
        }
        if let Some(pc) = self.priority_class {
            o.id("priorityClassName", pc);
        }
        if admission.is_some() {
            o.int(
                "priority",
                if self.priority_class.is_some() {
                    1000
                } else {
                    0
                },
            )
            .bool("enableServiceLinks", true)
            .id("preemptionPolicy", "PreemptLowerPriority");
        }
    }
}

fn quantity_cpu(m: u32) -> String {
    if m % 1000 == 0 {
        format!("{}", m / 1000)
    } else {
        format!("{m}m")
    }
}

fn quantity_mem(mi: u32) -> String {
    if mi % 1024 == 0 {
        format!("{}Gi", mi / 1024)
    } else {
        format!("{mi}Mi")
    }
}

fn write_container(o: &mut Obj<'_>, c: &ContainerSpec, token: Option<&str>) {
    o.id("name", &c.name).id("image", &c.image);
    if !c.command.is_empty() {
        o.strs("command", &c.command);
    }
    if let Some(p) = c.port {
        o.arr("ports", |a| {
            a.obj(|x| {
                x.id("name", "http")
                    .int("containerPort", i64::from(p))
                    .id("protocol", "TCP");
            });
        });
    }
    if !c.env_plain.is_empty() || c.env_ref.is_some() {
        o.arr("env", |a| {
            for (k, v) in &c.env_plain {
                a.obj(|e| {
                    e.id("name", k).id("value", v);
                });
            }
            if let Some((cm, key)) = &c.env_ref {
                a.obj(|e| {
                    e.id("name", &key.to_ascii_uppercase())
                        .obj("valueFrom", |vf| {
                            vf.obj("configMapKeyRef", |r| {
                                r.id("name", cm).id("key", key);
                            });
                        });
                });
            }
        });
    }
    o.obj("resources", |r| {
        if c.cpu_m > 0 || c.mem_mi > 0 {
            r.obj("requests", |q| {
                if c.cpu_m > 0 {
                    q.id("cpu", &quantity_cpu(c.cpu_m));
                }
                if c.mem_mi > 0 {
                    q.id("memory", &quantity_mem(c.mem_mi));
                }
            });
        }
    });
    if !c.mounts.is_empty() || token.is_some() {
        o.arr("volumeMounts", |a| {
            for (vol, path, ro) in &c.mounts {
                a.obj(|m| {
                    m.id("name", vol).id("mountPath", path);
                    if *ro {
                        m.bool("readOnly", true);
                    }
                });
            }
            if let Some(t) = token {
                a.obj(|m| {
                    m.id("name", t)
                        .bool("readOnly", true)
                        .id("mountPath", "/var/run/secrets/kubernetes.io/serviceaccount");
                });
            }
        });
    }
    if let Some(p) = &c.readiness {
        o.obj("readinessProbe", |r| {
            r.obj("httpGet", |h| {
                h.id("path", p.path)
                    .int("port", i64::from(p.port))
                    .id("scheme", "HTTP");
            })
            .int("initialDelaySeconds", p.initial_delay_s)
            .int("timeoutSeconds", 1)
            .int("periodSeconds", p.period_s)
            .int("successThreshold", 1)
            .int("failureThreshold", 3);
        });
    }
    if c.post_start {
        o.obj("lifecycle", |l| {
            l.obj("postStart", |p| {
                p.obj("exec", |e| {
                    e.strs(
                        "command",
                        &["/bin/sh", "-c", "/opt/app/bin/warm-cache --wait"],
                    );
                });
            });
        });
    }
    o.id("terminationMessagePath", "/dev/termination-log")
        .id("terminationMessagePolicy", "File")
        .id(
            "imagePullPolicy",
            if c.pull_always {
                "Always"
            } else {
                "IfNotPresent"
            },
        );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::object;

    fn sample() -> PodSpec {
        PodSpec {
            containers: vec![ContainerSpec {
                name: "api".into(),
                image: "nginx:1.27.2".into(),
                pull_always: false,
                cpu_m: 250,
                mem_mi: 1024,
                port: Some(8080),
                readiness: Some(Probe {
                    path: "/healthz",
                    port: 8080,
                    initial_delay_s: 2,
                    period_s: 5,
                }),
                post_start: true,
                env_ref: Some(("app-config".into(), "log_level".into())),
                env_plain: vec![("MODE", "prod".into())],
                mounts: vec![("cfg".into(), "/etc/app".into(), true)],
                command: vec![],
            }],
            init_containers: vec![],
            volumes: vec![("cfg".into(), VolumeSource::ConfigMap("app-config".into()))],
            restart_policy: "Always",
            host_network: false,
            node_selector: None,
            service_account: "default".into(),
            grace_s: 30,
            priority_class: None,
        }
    }

    #[test]
    fn admitted_spec_has_token_volume_and_node() {
        let s = sample();
        let adm = Admission {
            token_volume: "kube-api-access-x2b4c",
            node: Some("n1"),
        };
        let json = object(|o| s.write(o, Some(&adm)));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["nodeName"], "n1");
        assert_eq!(v["volumes"][1]["name"], "kube-api-access-x2b4c");
        assert_eq!(v["containers"][0]["resources"]["requests"]["memory"], "1Gi");
        assert_eq!(v["containers"][0]["resources"]["requests"]["cpu"], "250m");
        let req = object(|o| s.write(o, None));
        let r: serde_json::Value = serde_json::from_str(&req).unwrap();
        assert!(r.get("tolerations").is_none());
        assert_eq!(r["volumes"].as_array().unwrap().len(), 1);
    }
}

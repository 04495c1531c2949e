//! SpanRecords of one delivery: a root span named after the `ActionType`
//! (`PodCreate`, `PodDelete`) from delivery start to completion (or verdict),
//! plus one child per configured span instance. Ids are derived from
//! (cluster, pod, action, span name, instance), so a replay yields the same
//! trace. Unclosed spans end at the verdict time with status `unset`.

use std::collections::BTreeMap;
use std::sync::Arc;

use lunettes_schemas::{
    Action, Delivery, DeliveryResult, Output, SpanOwner, SpanRecord, SpanStatus,
};

use crate::ids;
use crate::intern::EMPTY;
use crate::pod::PodState;
use crate::spans::config::NameRef;
use crate::spans::track::evaluate;
use crate::timeline::SpanView;
use crate::verdict::Ctx;

/// Emits the root span and the child spans of `d`.
///
/// Returns the flags the delivery gets from its spans: `unclosed:<span>` for
/// each `NeedClose` span that did not close.
///
/// `view`: create spans the verdict already evaluated (reused when nothing
/// happened between its time and the delivery's end).
pub(crate) fn emit_spans(
    pod: &PodState,
    d: &Delivery,
    action: Action,
    ctx: &Ctx,
    view: Option<&SpanView>,
    out: &mut Vec<Output>,
) -> Vec<String> {
    let mut flags = Vec::new();
    let cfg = &ctx.cfg.spans;
    let interner = ctx.interner;
    let end = d.finished_at_us.unwrap_or(d.decided_at_us);
    let root_name = &*cfg.root_names[action as usize];
    let span_ids = ids::SpanIds::new(&d.trace_id);
    let root_id = span_ids.id(root_name, "");
    let root_parent: Arc<str> = root_id.as_str().into();
    let failed = !matches!(d.result, DeliveryResult::Success);
    let mut metric_attrs = BTreeMap::new();
    let mut root_attrs = BTreeMap::new();
    for (idx, v) in &pod.extras {
        let ex = &cfg.extras[*idx as usize];
        root_attrs.insert(ex.name.to_string(), v.to_string());
        if ex.need_metric {
            metric_attrs.insert(ex.name.to_string(), v.to_string());
        }
    }
    root_attrs.insert("result".into(), d.result.as_str().into());
    if !d.code.is_empty() {
        root_attrs.insert("code".into(), d.code.clone());
    }
    if !d.slo_class.is_empty() {
        root_attrs.insert("slo_class".into(), d.slo_class.clone());
    }
    // The delivery's strings every span repeats, allocated once and shared.
    let trace_id: Arc<str> = d.trace_id.as_str().into();
    let delivery_id: Arc<str> = d.id.as_str().into();
    let cluster: Arc<str> = d.cluster.as_str().into();
    let namespace: Arc<str> = d.namespace.as_str().into();
    let pod_name: Arc<str> = d.name.as_str().into();
    let pod_uid: Arc<str> = d.uid.as_str().into();
    let node: Arc<str> = d.node.as_str().into();
    let no_parent: Arc<str> = "".into();
    let record = |name: &str,
                  instance: &str,
                  parent: &Arc<str>,
                  id: String,
                  owner,
                  start,
                  end,
                  status,
                  msg: String,
                  attrs| SpanRecord {
        trace_id: trace_id.clone(),
        span_id: id,
        parent_span_id: parent.clone(),
        delivery_id: delivery_id.clone(),
        cluster: cluster.clone(),
        namespace: namespace.clone(),
        pod_name: pod_name.clone(),
        pod_uid: pod_uid.clone(),
        node: node.clone(),
        name: name.to_string(),
        instance: instance.to_string(),
        owner,
        start_us: start,
        end_us: end,
        status,
        status_message: msg,
        attributes: attrs,
    };
    out.push(Output::Span(record(
        root_name,
        "",
        &no_parent,
        root_id.clone(),
        SpanOwner::Others,
        d.created_at_us,
        end.max(d.created_at_us),
        if failed {
            SpanStatus::Error
        } else {
            SpanStatus::Ok
        },
        if failed {
            d.code.clone()
        } else {
            String::new()
        },
        root_attrs,
    )));
    let insts = match view {
        Some(v) if action == Action::Create && v.at == end => v.insts.clone(),
        Some(v) if action == Action::Create => v.at(cfg, pod, end).insts,
        _ => evaluate(cfg, pod, action, end),
    };
    for s in insts {
        let def = &cfg.spans[s.span as usize];
        if def.omitempty && s.end <= s.start {
            continue;
        }
        let inst = interner.resolve(s.instance);
        let mut attrs = metric_attrs.clone();
        match def.name_ref {
            Some(NameRef::Containers { image: true, .. }) => {
                attrs.insert("image".into(), inst.to_string());
                if let Some(c) = pod
                    .containers
                    .iter()
                    .find(|c| c.image == s.instance && s.instance != EMPTY)
                {
                    attrs.insert("container".into(), interner.resolve(c.name).to_string());
                }
            }
            Some(NameRef::Containers { image: false, .. }) => {
                attrs.insert("container".into(), inst.to_string());
                if let Some(c) = pod
                    .containers
                    .iter()
                    .find(|c| c.name == s.instance && c.image != EMPTY)
                {
                    attrs.insert("image".into(), interner.resolve(c.image).to_string());
                }
            }
            Some(NameRef::Finalizers) => {
                attrs.insert("finalizer".into(), inst.to_string());
            }
            None => {}
        }
        let status = if s.closed {
            SpanStatus::Ok
        } else {
            SpanStatus::Unset
        };
        if !s.closed && def.need_close {
            let f = format!("unclosed:{}", def.name);
            if !flags.contains(&f) {
                flags.push(f);
            }
        }
        let id = span_ids.id(&def.name, inst);
        out.push(Output::Span(record(
            &def.name,
            inst,
            &root_parent,
            id,
            def.owner,
            s.start,
            s.end.max(s.start),
            status,
            String::new(),
            attrs,
        )));
    }
    flags
}

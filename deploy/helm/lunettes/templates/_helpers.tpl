{{/* Chart name. */}}
{{- define "lunettes.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix: the release name, plus the chart name unless it already contains it. */}}
{{- define "lunettes.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "lunettes.labels" -}}
app.kubernetes.io/name: {{ include "lunettes.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "processor"). */}}
{{- define "lunettes.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lunettes.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image reference. */}}
{{- define "lunettes.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Pod annotations for Prometheus. */}}
{{- define "lunettes.scrapeAnnotations" -}}
{{- if .Values.prometheusScrape.enabled }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metricsPort | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* Environment of every container. */}}
{{- define "lunettes.env" -}}
- name: LUNETTES_BROKERS
  value: {{ .Values.kafka.brokers | quote }}
{{- range $k, $v := .Values.extraEnv }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* The metrics port entry (a list item of `ports:`). */}}
{{- define "lunettes.metricsPort" -}}
- name: metrics
  containerPort: {{ .Values.metricsPort }}
{{- end -}}

{{/* Probes on the metrics port: liveness /healthz, readiness /readyz. */}}
{{- define "lunettes.probes" -}}
livenessProbe:
  httpGet: {path: /healthz, port: metrics}
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* Container security context: nothing to escalate, read-only root. */}}
{{- define "lunettes.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
{{- end -}}

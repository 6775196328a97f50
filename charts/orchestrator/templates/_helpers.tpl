{{/* Names, labels, and the checks every render makes. */}}

{{- define "orchestrator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "orchestrator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "orchestrator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "orchestrator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orchestrator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "orchestrator.labels" -}}
helm.sh/chart: {{ include "orchestrator.chart" . }}
{{ include "orchestrator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The service port (PORT): container port, Service target and probe port. */}}
{{- define "orchestrator.port" -}}
{{- $port := int (required "config.PORT is required: the service port the probes and the Service use" .Values.config.PORT) }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "config.PORT must be a port from 1 to 65535 (0, a random port, cannot be probed), got %v" .Values.config.PORT) }}
{{- end }}
{{- $port }}
{{- end }}

{{/* METRICS_PORT as a number; 0 when unset. */}}
{{- define "orchestrator.metricsPort" -}}
{{- int (default "0" .Values.config.METRICS_PORT) }}
{{- end }}

{{/* Where toolPolicies is mounted (TOOL_POLICIES_FILE). */}}
{{- define "orchestrator.toolPoliciesPath" -}}
/etc/orchestrator/tool-policies.json
{{- end }}

{{/* SHUTDOWN_GRACE_MS in whole seconds, rounded up. */}}
{{- define "orchestrator.shutdownGraceSeconds" -}}
{{- $ms := int64 (default "10000" .Values.config.SHUTDOWN_GRACE_MS) }}
{{- div (add $ms 999) 1000 }}
{{- end }}

{{/*
Long enough for the preStop sleep, then the service's own grace period (in-flight calls finish),
then stopping the engine and closing the store: a shorter one would SIGKILL calls mid-flight.
*/}}
{{- define "orchestrator.terminationGracePeriodSeconds" -}}
{{- $floor := add (int64 .Values.preStopSleepSeconds) (int64 (include "orchestrator.shutdownGraceSeconds" .)) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $floor 15 }}
{{- else if le (int64 .Values.terminationGracePeriodSeconds) $floor }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than preStopSleepSeconds + SHUTDOWN_GRACE_MS (%d s), or the pod is killed while calls finish" .Values.terminationGracePeriodSeconds $floor) }}
{{- else }}
{{- int64 .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
Render-time checks. Secret settings come only from the Secret; more than one replica needs the
shared Postgres and Redis, since PGlite is one process's directory and the in-process bus one
process's memory.
*/}}
{{- define "orchestrator.validate" -}}
{{- range $name, $_ := .Values.secrets.keys }}
{{- if hasKey $.Values.config $name }}
{{- fail (printf "%s is a secret setting: put it in the Secret named by secrets.existingSecret, not in config" $name) }}
{{- end }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- $why := printf "replicaCount is %v: replicas share one Postgres and one Redis (PGlite and the in-process bus are per process)" .Values.replicaCount }}
{{- $secret := required (printf "%s; set secrets.existingSecret to a Secret holding DATABASE_URL and REDIS_URL" $why) .Values.secrets.existingSecret }}
{{- $_ := required (printf "%s; secrets.keys.DATABASE_URL must name its key in Secret %s" $why $secret) .Values.secrets.keys.DATABASE_URL }}
{{- $_ := required (printf "%s; secrets.keys.REDIS_URL must name its key in Secret %s" $why $secret) .Values.secrets.keys.REDIS_URL }}
{{- end }}
{{- if and .Values.toolPolicies .Values.config.TOOL_POLICIES_FILE }}
{{- fail "set either toolPolicies (the chart mounts the file) or config.TOOL_POLICIES_FILE, not both" }}
{{- end }}
{{- end }}

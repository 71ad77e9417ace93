{{/*
Hand-written. The operator's ServiceAccount and RBAC names are fixed (celula-operator, see
templates/rbac.yaml, generated): the lock-down policies name that service account.
*/}}

{{- define "celula.operatorName" -}}
celula-operator
{{- end -}}

{{- define "celula.selectorLabels" -}}
app.kubernetes.io/name: {{ include "celula.operatorName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "celula.labels" -}}
{{ include "celula.selectorLabels" . }}
app.kubernetes.io/part-of: celula
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* repository@sha256:…; both are required, and the digest must look like one. */}}
{{- define "celula.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository -}}
{{- $digest := required "image.digest is required (sha256:<64 hex>); the operator is pinned by digest, never by tag" .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[a-f0-9]{64}$" $digest) -}}
{{- fail (printf "image.digest must be sha256:<64 lowercase hex>, got %q" $digest) -}}
{{- end -}}
{{- printf "%s@%s" $repo $digest -}}
{{- end -}}

{{/* Name of every object of this release: "cockroachdb" (one per region's cluster). */}}
{{- define "cockroachdb.fullname" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "cockroachdb.selectorLabels" -}}
app.kubernetes.io/name: cockroachdb
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cockroachdb.labels" -}}
{{ include "cockroachdb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
atlas.dev/region: {{ .Values.region | quote }}
{{- end -}}

{{- define "cockroachdb.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* Scheme of the HTTP port: HTTPS in secure mode. */}}
{{- define "cockroachdb.httpScheme" -}}
{{- if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}

{{- define "cockroachdb.certsFlag" -}}
{{- if .Values.tls.enabled }}--certs-dir=/cockroach/cockroach-certs{{ else }}--insecure{{ end -}}
{{- end -}}

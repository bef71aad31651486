{{/* Name of every object of this release: "cockroachdb" (one per region's cluster). */}}
{{- define "cockroachdb.fullname" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "cockroachdb.selectorLabels" -}}
app.kubernetes.io/name: cockroachdb
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object but the init Job's pod: see cockroachdb.initLabels. */}}
{{- define "cockroachdb.labels" -}}
{{ include "cockroachdb.selectorLabels" . }}
{{ include "cockroachdb.commonLabels" . }}
{{- end -}}

{{/*
The StatefulSet's pods only: the PodDisruptionBudget and the health probe
(src/lib/health/cockroach.ts) select these, never the init Job's pod.
*/}}
{{- define "cockroachdb.nodeSelectorLabels" -}}
{{ include "cockroachdb.selectorLabels" . }}
app.kubernetes.io/component: database
{{- end -}}

{{/*
The init Job and its pod carry their own name, so no selector of the nodes
(Services, PDB, health probe) ever counts the finished init pod as a node.
*/}}
{{- define "cockroachdb.initLabels" -}}
app.kubernetes.io/name: cockroachdb-init
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: init
{{ include "cockroachdb.commonLabels" . }}
{{- end -}}

{{- define "cockroachdb.commonLabels" -}}
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

{{/*
TCP ports the nodes dial on the shared Docker network: the port of every --join
entry and this region's own advertised range (basePort + ordinal), as a JSON list.
*/}}
{{- define "cockroachdb.peerPorts" -}}
{{- $ports := list -}}
{{- range .Values.join -}}
{{- $ports = append $ports (last (splitList ":" .)) -}}
{{- end -}}
{{- range $i := until (int .Values.replicas) -}}
{{- $ports = append $ports (toString (add (int $.Values.advertise.basePort) $i)) -}}
{{- end -}}
{{- $ports | uniq | sortAlpha | toJson -}}
{{- end -}}

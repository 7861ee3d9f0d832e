{{/*
Names. StatefulSet names stay within 52 characters: the controller adds a revision hash
label "<name>-<10 chars>" that must fit the 63-character label limit, and pod names
(<name>-<ordinal>) become DIALER_INSTANCE, which allows 64 characters at most.
*/}}
{{- define "dialer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dialer.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "dialer.engine.name" -}}
{{- printf "%s-engine" (include "dialer.fullname" .) -}}
{{- end -}}

{{- define "dialer.api.name" -}}
{{- printf "%s-api" (include "dialer.fullname" .) -}}
{{- end -}}

{{- define "dialer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object; pass (dict "ctx" $ "component" "engine"). */}}
{{- define "dialer.labels" -}}
helm.sh/chart: {{ include "dialer.chart" .ctx }}
{{ include "dialer.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: autocall-dialer
{{- end -}}

{{- define "dialer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dialer.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "dialer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dialer.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dialer.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret the pods read: the user's or the chart's. */}}
{{- define "dialer.secretName" -}}
{{- default (printf "%s-secrets" (include "dialer.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "dialer.fsPasswordKey" -}}
{{- default (printf "esl-password-%s" .name) .passwordKey -}}
{{- end -}}

{{- define "dialer.engineGroup" -}}
{{- default (printf "%sengine" .Values.config.topicPrefix) .Values.engine.consumerGroup -}}
{{- end -}}

{{/* A number as its JSON text: YAML numbers reach templates as float64, and "%v" would
print 1000000 as 1e+06. */}}
{{- define "dialer.num" -}}
{{- toJson . | quote -}}
{{- end -}}

{{/*
Checks run once per render; `fail` stops helm install/upgrade/template with the message.
*/}}
{{- define "dialer.validate" -}}
{{- $names := dict -}}
{{- range .Values.engine.fsNodes -}}
{{- if hasKey $names .name -}}
{{- fail (printf "engine.fsNodes: the node name %q is used twice" .name) -}}
{{- end -}}
{{- $_ := set $names .name true -}}
{{- if and $.Values.existingSecret .password -}}
{{- fail (printf "engine.fsNodes[%s].password is set while existingSecret is used: put the password into the existing Secret under %q" .name (include "dialer.fsPasswordKey" .)) -}}
{{- end -}}
{{- end -}}
{{- if eq (int .Values.config.healthPort) (int .Values.api.port) -}}
{{- fail (printf "config.healthPort and api.port are both %v: the probes need their own port" .Values.api.port) -}}
{{- end -}}
{{- if and .Values.existingSecret (or .Values.secrets.apiTokens .Values.secrets.webhookSecret) -}}
{{- fail "secrets.apiTokens / secrets.webhookSecret are set while existingSecret is used: put them into the existing Secret" -}}
{{- end -}}
{{- end -}}

{{/* Probes on the named health port. */}}
{{- define "dialer.probes" -}}
startupProbe:
  httpGet:
    path: /livez
    port: health
  periodSeconds: {{ .startupProbe.periodSeconds }}
  timeoutSeconds: {{ .startupProbe.timeoutSeconds }}
  failureThreshold: {{ .startupProbe.failureThreshold }}
livenessProbe:
  httpGet:
    path: /livez
    port: health
  periodSeconds: {{ .livenessProbe.periodSeconds }}
  timeoutSeconds: {{ .livenessProbe.timeoutSeconds }}
  failureThreshold: {{ .livenessProbe.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: {{ .readinessProbe.periodSeconds }}
  timeoutSeconds: {{ .readinessProbe.timeoutSeconds }}
  failureThreshold: {{ .readinessProbe.failureThreshold }}
{{- end -}}

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

{{/* repository:tag, or repository:tag@digest when image.digest is set (the runtime pulls
by digest; the tag only documents it). */}}
{{- define "dialer.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- with .Values.image.digest -}}
{{- $ref = printf "%s@%s" $ref . -}}
{{- end -}}
{{- $ref -}}
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
{{- $k := .Values.kafkaSecurity -}}
{{- if include "dialer.sasl" . -}}
{{- if not $k.sasl.username -}}
{{- fail (printf "kafkaSecurity.protocol %s needs kafkaSecurity.sasl.username" $k.protocol) -}}
{{- end -}}
{{- if and (not .Values.existingSecret) (not .Values.secrets.kafkaSaslPassword) -}}
{{- fail (printf "kafkaSecurity.protocol %s needs secrets.kafkaSaslPassword (or existingSecret holding %q)" $k.protocol .Values.secrets.keys.kafkaSaslPassword) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.existingSecret .Values.secrets.kafkaSaslPassword -}}
{{- fail "secrets.kafkaSaslPassword is set while existingSecret is used: put it into the existing Secret" -}}
{{- end -}}
{{- if and (not (include "dialer.tls" .)) (or $k.tls.caSecret $k.tls.clientSecret) -}}
{{- fail (printf "kafkaSecurity.tls.caSecret/clientSecret need kafkaSecurity.protocol SSL or SASL_SSL (it is %s)" $k.protocol) -}}
{{- end -}}
{{- if gt (int .Values.config.kafkaMinInsyncReplicas) (int .Values.config.kafkaReplicationFactor) -}}
{{- fail (printf "config.kafkaMinInsyncReplicas %v is above config.kafkaReplicationFactor %v: no write could ever be acknowledged" .Values.config.kafkaMinInsyncReplicas .Values.config.kafkaReplicationFactor) -}}
{{- end -}}
{{- $managed := splitList " " (include "dialer.managedSettings" .) -}}
{{- range $where, $settings := dict "config" .Values.config.settings "engine" .Values.engine.settings "api" .Values.api.settings -}}
{{- range $name, $_ := $settings -}}
{{- if has $name $managed -}}
{{- fail (printf "%s.settings.%s: DIALER_%s is set by the chart from its own value (see values.yaml)" $where $name $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.engine.keda.enabled -}}
{{- if gt (int .Values.engine.keda.minReplicas) (int .Values.engine.keda.maxReplicas) -}}
{{- fail "engine.keda.minReplicas is above engine.keda.maxReplicas" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Probes on the named health port; pass the role's `probes` value. */}}
{{- define "dialer.probes" -}}
{{- $paths := dict "startup" "/livez" "liveness" "/livez" "readiness" "/readyz" -}}
{{- range $kind := list "startup" "liveness" "readiness" }}
{{- $p := get $ $kind }}
{{- if $p.enabled }}
{{ $kind }}Probe:
  httpGet:
    path: {{ get $paths $kind }}
    port: health
  {{- with $p.initialDelaySeconds }}
  initialDelaySeconds: {{ . }}
  {{- end }}
  periodSeconds: {{ $p.periodSeconds }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.failureThreshold }}
  {{- if and (eq $kind "readiness") $p.successThreshold }}
  successThreshold: {{ $p.successThreshold }}
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
DIALER_* names the chart sets itself: `settings` values may not override them (a second
definition in the ConfigMap would be ambiguous, one on the pod would win silently).
*/}}
{{- define "dialer.managedSettings" -}}
BUS SIMULATOR INSTANCE KAFKA_BOOTSTRAP KAFKA_PARTITIONS KAFKA_REPLICATION_FACTOR KAFKA_MIN_INSYNC_REPLICAS TOPIC_PREFIX LOG_LEVEL HEALTH_PORT TEMPLATES KAFKA_SECURITY_PROTOCOL KAFKA_SASL_MECHANISM KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD KAFKA_SSL_CAFILE KAFKA_SSL_CERTFILE KAFKA_SSL_KEYFILE KAFKA_GROUP_INSTANCE_ID ENGINE_GROUP FS_NODES GATEWAY DIALPLAN_EXTENSION DIALPLAN_CONTEXT DRAIN_SECONDS PARK_SECONDS HTTP_HOST HTTP_PORT DATA_DIR API_TOKENS WEBHOOK_SECRET
{{- end -}}

{{- define "dialer.sasl" -}}
{{- if hasPrefix "SASL_" .Values.kafkaSecurity.protocol }}true{{ end -}}
{{- end -}}

{{- define "dialer.tls" -}}
{{- if has .Values.kafkaSecurity.protocol (list "SSL" "SASL_SSL") }}true{{ end -}}
{{- end -}}

{{- define "dialer.kafkaCaDir" -}}/etc/dialer/kafka-ca{{- end -}}
{{- define "dialer.kafkaClientDir" -}}/etc/dialer/kafka-client{{- end -}}

{{/*
ConfigMap entries both roles share, then the role's own `settings` (pass
dict "ctx" $ "role" "engine"|"api"). Values are JSON text, so YAML never retypes them.
*/}}
{{- define "dialer.sharedConfig" -}}
{{- $v := .ctx.Values -}}
{{- $k := $v.kafkaSecurity -}}
DIALER_BUS: kafka
DIALER_SIMULATOR: "false"
DIALER_KAFKA_BOOTSTRAP: {{ $v.config.kafkaBootstrap | toJson }}
DIALER_KAFKA_PARTITIONS: {{ include "dialer.num" $v.config.kafkaPartitions }}
{{- with $v.config.kafkaReplicationFactor }}
DIALER_KAFKA_REPLICATION_FACTOR: {{ include "dialer.num" . }}
{{- end }}
{{- with $v.config.kafkaMinInsyncReplicas }}
DIALER_KAFKA_MIN_INSYNC_REPLICAS: {{ include "dialer.num" . }}
{{- end }}
DIALER_TOPIC_PREFIX: {{ $v.config.topicPrefix | toJson }}
DIALER_LOG_LEVEL: {{ $v.config.logLevel | toJson }}
DIALER_HEALTH_PORT: {{ include "dialer.num" $v.config.healthPort }}
{{- with $v.config.templates }}
DIALER_TEMPLATES: {{ toJson . | toJson }}
{{- end }}
DIALER_KAFKA_SECURITY_PROTOCOL: {{ $k.protocol | toJson }}
{{- if include "dialer.sasl" .ctx }}
DIALER_KAFKA_SASL_MECHANISM: {{ $k.sasl.mechanism | toJson }}
DIALER_KAFKA_SASL_USERNAME: {{ $k.sasl.username | toJson }}
{{- end }}
{{- if include "dialer.tls" .ctx }}
{{- if $k.tls.caSecret }}
DIALER_KAFKA_SSL_CAFILE: {{ printf "%s/ca.crt" (include "dialer.kafkaCaDir" .ctx) | toJson }}
{{- end }}
{{- if $k.tls.clientSecret }}
DIALER_KAFKA_SSL_CERTFILE: {{ printf "%s/tls.crt" (include "dialer.kafkaClientDir" .ctx) | toJson }}
DIALER_KAFKA_SSL_KEYFILE: {{ printf "%s/tls.key" (include "dialer.kafkaClientDir" .ctx) | toJson }}
{{- end }}
{{- end }}
{{- $settings := merge (dict) (get (get $v .role) "settings" | default dict) ($v.config.settings | default dict) }}
{{- range $name := keys $settings | sortAlpha }}
{{- $value := get $settings $name }}
DIALER_{{ $name }}: {{ if kindIs "string" $value }}{{ $value | toJson }}{{ else }}{{ toJson $value | toJson }}{{ end }}
{{- end }}
{{- end -}}

{{/* Secret-backed environment and certificate mounts of the Kafka clients (every role). */}}
{{- define "dialer.kafkaSecretEnv" -}}
{{- if include "dialer.sasl" . }}
- name: DIALER_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "dialer.secretName" . }}
      key: {{ .Values.secrets.keys.kafkaSaslPassword }}
{{- end }}
{{- end -}}

{{- define "dialer.kafkaVolumeMounts" -}}
{{- $t := .Values.kafkaSecurity.tls -}}
{{- if include "dialer.tls" . }}
{{- if $t.caSecret }}
- name: kafka-ca
  mountPath: {{ include "dialer.kafkaCaDir" . }}
  readOnly: true
{{- end }}
{{- if $t.clientSecret }}
- name: kafka-client
  mountPath: {{ include "dialer.kafkaClientDir" . }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{- define "dialer.kafkaVolumes" -}}
{{- $t := .Values.kafkaSecurity.tls -}}
{{- if include "dialer.tls" . }}
{{- if $t.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $t.caSecret }}
    defaultMode: 0440
    items:
      - key: {{ $t.caKey }}
        path: ca.crt
{{- end }}
{{- if $t.clientSecret }}
- name: kafka-client
  secret:
    secretName: {{ $t.clientSecret }}
    defaultMode: 0440
    items:
      - key: {{ $t.certKey }}
        path: tls.crt
      - key: {{ $t.keyKey }}
        path: tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/*
The data (base64) of the chart's Secret, computed once per render and cached in
.Values (every template sees the same map), so the Secret and the pods' checksum
annotations agree. Generated values are read back from the live Secret with lookup, so
they stay the same across upgrades; lookup sees nothing under `helm template`, where a
render generates fresh ones (GitOps: set the values or use existingSecret).
*/}}
{{- define "dialer.chartSecretData" -}}
{{- if not (hasKey .Values "__secretData") -}}
{{- $live := (lookup "v1" "Secret" .Release.Namespace (include "dialer.secretName" .)) | default dict -}}
{{- $liveData := get $live "data" | default dict -}}
{{- $keys := .Values.secrets.keys -}}
{{- $data := dict -}}
{{- if .Values.secrets.apiTokens -}}
{{- $_ := set $data $keys.apiTokens (toJson .Values.secrets.apiTokens | b64enc) -}}
{{- else -}}
{{- $_ := set $data $keys.apiTokens (get $liveData $keys.apiTokens | default (toJson (list (randAlphaNum 40)) | b64enc)) -}}
{{- end -}}
{{- if .Values.secrets.webhookSecret -}}
{{- $_ := set $data $keys.webhookSecret (.Values.secrets.webhookSecret | b64enc) -}}
{{- else -}}
{{- $_ := set $data $keys.webhookSecret (get $liveData $keys.webhookSecret | default (randAlphaNum 48 | b64enc)) -}}
{{- end -}}
{{- if include "dialer.sasl" . -}}
{{- $_ := set $data $keys.kafkaSaslPassword (.Values.secrets.kafkaSaslPassword | b64enc) -}}
{{- if .Values.engine.keda.enabled -}}
{{- /* KEDA's TriggerAuthentication takes the username from a Secret only. */ -}}
{{- $_ := set $data "kafka-sasl-username" (.Values.kafkaSecurity.sasl.username | b64enc) -}}
{{- end -}}
{{- end -}}
{{- range .Values.engine.fsNodes -}}
{{- /* Stored JSON-escaped: the pod substitutes it into the DIALER_FS_NODES JSON. */ -}}
{{- $_ := set $data (include "dialer.fsPasswordKey" .) (toJson (default "ClueCon" .password) | trimPrefix "\"" | trimSuffix "\"" | b64enc) -}}
{{- end -}}
{{- $_ := set .Values "__secretData" $data -}}
{{- end -}}
{{- toJson (get .Values "__secretData") -}}
{{- end -}}

{{/*
checksum/secret of a role (dict "ctx" $ "keys" (list ...)): the secret values that role
reads, from the chart's Secret or (lookup) from existingSecret, and the Kafka certificate
Secrets. Rotating one of them and running `helm upgrade` rolls exactly the pods that
read it; under `helm template` an existing Secret is not visible and counts as empty.
*/}}
{{- define "dialer.secretChecksum" -}}
{{- $ctx := .ctx -}}
{{- $data := dict -}}
{{- if $ctx.Values.existingSecret -}}
{{- $data = get ((lookup "v1" "Secret" $ctx.Release.Namespace $ctx.Values.existingSecret) | default dict) "data" | default dict -}}
{{- else -}}
{{- $data = include "dialer.chartSecretData" $ctx | fromJson -}}
{{- end -}}
{{- $picked := dict -}}
{{- range .keys -}}
{{- $_ := set $picked . (get $data . | default "") -}}
{{- end -}}
{{- $t := $ctx.Values.kafkaSecurity.tls -}}
{{- $certs := list -}}
{{- if include "dialer.tls" $ctx -}}
{{- range (list $t.caSecret $t.clientSecret) -}}
{{- if . -}}
{{- $certs = append $certs (get ((lookup "v1" "Secret" $ctx.Release.Namespace .) | default dict) "data" | default dict) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- list $picked $certs | toJson | sha256sum -}}
{{- end -}}

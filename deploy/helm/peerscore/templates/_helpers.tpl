{{/* Names ------------------------------------------------------------------------------------------------- */}}

{{- define "peerscore.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "peerscore.fullname" -}}
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

{{/* "<fullname>-<component>", for the per-service objects. Call with (dict "root" $ "component" "ingest"). */}}
{{- define "peerscore.componentName" -}}
{{- printf "%s-%s" (include "peerscore.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "peerscore.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: selectors hold only what never changes across upgrades (no version, no chart). --------------- */}}

{{- define "peerscore.selectorLabels" -}}
app.kubernetes.io/name: {{ include "peerscore.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "peerscore.labels" -}}
helm.sh/chart: {{ include "peerscore.chart" .root }}
{{ include "peerscore.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: peerscore
{{- end }}

{{- define "peerscore.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "peerscore.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the `secrets.values` keys: the user's, or the chart's. */}}
{{- define "peerscore.secretName" -}}
{{- default (include "peerscore.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "peerscore.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecret }}{{ else }}{{ include "peerscore.secretName" . }}{{ end }}
{{- end }}

{{- define "peerscore.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else if .Values.secrets.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}DATABASE_URL{{ end }}
{{- end }}

{{- define "peerscore.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion (default .root.Values.image.tag .image.tag)) }}
{{- end }}

{{/* Settings as environment variables --------------------------------------------------------------------
   (dict "prefix" "INGEST_" "values" .Values.ingest.settings): camelCase keys become PREFIX_SNAKE_CASE; nulls
   are skipped (the service default applies), lists are joined with commas, maps become JSON. */}}
{{- define "peerscore.envData" -}}
{{- range $key, $value := .values }}
{{- if not (kindIs "invalid" $value) }}
{{- $name := printf "%s%s" $.prefix (snakecase $key | upper) }}
{{- if kindIs "slice" $value }}
{{ $name }}: {{ join "," $value | quote }}
{{- else if kindIs "map" $value }}
{{ $name }}: {{ toJson $value | quote }}
{{- else if and (kindIs "float64" $value) (eq $value (floor $value)) }}
{{ $name }}: {{ $value | int64 | toString | quote }}
{{- else if kindIs "float64" $value }}
{{ $name }}: {{ toString $value | quote }}
{{- else }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* One env entry read from the secrets Secret. (dict "root" $ "name" "PEERSCORE_API_TOKEN" "optional" false) */}}
{{- define "peerscore.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "peerscore.secretName" .root }}
      key: {{ .name }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{- define "peerscore.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "peerscore.databaseSecretName" . }}
      key: {{ include "peerscore.databaseSecretKey" . }}
{{- end }}

{{/* Pod spec shared by every service --------------------------------------------------------------------
   (dict "root" $ "component" "ingest" "values" .Values.ingest "port" 8000 "env" <yaml list> "volumes" <yaml>
   "mounts" <yaml>). Probes use the endpoints every service serves: /healthz (process up), /readyz (database,
   broker, consumer loops running and holding their partitions; timing from .Values.readinessProbe). */}}
{{- define "peerscore.podTemplate" -}}
{{- $root := .root }}
{{- $v := .values }}
metadata:
  labels:
    {{- include "peerscore.labels" . | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- if not $root.Values.secrets.existingSecret }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- end }}
    {{- if and (include "peerscore.kafkaTlsSecretName" $root) (not $root.Values.kafka.tls.existingSecret) }}
    checksum/kafka-tls: {{ include (print $root.Template.BasePath "/kafka-tls-secret.yaml") $root | sha256sum }}
    {{- end }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "peerscore.serviceAccountName" $root }}
  automountServiceAccountToken: false
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  containers:
    - name: {{ .component }}
      image: {{ include "peerscore.image" (dict "root" $root "image" $v.image) | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      ports:
        - name: http
          containerPort: {{ .port }}
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "peerscore.fullname" $root }}-common
        - configMapRef:
            name: {{ include "peerscore.componentName" . }}
      env:
        {{- .env | nindent 8 }}
        {{- with (include "peerscore.kafkaSecretEnv" $root | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 2
        failureThreshold: 60
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: {{ $root.Values.readinessProbe.periodSeconds }}
        timeoutSeconds: {{ $root.Values.readinessProbe.timeoutSeconds }}
        failureThreshold: {{ $root.Values.readinessProbe.failureThreshold }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if include "peerscore.kafkaTlsSecretName" $root }}
        - name: kafka-tls
          mountPath: {{ include "peerscore.kafkaTlsDir" $root }}
          readOnly: true
        {{- end }}
        {{- with .mounts }}
        {{- . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $root.Values.tmpSizeLimit }}
    {{- if include "peerscore.kafkaTlsSecretName" $root }}
    {{- include "peerscore.kafkaTlsVolume" $root | nindent 4 }}
    {{- end }}
    {{- with .volumes }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* A Deployment around the shared pod template. Same arguments as peerscore.podTemplate plus "replicas"
   (omitted when an autoscaler owns the count). */}}
{{- define "peerscore.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "peerscore.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "peerscore.labels" . | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "peerscore.selectorLabels" . | nindent 6 }}
  template:
    {{- include "peerscore.podTemplate" . | trim | nindent 4 }}
{{- end }}

{{/* Service, optional Ingress and PodDisruptionBudget of one component (same arguments). */}}
{{- define "peerscore.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "peerscore.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "peerscore.labels" . | nindent 4 }}
  {{- with .values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .values.service.type }}
  ports:
    - name: http
      port: {{ .values.service.port }}
      targetPort: http
      protocol: TCP
  selector:
    {{- include "peerscore.selectorLabels" . | nindent 4 }}
{{- end }}

{{- define "peerscore.ingress" -}}
{{- $svc := include "peerscore.componentName" . }}
{{- $port := .values.service.port }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $svc }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "peerscore.labels" . | nindent 4 }}
  {{- with .values.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with .values.ingress.tls }}
  tls:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- range .values.ingress.hosts }}
    - host: {{ .host | quote }}
      http:
        paths:
          {{- range .paths }}
          - path: {{ .path }}
            pathType: {{ default "Prefix" .pathType }}
            backend:
              service:
                name: {{ $svc }}
                port:
                  number: {{ $port }}
          {{- end }}
    {{- end }}
{{- end }}

{{- define "peerscore.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "peerscore.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "peerscore.labels" . | nindent 4 }}
spec:
  {{- if hasKey .values.podDisruptionBudget "minAvailable" }}
  minAvailable: {{ .values.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.podDisruptionBudget.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "peerscore.selectorLabels" . | nindent 6 }}
{{- end }}

{{/* KEDA ScaledObject on consumer lag: (dict ... "topic" <full topic name> "group" <consumer group>). */}}
{{- define "peerscore.scaledObject" -}}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ include "peerscore.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "peerscore.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    name: {{ include "peerscore.componentName" . }}
  minReplicaCount: {{ .values.keda.minReplicaCount }}
  maxReplicaCount: {{ .values.keda.maxReplicaCount }}
  pollingInterval: {{ .values.keda.pollingInterval }}
  cooldownPeriod: {{ .values.keda.cooldownPeriod }}
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {{ .root.Values.kafka.bootstrapServers | quote }}
        consumerGroup: {{ .group | quote }}
        topic: {{ .topic | quote }}
        lagThreshold: {{ .values.keda.lagThreshold | quote }}
        offsetResetPolicy: earliest
        {{- if include "peerscore.kafkaSasl" .root }}
        sasl: {{ get (dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512") .root.Values.kafka.saslMechanism }}
        {{- end }}
        {{- if include "peerscore.kafkaTls" .root }}
        tls: enable
        {{- end }}
      {{- if ne .root.Values.kafka.securityProtocol "PLAINTEXT" }}
      authenticationRef:
        name: {{ include "peerscore.fullname" .root }}-kafka
      {{- end }}
{{- end }}

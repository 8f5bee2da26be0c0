{{/* Kafka security ---------------------------------------------------------------------------------------
   One reading of kafka.securityProtocol and kafka.tls for the ConfigMap, every pod and KEDA. Each helper renders
   "true" or nothing. */}}
{{- define "peerscore.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{- define "peerscore.kafkaTls" -}}
{{- if hasSuffix "SSL" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{/* The Secret holding the TLS files (yours, or the chart's made from the PEM values); empty without TLS. */}}
{{- define "peerscore.kafkaTlsSecretName" -}}
{{- $tls := .Values.kafka.tls }}
{{- if include "peerscore.kafkaTls" . }}
{{- if $tls.existingSecret }}{{ $tls.existingSecret }}{{ else if or $tls.ca $tls.cert }}{{ include "peerscore.fullname" . }}-kafka-tls{{ end }}
{{- end }}
{{- end }}

{{- define "peerscore.kafkaTlsCa" -}}
{{- $tls := .Values.kafka.tls }}
{{- if include "peerscore.kafkaTlsSecretName" . }}{{ if $tls.existingSecret }}{{ if $tls.caKey }}true{{ end }}{{ else if $tls.ca }}true{{ end }}{{ end }}
{{- end }}

{{- define "peerscore.kafkaTlsClientCert" -}}
{{- $tls := .Values.kafka.tls }}
{{- if include "peerscore.kafkaTlsSecretName" . }}{{ if $tls.existingSecret }}{{ if $tls.clientCert }}true{{ end }}{{ else if $tls.cert }}true{{ end }}{{ end }}
{{- end }}

{{- define "peerscore.kafkaTlsDir" -}}/etc/peerscore/kafka-tls{{- end }}

{{/* KAFKA_* file paths for the common ConfigMap (files mounted by peerscore.podTemplate). */}}
{{- define "peerscore.kafkaTlsFilesEnv" -}}
{{- if include "peerscore.kafkaTlsCa" . }}
KAFKA_SSL_CAFILE: {{ printf "%s/ca.crt" (include "peerscore.kafkaTlsDir" .) | quote }}
{{- end }}
{{- if include "peerscore.kafkaTlsClientCert" . }}
KAFKA_SSL_CERTFILE: {{ printf "%s/tls.crt" (include "peerscore.kafkaTlsDir" .) | quote }}
KAFKA_SSL_KEYFILE: {{ printf "%s/tls.key" (include "peerscore.kafkaTlsDir" .) | quote }}
{{- end }}
{{- end }}

{{/* Env entries from the secrets Secret every Kafka client needs: SASL credentials, the client key's password. */}}
{{- define "peerscore.kafkaSecretEnv" -}}
{{- if include "peerscore.kafkaSasl" . }}
{{ include "peerscore.secretEnv" (dict "root" . "name" "KAFKA_SASL_USERNAME") }}
{{ include "peerscore.secretEnv" (dict "root" . "name" "KAFKA_SASL_PASSWORD") }}
{{- end }}
{{- if and (include "peerscore.kafkaTlsClientCert" .) .Values.kafka.tls.encryptedKey }}
{{ include "peerscore.secretEnv" (dict "root" . "name" "KAFKA_SSL_PASSWORD") }}
{{- end }}
{{- end }}

{{/* The TLS Secret as a read-only volume, its keys under fixed file names. */}}
{{- define "peerscore.kafkaTlsVolume" -}}
{{- $tls := .Values.kafka.tls }}
- name: kafka-tls
  secret:
    secretName: {{ include "peerscore.kafkaTlsSecretName" . }}
    defaultMode: 288
    items:
      {{- if include "peerscore.kafkaTlsCa" . }}
      - key: {{ if $tls.existingSecret }}{{ $tls.caKey }}{{ else }}ca.crt{{ end }}
        path: ca.crt
      {{- end }}
      {{- if include "peerscore.kafkaTlsClientCert" . }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- end }}
{{- end }}

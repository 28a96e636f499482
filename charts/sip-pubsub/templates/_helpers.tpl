{{- define "sip-pubsub.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "sip-pubsub.labels" -}}
app.kubernetes.io/part-of: sip-pubsub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* Labels of one component: call with (dict "root" $ "name" "media-relay"). */}}
{{- define "sip-pubsub.componentLabels" -}}
{{ include "sip-pubsub.labels" .root }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "sip-pubsub.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "sip-pubsub.natsUrl" -}}
{{- if .Values.nats.bundled -}}
nats://{{ include "sip-pubsub.fullname" . }}-nats:4222
{{- else -}}
{{- required "nats.url is required when nats.bundled is false" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{- define "sip-pubsub.kvReplicas" -}}
{{- if .Values.nats.bundled -}}{{ .Values.nats.replicas }}{{- else -}}{{ .Values.nats.kvReplicas }}{{- end -}}
{{- end -}}

{{/* The edge's transports as a list. */}}
{{- define "sip-pubsub.transports" -}}
{{- range $t := splitList "," .Values.signallingEdge.transports }}
- {{ trim $t | lower }}
{{- end }}
{{- end -}}

{{/*
The workload of one service. Call with (dict "root" $ "name" "focus-controller" "values" .Values.focusController
"grpcPort" 50052 "httpPort" 9091 "env" (dict ...) "valueEnv" (list EnvVar...) "ports" (list ...)
"volumes" (list ...) "mounts" (list ...) "kind" "Deployment" "hostNetwork" false "autoscaled" false)
*/}}
{{- define "sip-pubsub.workload" -}}
{{- $root := .root -}}
{{- $kind := .kind | default "Deployment" -}}
apiVersion: apps/v1
kind: {{ $kind }}
metadata:
  name: {{ include "sip-pubsub.fullname" $root }}-{{ .name }}
  labels:
    {{- include "sip-pubsub.componentLabels" (dict "root" $root "name" .name) | nindent 4 }}
spec:
  {{- if and (eq $kind "Deployment") (not .autoscaled) }}
  replicas: {{ .values.replicas }}
  {{- end }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $root.Release.Name }}
      app.kubernetes.io/name: {{ .name }}
  template:
    metadata:
      labels:
        {{- include "sip-pubsub.componentLabels" (dict "root" $root "name" .name) | nindent 8 }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{{ .httpPort }}"
        {{- with .values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "sip-pubsub.fullname" $root }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if .hostNetwork }}
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with .values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- $affinity := .affinity | default .values.affinity }}
      {{- with $affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      # Draining (SIGTERM) finishes in-flight transactions and hands conferences over.
      terminationGracePeriodSeconds: 30
      containers:
        - name: {{ .name }}
          image: {{ include "sip-pubsub.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["services/{{ .name }}/dist/main.js"]
          env:
            - name: POD_NAME
              valueFrom: { fieldRef: { fieldPath: metadata.name } }
            - name: POD_IP
              valueFrom: { fieldRef: { fieldPath: status.podIP } }
            - name: POD_NAMESPACE
              valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
            - name: NODE_NAME
              valueFrom: { fieldRef: { fieldPath: spec.nodeName } }
            - name: MEMBERSHIP
              value: {{ $root.Values.membership | quote }}
            - name: K8S_SERVICE_PREFIX
              value: "{{ include "sip-pubsub.fullname" $root }}-"
            - name: GRPC_ADVERTISE_HOST
              value: "$(POD_IP)"
            - name: GRPC_PORT
              value: "{{ .grpcPort }}"
            - name: HTTP_PORT
              value: "{{ .httpPort }}"
            - name: NATS_URL
              value: {{ include "sip-pubsub.natsUrl" $root | quote }}
            - name: NATS_KV_REPLICAS
              value: {{ include "sip-pubsub.kvReplicas" $root | quote }}
            - name: SIP_DOMAIN
              value: {{ $root.Values.sip.domain | quote }}
            - name: LOG_LEVEL
              value: {{ $root.Values.sip.logLevel | quote }}
            {{- range $k, $v := .env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
            {{- with .valueEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- range $k, $v := .values.env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
            {{- with .values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with .values.envFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - { name: grpc, containerPort: {{ .grpcPort }}, protocol: TCP }
            - { name: http, containerPort: {{ .httpPort }}, protocol: TCP }
            {{- range .ports }}
            - {{ toJson . }}
            {{- end }}
          # Start-up connects to NATS and opens the KV buckets; a slow NATS must not get the pod killed.
          startupProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 10
          readinessProbe:
            httpGet: { path: /readyz, port: http }
            periodSeconds: 5
          resources:
            {{- toYaml .values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          {{- with .mounts }}
          volumeMounts:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with .volumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{- define "sip-pubsub.grpcService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "sip-pubsub.fullname" .root }}-{{ .name }}
  labels:
    {{- include "sip-pubsub.componentLabels" (dict "root" .root "name" .name) | nindent 4 }}
spec:
  # Headless: callers pick a replica by rendezvous hashing over the EndpointSlice, not by kube-proxy.
  clusterIP: None
  selector:
    app.kubernetes.io/instance: {{ .root.Release.Name }}
    app.kubernetes.io/name: {{ .name }}
  ports:
    - { name: grpc, port: {{ .grpcPort }}, targetPort: grpc, protocol: TCP }
    - { name: http, port: {{ .httpPort }}, targetPort: http, protocol: TCP }
{{- end -}}

{{/*
The access list's ConfigMap name, or "" when neither acl.rules nor acl.existingConfigMap is set.
*/}}
{{- define "sip-pubsub.aclConfigMap" -}}
{{- if .Values.acl.existingConfigMap -}}
{{- .Values.acl.existingConfigMap -}}
{{- else if .Values.acl.rules -}}
{{- include "sip-pubsub.fullname" . }}-acl
{{- end -}}
{{- end -}}

{{/*
ACL_FILE, ACL_DEFAULT and the ConfigMap volume for the focus-controller and the notifier, as YAML with
env, volumes and mounts. The whole directory is mounted (no subPath) so that a ConfigMap update reaches
the pod and the services' file watch reloads it.
*/}}
{{- define "sip-pubsub.acl" -}}
{{- $name := include "sip-pubsub.aclConfigMap" . -}}
{{- if $name -}}
env:
  ACL_FILE: /etc/sip-pubsub/acl/{{ .Values.acl.key }}
  ACL_DEFAULT: {{ .Values.acl.default }}
volumes:
  - name: acl
    configMap:
      name: {{ $name }}
      items:
        - { key: {{ .Values.acl.key }}, path: {{ .Values.acl.key }} }
mounts:
  - { name: acl, mountPath: /etc/sip-pubsub/acl, readOnly: true }
{{- else -}}
env: {}
volumes: []
mounts: []
{{- end -}}
{{- end -}}

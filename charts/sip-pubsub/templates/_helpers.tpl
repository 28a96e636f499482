{{- define "sip-pubsub.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "sip-pubsub.labels" -}}
app.kubernetes.io/part-of: sip-pubsub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
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

{{/*
A service Deployment. Call with (dict "root" $ "name" "focus-controller" "values" .Values.focusController
"grpcPort" 50052 "httpPort" 9091 "env" (dict ...) "ports" (list ...) "hostNetwork" false)
*/}}
{{- define "sip-pubsub.deployment" -}}
{{- $root := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "sip-pubsub.fullname" $root }}-{{ .name }}
  labels:
    {{- include "sip-pubsub.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ .name }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .values.replicas }}
  {{- end }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $root.Release.Name }}
      app.kubernetes.io/name: {{ .name }}
  template:
    metadata:
      labels:
        {{- include "sip-pubsub.labels" $root | nindent 8 }}
        app.kubernetes.io/name: {{ .name }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{{ .httpPort }}"
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
              value: {{ $root.Values.nats.kvReplicas | default 1 | quote }}
            - name: SIP_DOMAIN
              value: {{ $root.Values.sip.domain | quote }}
            - name: LOG_LEVEL
              value: {{ $root.Values.sip.logLevel | quote }}
            {{- range $k, $v := .env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
            {{- range $k, $v := .values.env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
          ports:
            - { name: grpc, containerPort: {{ .grpcPort }}, protocol: TCP }
            - { name: http, containerPort: {{ .httpPort }}, protocol: TCP }
            {{- range .ports }}
            - {{ toJson . }}
            {{- end }}
          livenessProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 10
          readinessProbe:
            httpGet: { path: /readyz, port: http }
            periodSeconds: 5
          resources:
            {{- toYaml .values.resources | nindent 12 }}
          securityContext:
            runAsNonRoot: true
            runAsUser: 10001
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: [ALL] }
{{- end -}}

{{- define "sip-pubsub.grpcService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "sip-pubsub.fullname" .root }}-{{ .name }}
  labels:
    {{- include "sip-pubsub.labels" .root | nindent 4 }}
    app.kubernetes.io/name: {{ .name }}
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

import { baseConfigShape, env } from '@sip-pubsub/platform';
import { z } from 'zod';
import { admissionConfigShape, requireCompleteAuth } from './admission-config.js';
import { intakeConfigShape } from './intake-config.js';

/** An HTTP(S) origin exactly as a browser sends it: scheme, host and port only. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

export const SIP_TRANSPORT_NAMES = ['udp', 'tcp', 'tls', 'ws', 'wss'] as const;

/** tls and wss cannot start without a certificate and key: say which variable is missing. */
function requireCertificateForSecureTransports(
  config: { SIP_TRANSPORTS: string[]; SIP_TLS_CERT_FILE?: string; SIP_TLS_KEY_FILE?: string },
  ctx: z.RefinementCtx,
): void {
  const secure = config.SIP_TRANSPORTS.filter((t) => t === 'tls' || t === 'wss');
  if (secure.length === 0) return;
  for (const variable of ['SIP_TLS_CERT_FILE', 'SIP_TLS_KEY_FILE'] as const)
    if (!config[variable])
      ctx.addIssue({
        code: 'custom',
        path: [variable],
        message: `required when SIP_TRANSPORTS includes ${secure.join(' and ')}`,
      });
}

export const edgeConfigSchema = z
  .object({
    ...baseConfigShape,
    HTTP_PORT: env.port(9090),
    SIP_DOMAIN: env.string('localhost'),
    SIP_HOST: env.string('0.0.0.0'),
    SIP_PORT: env.port(5060),
    /** Host written in our Via sent-by and used by peers to reach us. */
    SIP_ADVERTISE_HOST: env.string('127.0.0.1'),
    /** A LoadBalancer Service whose external address replaces SIP_ADVERTISE_HOST (read at start). */
    SIP_ADVERTISE_FROM_SERVICE: env.optionalString(),
    SIP_TRANSPORTS: z
      .string()
      .default('udp,tcp')
      .transform((v) => v.split(',').map((t) => t.trim().toLowerCase()))
      .pipe(z.array(z.enum(SIP_TRANSPORT_NAMES)).min(1, `at least one of ${SIP_TRANSPORT_NAMES.join(', ')}`)),
    /** Listen ports of the other transports (SIP_PORT is UDP's and TCP's); 0 = ephemeral. */
    SIP_TLS_PORT: env.port(5061),
    SIP_WS_PORT: env.port(5066),
    SIP_WSS_PORT: env.port(5067),
    /**
     * Browser origins (scheme://host[:port], comma-separated) allowed to open SIP WebSocket connections;
     * unset: the broker's own HTTP origins (ws-origins.ts). A handshake without Origin is not a browser's.
     */
    SIP_WS_ALLOWED_ORIGINS: z
      .string()
      .optional()
      .transform((v) => (v?.trim() ? v.split(',').map((o) => o.trim()) : undefined))
      .pipe(
        z
          .array(z.string().refine(isOrigin, 'expected an origin such as https://console.example.com'))
          .optional(),
      ),
    /** PEM certificate chain and key for tls and wss. */
    SIP_TLS_CERT_FILE: env.optionalString(),
    SIP_TLS_KEY_FILE: env.optionalString(),
    SIP_MAX_MESSAGE_SIZE: env.int(65_536, 1_024, 1_048_576),
    SIP_T1_MS: env.int(500, 10, 10_000),
    SIP_T2_MS: env.int(4_000, 100, 60_000),
    SIP_T4_MS: env.int(5_000, 100, 60_000),
    /**
     * How long the 2xx to a dial-out INVITE waits for its focus's ACK before the edge ACKs and BYEs the
     * party itself (owner-acks.ts); 0 = 16*SIP_T1_MS (8 s), well inside the party's 64*T1 of retransmissions.
     */
    SIP_OWNER_ACK_TIMEOUT_MS: env.durationMs(0),
    GRPC_HOST: env.string('0.0.0.0'),
    GRPC_PORT: env.port(50051),
    GRPC_ADVERTISE_HOST: env.string('127.0.0.1'),
    /** Deadline for the owner of a conference to answer a request. */
    ROUTE_TIMEOUT_MS: env.durationMs(5_000),
    /**
     * How requests reach their owner: `stream` (the default), one long-lived Link stream per owner replica
     * carrying them and the owner's requests back, or `unary`, one gRPC call each.
     */
    OWNER_LINK: env.enumOf(['unary', 'stream'] as const, 'stream'),
    ...admissionConfigShape,
    ...intakeConfigShape,
  })
  .refine((c) => c.SIP_ADVERTISE_FROM_SERVICE === undefined || c.POD_NAMESPACE !== undefined, {
    message: 'POD_NAMESPACE is required when SIP_ADVERTISE_FROM_SERVICE is set',
    path: ['POD_NAMESPACE'],
  })
  .superRefine(requireCertificateForSecureTransports)
  .superRefine(requireCompleteAuth);
export type EdgeConfig = z.infer<typeof edgeConfigSchema>;

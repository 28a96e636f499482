// Runs JsSIP (a browser SIP library, independent of this project) inside Node for interop tests:
// - NodeWebSocketSocket: JsSIP's documented custom Socket interface over the `ws` client, since Node 20
//   has no global WebSocket for JsSIP.WebSocketInterface;
// - a text-only stand-in for RTCPeerConnection: JsSIP's call() needs one to produce the SDP offer, and
//   a broker topic negotiates m=text (T.140), which a WebRTC peer connection cannot offer. The stand-in
//   hands JsSIP the offer the test wrote and keeps the answer; all SIP (INVITE, 3xx, ACK, BYE, SUBSCRIBE,
//   NOTIFY) is JsSIP's own.
import JsSIP from 'jssip';
import { WebSocket } from 'ws';

/** JsSIP Socket (jssip.net "Socket" API) over the `ws` client with the `sip` subprotocol (RFC 7118). */
export class NodeWebSocketSocket {
  readonly via_transport: 'WS' | 'WSS';
  readonly url: string;
  readonly sip_uri: string;
  private readonly ca?: string;
  /** Every SIP message text received, for assertions on what reached the UA over this socket. */
  readonly received: string[] = [];
  private ws?: WebSocket;

  onconnect: () => void = () => {};
  ondisconnect: (error: boolean, code?: number, reason?: string) => void = () => {};
  ondata: (data: string) => void = () => {};

  /** `tls.ca` makes it WSS, trusting that certificate. */
  constructor(host: string, port: number, tls?: { ca: string }) {
    const scheme = tls ? 'wss' : 'ws';
    this.via_transport = tls ? 'WSS' : 'WS';
    this.url = `${scheme}://${host}:${port}/`;
    this.sip_uri = `sip:${host}:${port};transport=${scheme}`;
    this.ca = tls?.ca;
  }

  connect(): void {
    const ws = new WebSocket(this.url, 'sip', this.ca ? { ca: this.ca } : {});
    this.ws = ws;
    ws.on('open', () => this.onconnect());
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString();
      this.received.push(text);
      this.ondata(text);
    });
    ws.on('close', (code, reason) => this.ondisconnect(code !== 1000, code, reason.toString()));
    // Failures surface as 'close'; JsSIP's recovery logic takes it from there.
    ws.on('error', () => {});
  }

  disconnect(): void {
    this.ws?.close(1000);
  }

  send(message: string): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(message);
    return true;
  }

  isConnected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  isConnecting(): boolean {
    return this.ws?.readyState === WebSocket.CONNECTING;
  }
}

/** The offer the next JsSIP call() will send; set with `nextOffer()` before each call. */
let pendingOffer: string | undefined;

export function nextOffer(sdp: string): void {
  pendingOffer = sdp;
}

class TextSessionDescription {
  readonly type: string;
  readonly sdp: string;
  constructor(init: { type: string; sdp: string }) {
    this.type = init.type;
    this.sdp = init.sdp;
  }
}

/** Just enough of RTCPeerConnection for JsSIP's outgoing-call path, with an SDP chosen by the test. */
export class TextOnlyPeerConnection {
  readonly iceGatheringState = 'complete';
  readonly iceConnectionState = 'new';
  signalingState = 'stable';
  localDescription?: TextSessionDescription;
  remoteDescription?: TextSessionDescription;

  createOffer(): Promise<TextSessionDescription> {
    const sdp = pendingOffer;
    pendingOffer = undefined;
    if (!sdp) return Promise.reject(new Error('TextOnlyPeerConnection: call nextOffer(sdp) before call()'));
    return Promise.resolve(new TextSessionDescription({ type: 'offer', sdp }));
  }
  createAnswer(): Promise<TextSessionDescription> {
    return Promise.reject(new Error('TextOnlyPeerConnection answers no calls'));
  }
  setLocalDescription(desc: TextSessionDescription): Promise<void> {
    this.localDescription = desc;
    this.signalingState = 'have-local-offer';
    return Promise.resolve();
  }
  setRemoteDescription(desc: TextSessionDescription): Promise<void> {
    this.remoteDescription = desc;
    this.signalingState = 'stable';
    return Promise.resolve();
  }
  addEventListener(): void {}
  removeEventListener(): void {}
  addTrack(): void {}
  getSenders(): unknown[] {
    return [];
  }
  getReceivers(): unknown[] {
    return [];
  }
  close(): void {
    this.signalingState = 'closed';
  }
}

/** Puts the stand-ins where JsSIP looks for them (it reads window.RTCPeerConnection). */
export function installTextOnlyWebRtc(): void {
  const g = globalThis as Record<string, unknown>;
  g.window ??= globalThis;
  g.RTCPeerConnection = TextOnlyPeerConnection;
  g.RTCSessionDescription = TextSessionDescription;
}

export interface NodeUa {
  ua: JsSIP.UA;
  socket: NodeWebSocketSocket;
  stop(): Promise<void>;
}

/** A started, connected, non-registering JsSIP UA for `uri` over ws://host:port (wss:// with `tls`). */
export async function startJsSipUa(
  uri: string,
  host: string,
  port: number,
  tls?: { ca: string },
): Promise<NodeUa> {
  const socket = new NodeWebSocketSocket(host, port, tls);
  const ua = new JsSIP.UA({
    // biome-ignore lint/suspicious/noExplicitAny: JsSIP's typings only know its browser socket class
    sockets: [socket as any],
    uri,
    register: false,
    connection_recovery_min_interval: 1,
    connection_recovery_max_interval: 2,
  });
  const connected = new Promise<void>((resolve, reject) => {
    ua.once('connected', () => resolve());
    ua.once('disconnected', () => reject(new Error(`JsSIP could not connect to ${socket.url}`)));
  });
  ua.start();
  await connected;
  return {
    ua,
    socket,
    stop: async () => {
      const stopped = new Promise<void>((resolve) => ua.once('disconnected', () => resolve()));
      ua.stop();
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 2_000))]);
    },
  };
}

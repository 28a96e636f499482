// Media consent for raw test UAs (README "Media consent"): the relay sends a leg nothing until it hears
// from the leg's RTP address, and closes legs it hears nothing from. A raw subscriber calls this with
// its RTP socket and the relay address from the SDP answer; it sends an RFC 6263 keep-alive (an empty
// datagram) at once and every interval until the returned function is called.
import type * as dgram from 'node:dgram';

export function keepMediaConsent(
  socket: dgram.Socket,
  relay: { host: string; port: number },
  intervalMs = 5_000,
): () => void {
  const send = () => {
    try {
      socket.send(Buffer.alloc(0), relay.port, relay.host);
    } catch {
      // the socket was closed: nothing more to keep alive
    }
  };
  send();
  const timer = setInterval(send, intervalMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  socket.once('close', stop);
  return stop;
}

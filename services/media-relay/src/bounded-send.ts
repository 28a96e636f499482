// The per-leg outgoing queue cap. UDP sends are fire-and-forget, but a datagram the kernel cannot take
// at once waits in the socket's queue in our memory; a peer (or a path) that stops draining must not
// let that queue grow without bound, so past the cap datagrams to the leg are dropped and counted.

export interface QueueingSocket {
  send(data: Uint8Array, port: number, host: string): void;
  /** Bytes waiting in the send queue (node:dgram Socket.getSendQueueSize). */
  getSendQueueSize(): number;
}

export function boundedSender(
  socket: QueueingSocket,
  maxQueuedBytes: number,
  onDrop: () => void,
): (data: Uint8Array, host: string, port: number) => boolean {
  return (data, host, port) => {
    if (socket.getSendQueueSize() + data.length > maxQueuedBytes) {
      onDrop();
      return false;
    }
    socket.send(data, port, host);
    return true;
  };
}

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  asyncUnary,
  GrpcClientPool,
  GrpcStatusError,
  type RunningGrpcServer,
  startGrpcServer,
  unary,
} from './grpc.js';
import { createLogger } from './logging.js';

interface EchoRequest {
  text: string;
  delayMs?: number;
  fail?: 'throw' | 'not-found';
}
interface EchoReply {
  text: string;
  peer: string;
}

// A hand-made service definition with JSON on the wire, so the test needs no .proto.
const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()),
};
const echoService: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');

const logger = createLogger('test', { level: 'silent' });

describe('gRPC helpers', () => {
  let running: RunningGrpcServer | undefined;
  let pool: GrpcClientPool<grpc.Client> | undefined;
  afterEach(async () => {
    pool?.close();
    await running?.stop(100);
  });

  async function start(): Promise<string> {
    running = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      services: [
        {
          definition: echoService,
          implementation: {
            Echo: asyncUnary<EchoRequest, EchoReply>(async (req, call) => {
              if (req.delayMs) await new Promise((r) => setTimeout(r, req.delayMs));
              if (req.fail === 'throw') throw new Error(`cannot echo ${req.text}`);
              if (req.fail === 'not-found')
                throw new GrpcStatusError(grpc.status.NOT_FOUND, `no conference ${req.text}`);
              return { text: req.text.toUpperCase(), peer: call.getPeer() };
            }, logger),
          },
        },
      ],
    });
    pool = new GrpcClientPool(EchoClient);
    return `127.0.0.1:${running.port}`;
  }

  it('round-trips a unary call through startGrpcServer and unary', async () => {
    const address = await start();
    expect(running?.port).toBeGreaterThan(0);
    const reply = await unary<EchoRequest, EchoReply>(pool!.get(address), 'Echo', { text: 'hello' });
    expect(reply.text).toBe('HELLO');
    expect(reply.peer).toMatch(/^(ipv4:)?127\.0\.0\.1:\d+$/);
  });

  it('reuses one client per address', async () => {
    const address = await start();
    expect(pool!.get(address)).toBe(pool!.get(address));
    expect(pool!.get(address)).not.toBe(pool!.get(`localhost:${running!.port}`));
  });

  it('surfaces an exceeded deadline as DEADLINE_EXCEEDED', async () => {
    const address = await start();
    const call = unary(pool!.get(address), 'Echo', { text: 'slow', delayMs: 2000 }, 50);
    await expect(call).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
  });

  it('turns a thrown error into INTERNAL with its message, and the server keeps serving', async () => {
    const address = await start();
    const client = pool!.get(address);
    await expect(unary(client, 'Echo', { text: 'x', fail: 'throw' })).rejects.toMatchObject({
      code: grpc.status.INTERNAL,
      details: 'cannot echo x',
    });
    expect(await unary<EchoRequest, EchoReply>(client, 'Echo', { text: 'still here' })).toMatchObject({
      text: 'STILL HERE',
    });
  });

  it('answers a GrpcStatusError with its own code', async () => {
    const address = await start();
    await expect(unary(pool!.get(address), 'Echo', { text: 'c9', fail: 'not-found' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'no conference c9',
    });
  });

  it('rejects a call to a method the client does not have', async () => {
    const address = await start();
    await expect(unary(pool!.get(address), 'Nope', {})).rejects.toThrow(/no method Nope/);
  });

  it('fails a call to an address nobody listens on', async () => {
    const address = await start();
    await running!.stop(0);
    running = undefined;
    await expect(unary(pool!.get(address), 'Echo', { text: 'x' }, 500)).rejects.toMatchObject({
      code: expect.any(Number),
    });
  });
});

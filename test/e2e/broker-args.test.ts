// The command line as a user meets it: `sip-pubsub-broker --help` (what `npm start -- --help` runs) and
// each service's `main.js --help` print the settings and exit without listening; an argument they do
// not take is refused with exit 2 and its name, never silently ignored while the process starts anyway.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/brokers.js';

const BROKER = path.join(ROOT, 'node_modules/.bin/sip-pubsub-broker');
const CLI = path.join(ROOT, 'node_modules/.bin/sip-pubsub');
const SERVICES = ['signalling-edge', 'focus-controller', 'media-relay', 'notifier'];

function run(
  bin: string,
  args: string[],
  node = false,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    // Ports a started broker could not take: if it ignored the arguments and started, it would fail loudly.
    const child = spawn(node ? process.execPath : bin, node ? [bin, ...args] : args, {
      env: { ...process.env, LOG_LEVEL: 'warn', SIP_PORT: '1', HTTP_PORT: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe('the broker command line', () => {
  it('--help lists the variables it reads with their defaults and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, out, err } = await run(BROKER, [flag]);
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(out).toMatch(/^Usage: sip-pubsub-broker \[--help\]/);
      // The broker's own defaults (not a service's), one line each.
      expect(out).toMatch(/^ {2}SIP_PORT +5060$/m);
      expect(out).toMatch(/^ {2}HTTP_PORT +9090$/m);
      expect(out).toMatch(/^ {2}RELAY_PORT_MIN +20000$/m);
      expect(out).toMatch(/^ {2}NATS_URL +\(unset\)$/m);
      expect(out).not.toMatch(/GRPC_PORT/);
      expect(out).not.toMatch(/sip-pubsub is running/);
    }
  });

  it('refuses an argument it does not take, naming it, before listening', async () => {
    const { code, out, err } = await run(BROKER, ['--port', '5070']);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('unknown argument "--port"');
    // `sip-pubsub serve` hands its arguments to the broker, which refuses them the same way.
    const served = await run(CLI, ['serve', '--verbose']);
    expect(served.code).toBe(2);
    expect(served.err).toContain('unknown argument "--verbose"');
  });

  it('each service process answers --help with its own variables and refuses other arguments', async () => {
    for (const name of SERVICES) {
      const main = path.join(ROOT, `services/${name}/dist/main.js`);
      const help = await run(main, ['--help'], true);
      expect(help.code, help.err).toBe(0);
      expect(help.out).toMatch(new RegExp(`^Usage: ${name} \\[--help\\]`));
      expect(help.out).toMatch(/^ {2}NATS_URL +\(unset\)$/m);
      expect(help.out).toMatch(/^ {2}HTTP_PORT +\d+$/m);
      const refused = await run(main, ['serve'], true);
      expect(refused.code).toBe(2);
      expect(refused.err).toContain(`${name}: unknown argument "serve"`);
    }
  });
});

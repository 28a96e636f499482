// Builds rtt-peer.c against Debian's liblinphone-dev at test time and drives it through argv, stdin and
// stdout (the protocol is at the top of rtt-peer.c).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rtt-peer.c');

/**
 * Compiles the peer once per source version. Debian's linphone.pc lists the libraries liblinphone needs
 * but not liblinphone itself, so -llinphone is added.
 */
export function buildLinphonePeer(): string {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const binary = path.join(tmpdir(), `sip-pubsub-rtt-peer-${hash}`);
  if (existsSync(binary)) return binary;
  let flags: string[];
  try {
    flags = execFileSync('pkg-config', ['--cflags', '--libs', 'linphone'], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
  } catch {
    throw new Error(
      'liblinphone-dev is not installed (apt-get install liblinphone-dev; scripts/ensure-tools.sh does)',
    );
  }
  execFileSync(
    'gcc',
    ['-O1', '-Wall', '-Wno-deprecated-declarations', '-o', binary, SOURCE, ...flags, '-llinphone'],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  return binary;
}

export interface LinphoneCall {
  /** 'host:port' of the edge, used as outbound proxy for out-of-dialog requests (no DNS needed). */
  proxy: string;
  identity: string;
  target: string;
  subject?: string;
  /** PROFILE "Roles from SDP": a=sendonly, a=recvonly, or no direction (sendrecv). Default both. */
  role?: 'publisher' | 'subscriber' | 'both';
}

/** One running rtt-peer: its stdout events, and commands to send text and hang up. */
export class LinphonePeer {
  private readonly events: string[] = [];
  private waiters: (() => void)[] = [];
  private readonly home: string;
  private readonly child: ChildProcess;
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(binary: string, call: LinphoneCall) {
    // liblinphone keeps its database under $HOME; each peer gets its own, removed at the end.
    this.home = mkdtempSync(path.join(tmpdir(), 'sip-pubsub-linphone-'));
    mkdirSync(path.join(this.home, '.local/share/linphone'), { recursive: true });
    this.child = spawn(
      binary,
      [
        `sip:${call.proxy};transport=udp`,
        call.identity,
        call.target,
        call.subject ?? '',
        call.role ?? 'both',
      ],
      {
        env: { ...process.env, HOME: this.home },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      this.events.push(...lines);
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-20_000);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Waits for an event line that starts with `prefix` (and satisfies `match`); returns the rest of it. */
  async next(
    prefix: string,
    match: (rest: string) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex((e) => e.startsWith(`${prefix} `) && match(e.slice(prefix.length + 1)));
      if (i >= 0) return this.events.splice(i, 1)[0].slice(prefix.length + 1);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `rtt-peer: no "${prefix}" event within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}\n${this.stderr.slice(-4_000)}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Puts `line` and U+2028 on the real-time-text stream. */
  send(line: string): void {
    this.child.stdin!.write(`SEND ${line}\n`);
  }

  hangUp(): void {
    this.child.stdin!.write('BYE\n');
  }

  /** The events seen so far and not consumed, for failure messages. */
  pending(): string[] {
    return [...this.events];
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin!.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}

// The fast paths may only say "valid" where the full parsers agree; and they must say it for the everyday
// values the broker sees, or the parser would fall back to the slow route on every message.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCSeq } from './cseq.js';
import { scanHeaderLines } from './header-lines.js';
import { parseNameAddr } from './name-addr.js';
import { isPlainNameAddr, isPlainSipUri, isPlainVia, plainCSeqMethod } from './syntax-fast-path.js';
import { parseUri } from './uri.js';
import { parseVia } from './via.js';

// Mostly well-formed pieces, so that both answers of the fast paths get exercised.
const mostly = (valid: string[], invalid: string[]) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...valid), weight: 5 },
    { arbitrary: fc.constantFrom(...invalid), weight: 1 },
  );
const joined = (...parts: fc.Arbitrary<string>[]) => fc.tuple(...parts).map((p) => p.join(''));
const params = (valid: string[], invalid: string[]) =>
  fc.array(mostly(valid, invalid), { maxLength: 3 }).map((p) => p.join(''));
// One stray character somewhere, a quarter of the time.
const stray = (value: fc.Arbitrary<string>) =>
  fc
    .tuple(
      value,
      fc.nat(),
      fc.oneof(
        { arbitrary: fc.constant(''), weight: 3 },
        fc.constantFrom(' ', '\t', ';', ':', '"', '<', '>', '@', '%', 'é', '\u00a0', ',', '=', '['),
      ),
    )
    .map(([text, at, ch]) => text.slice(0, at % (text.length + 1)) + ch + text.slice(at % (text.length + 1)));

const host = mostly(
  ['host.example.net', 'h', 'h.', '198.51.100.23', 'h_x'],
  ['-h', 'h-', '[::1]', '', 'h x'],
);
const port = mostly(['', ':5060', ':65535', ':00080'], [':65536', ':', ':123456', ':a']);
const uri = stray(
  joined(
    mostly(['sip:', 'sips:', 'SIP:'], ['sipx:', 'tel:', 'sip']),
    mostly(['', 'alice@', 'a:b@', 'a%41@', 'a;b?c@'], ['a%4@', ':p@', 'é@', 'a@b@']),
    host,
    port,
    params(
      [';lr', ';transport=tcp', ';%41=1', ';maddr=[::1]'],
      [';', ';=x', ';a=', ';a=b=c', '?x=y', ';a b'],
    ),
  ),
);
const via = stray(
  joined(
    mostly(['SIP/2.0/UDP', 'SIP/2.0/tcp', 'S/1/x'], ['SIP /2.0/UDP', 'SIP/2.0', 'SIP/2.0/UD"P']),
    mostly([' ', '  '], ['\t', '']),
    host,
    port,
    params(
      [';branch=z9hG4bK1', ';rport', ';received=1.2.3.4', ';x=a:b'],
      [';branch', ';BRANCH', ';x="q"', ';', '; x=1', ';x='],
    ),
  ),
);
const nameAddr = stray(
  joined(
    mostly(['', '"Alice" ', '"A \\"q\\"" ', 'Alice ', 'Alice  Smith ', '"x"'], ['"open ', 'Ann, B ', 'é ']),
    fc.oneof({ arbitrary: uri.map((u) => `<${u}>`), weight: 4 }, uri),
    params([';tag=1', ';a=b;c', ';x=y'], [';tag', ' ;tag=1', ';x="y"', ';']),
  ),
);
const cseq = stray(
  joined(
    mostly(['1', '0', '2147483647', '01'], ['2147483648', '12345678901', '']),
    mostly([' '], ['  ', '\t', '']),
    mostly(['INVITE', 'BYE', 'x.y'], ['A/B', '', 'é']),
  ),
);

const accepts = (parse: (text: string) => unknown, text: string) => {
  try {
    parse(text);
    return true;
  } catch {
    return false;
  }
};

describe('syntax fast paths', () => {
  it('say valid only for values the full parsers accept', () => {
    const agree = (fast: (text: string) => boolean, parse: (text: string) => unknown) => (text: string) => {
      if (fast(text)) expect(accepts(parse, text)).toBe(true);
    };
    fc.assert(fc.property(uri, agree(isPlainSipUri, parseUri)), { numRuns: 5000 });
    fc.assert(fc.property(via, agree(isPlainVia, parseVia)), { numRuns: 5000 });
    fc.assert(fc.property(nameAddr, agree(isPlainNameAddr, parseNameAddr)), { numRuns: 5000 });
    fc.assert(
      fc.property(cseq, (text) => {
        const method = plainCSeqMethod(text);
        if (method !== undefined) expect(parseCSeq(text).method).toBe(method);
      }),
      { numRuns: 5000 },
    );
  });

  it('take the everyday values of the broker', () => {
    expect(isPlainSipUri('sip:conf-mfrggzdfmztwq2lk@broker.example.net')).toBe(true);
    expect(isPlainSipUri('sips:u:p%41@198.51.100.23:5061;transport=tls;lr')).toBe(true);
    expect(isPlainVia('SIP/2.0/UDP 198.51.100.23:5072;rport=5072;branch=z9hG4bKnashds8.4a1')).toBe(true);
    expect(isPlainVia('SIP/2.0/TCP 192.0.2.44:50122;branch=z9hG4bK-524287-1---2f1a6c9b;rport')).toBe(true);
    expect(isPlainNameAddr('"Boiler 7 temperature" <sip:sensor-17@plant-7.example.net>;tag=9fxced76sl')).toBe(
      true,
    );
    expect(isPlainNameAddr('Control room <sip:watcher@ops.example.net>;tag=a73kszlfl')).toBe(true);
    expect(plainCSeqMethod('2 INVITE')).toBe('INVITE');
  });

  it('leave the unusual and the invalid to the full parsers', () => {
    for (const uri of ['sip:[2001:db8::1]', 'sip:a@b?subject=x', 'sip:a@b:65536', 'tel:+1234', 'sip:a@b;']) {
      expect(isPlainSipUri(uri)).toBe(false);
    }
    for (const via of [
      'SIP/2.0/UDP h;branch',
      'SIP/2.0/UDP h;x="q"',
      'SIP / 2.0/UDP h',
      'SIP/2.0/UDP h:0x1',
    ]) {
      expect(isPlainVia(via)).toBe(false);
    }
    for (const addr of [
      'sip:a@b;tag=1',
      '<sip:a@b> ;tag=1',
      '"Open <sip:a@b>',
      '<tel:+1>',
      'Ann, B <sip:a@b>',
    ]) {
      expect(isPlainNameAddr(addr)).toBe(false);
    }
    for (const cseq of ['1  INVITE', '99999999999 INVITE', '4294967295 INVITE', '1 INV/TE']) {
      expect(plainCSeqMethod(cseq)).toBeUndefined();
    }
  });
});

describe('scanHeaderLines', () => {
  const lineish = fc
    .array(
      fc.constantFrom('a', ':', ' ', '\t', '\r', '\n', '\r\n', '\\', '\x01', '\x7f', 'é', '\uFFFD', 'Via'),
      {
        maxLength: 30,
      },
    )
    .map((parts) => `X${parts.join('')}`);

  it('cuts lines and finds colons as split(/\\r?\\n/) and indexOf(":") would, refusing the same controls', () => {
    fc.assert(
      fc.property(lineish, fc.boolean(), (text, asLatin1) => {
        const buf = Buffer.from(text, asLatin1 ? 'latin1' : 'utf8');
        const head = buf.toString('utf8');
        const lines = head.split(/\r?\n/);
        if (lines[lines.length - 1] === '') lines.pop();
        // The rule of RFC 3261 §25.1 as the first parser wrote it: controls only inside a quoted-pair.
        const refused = lines.some((line) =>
          [...line].some((ch, i) => {
            const code = ch.charCodeAt(0);
            if (line[i - 1] === '\\' && code !== 0x0d && code !== 0x0a) return false;
            return (code < 0x20 && code !== 0x09) || code === 0x7f;
          }),
        );
        if (refused) {
          expect(() => scanHeaderLines(buf, 0, buf.length, head)).toThrow('Control character');
          return;
        }
        const scanned = scanHeaderLines(buf, 0, buf.length, head);
        const got: [string, number][] = [];
        for (let i = 0; i < scanned.count; i++) {
          const start = scanned.marks[i * 3];
          const colon = scanned.marks[i * 3 + 2];
          got.push([head.slice(start, scanned.marks[i * 3 + 1]), colon < 0 ? -1 : colon - start]);
        }
        expect(got).toEqual(lines.map((line) => [line, line.indexOf(':')]));
      }),
      { numRuns: 5000 },
    );
  });
});

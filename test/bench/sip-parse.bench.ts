// Parse + serialize throughput of packages/sip for the three messages the broker handles most: a join
// INVITE with its SDP offer, a conference SUBSCRIBE, and a NOTIFY carrying a conference-info document.
// Two figures per message: the bare codec (parseMessage then serializeMessage), and the codec plus the
// typed header reads the edge and the focus do on every request (Via, From/To tags, CSeq, Contact, Event).
// Printed, never asserted. Run: npm run bench -- sip-parse [--seconds 3]
import {
  getHeader,
  getHeaders,
  parseContacts,
  parseCSeq,
  parseEvent,
  parseMessage,
  parseNameAddr,
  parseVia,
  type SipMessage,
  serializeMessage,
  tagOf,
} from '@sip-pubsub/sip';
import { fmt, printHeader, printTable } from './machine.js';

const CRLF = '\r\n';

function message(head: string[], body = ''): Buffer {
  const bytes = Buffer.byteLength(body);
  return Buffer.from([...head, `Content-Length: ${bytes}`, '', body].join(CRLF));
}

const sdp = [
  'v=0',
  'o=sensor-17 3912446011 3912446011 IN IP4 198.51.100.23',
  's=-',
  'c=IN IP4 198.51.100.23',
  't=0 0',
  'm=text 41238 RTP/AVP 100 98',
  'a=rtpmap:98 t140/1000',
  'a=rtpmap:100 red/1000',
  'a=fmtp:100 98/98/98',
  'a=rtcp-mux',
  'a=sendonly',
  '',
].join(CRLF);

export const INVITE = message(
  [
    'INVITE sip:conf-mfrggzdfmztwq2lk@broker.example.net SIP/2.0',
    'Via: SIP/2.0/UDP edge-1.example.net:5060;branch=z9hG4bK7f3a91c0d2.1;received=203.0.113.5',
    'Via: SIP/2.0/UDP 198.51.100.23:5072;rport=5072;branch=z9hG4bKnashds8.4a1;received=198.51.100.23',
    'Record-Route: <sip:edge-1.example.net;lr>',
    'Max-Forwards: 69',
    'From: "Boiler 7 temperature" <sip:sensor-17@plant-7.example.net>;tag=9fxced76sl',
    'To: <sip:conf-mfrggzdfmztwq2lk@broker.example.net>',
    'Call-ID: 3848276298220188511@198.51.100.23',
    'CSeq: 2 INVITE',
    'Contact: <sip:sensor-17@198.51.100.23:5072;transport=udp>;+sip.instance="<urn:uuid:4d3e2f0a-1b7c-4f0e-9a55-3c2b8e1d6f70>"',
    'Subject: plant-7/boiler/temp',
    'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, NOTIFY, SUBSCRIBE',
    'Supported: replaces, timer',
    'User-Agent: sensor-fw/4.2.1',
    'Content-Type: application/sdp',
  ],
  sdp,
);

export const SUBSCRIBE = message([
  'SUBSCRIBE sip:conf-mfrggzdfmztwq2lk@broker.example.net SIP/2.0',
  'Via: SIP/2.0/TCP 192.0.2.44:50122;branch=z9hG4bK-524287-1---2f1a6c9b;rport',
  'Max-Forwards: 70',
  'From: "Control room" <sip:watcher@ops.example.net>;tag=a73kszlfl',
  'To: <sip:conf-mfrggzdfmztwq2lk@broker.example.net>',
  'Call-ID: f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
  'CSeq: 1 SUBSCRIBE',
  'Contact: <sip:watcher@192.0.2.44:50122;transport=tcp>',
  'Event: conference',
  'Expires: 3600',
  'Accept: application/conference-info+xml',
  'Allow-Events: conference, refer',
  'User-Agent: ops-console/1.9',
]);

const conferenceInfo = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" xmlns:ps="urn:ietf:params:xml:ns:pubsub-conference-info" entity="sip:conf-mfrggzdfmztwq2lk@broker.example.net" state="partial" version="7">',
  '  <conference-state><user-count>3</user-count><ps:publisher-count>1</ps:publisher-count><ps:subscriber-count>2</ps:subscriber-count></conference-state>',
  '  <users>',
  ...[
    ['sip:sensor-17@plant-7.example.net', 'sendonly', 2637451849],
    ['sip:historian@ops.example.net', 'recvonly', 1187334410],
    ['sip:dashboard@ops.example.net', 'recvonly', 3011920077],
  ].map(
    ([entity, status, ssrc]) =>
      `    <user entity="${entity}" state="full"><endpoint entity="${entity}" state="full"><status>connected</status><media id="1"><type>text</type><src-id>${ssrc}</src-id><status>${status}</status></media></endpoint></user>`,
  ),
  '  </users>',
  '</conference-info>',
  '',
].join('\n');

export const NOTIFY = message(
  [
    'NOTIFY sip:watcher@192.0.2.44:50122;transport=tcp SIP/2.0',
    'Via: SIP/2.0/TCP edge-1.example.net:5060;branch=z9hG4bK41923832ac4979a5b8aa35d6;rport',
    'Max-Forwards: 70',
    'From: <sip:conf-mfrggzdfmztwq2lk@broker.example.net>;tag=108090a9731e56e8',
    'To: "Control room" <sip:watcher@ops.example.net>;tag=a73kszlfl',
    'Call-ID: f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    'CSeq: 8 NOTIFY',
    'Contact: <sip:conf-mfrggzdfmztwq2lk@broker.example.net>;isfocus',
    'Event: conference',
    'Subscription-State: active;expires=3412',
    'Content-Type: application/conference-info+xml',
  ],
  conferenceInfo,
);

/** What the edge and the services read from every request on its way through. */
function readTyped(msg: SipMessage): number {
  let n = 0;
  for (const v of getHeaders(msg, 'Via')) n += parseVia(v).branch?.length ?? 0;
  n += tagOf(getHeader(msg, 'From') ?? '')?.length ?? 0;
  n += parseNameAddr(getHeader(msg, 'To') ?? '').uri.length;
  n += parseCSeq(getHeader(msg, 'CSeq') ?? '').seq;
  n += (getHeader(msg, 'Call-ID') ?? '').length;
  const contacts = getHeaders(msg, 'Contact');
  if (contacts.length > 0) {
    const list = parseContacts(contacts);
    n += list.wildcard ? 1 : list.contacts.length;
  }
  const event = getHeader(msg, 'Event');
  if (event) n += parseEvent(event).package.length;
  return n;
}

interface Result {
  ops: number;
  nsPerOp: number;
  mbPerS: number;
}

/** Runs `op` in batches until `seconds` have passed (after a warm-up of a quarter of that). */
function measure(op: () => number, bytes: number, seconds: number): Result {
  let sink = 0;
  const warmUntil = process.hrtime.bigint() + BigInt(Math.round(seconds * 0.25e9));
  while (process.hrtime.bigint() < warmUntil) for (let i = 0; i < 1000; i++) sink += op();
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let count = 0;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i++) sink += op();
    count += 1000;
    now = process.hrtime.bigint();
  }
  if (sink === -1) process.stdout.write(''); // keeps the work observable
  const ns = Number(now - start);
  return { ops: (count * 1e9) / ns, nsPerOp: ns / count, mbPerS: (count * bytes) / (ns / 1e9) / 2 ** 20 };
}

export async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(process.argv[i + 1]) : 3;
  printHeader('SIP parse + serialize (packages/sip)', `npm run bench -- sip-parse --seconds ${seconds}`);
  process.stdout.write(
    `each figure: ${seconds} s of measurement after ${seconds / 4} s of warm-up, one thread\n\n`,
  );
  const rows: (string | number)[][] = [['message', 'bytes', 'work', 'ops/s', 'ns/op', 'MiB/s']];
  for (const [name, wire] of [
    ['INVITE + SDP', INVITE],
    ['SUBSCRIBE', SUBSCRIBE],
    ['NOTIFY + conference-info', NOTIFY],
  ] as const) {
    // Sanity: the round trip gives back a message that parses to the same headers.
    const again = parseMessage(serializeMessage(parseMessage(wire)));
    if (again.headers.length !== parseMessage(wire).headers.length)
      throw new Error(`${name}: round trip lost headers`);
    const bare = measure(() => serializeMessage(parseMessage(wire)).length, wire.length, seconds);
    rows.push([
      name,
      wire.length,
      'parse+serialize',
      fmt.int(bare.ops),
      fmt.int(bare.nsPerOp),
      fmt.fixed(bare.mbPerS),
    ]);
    const typed = measure(
      () => {
        const msg = parseMessage(wire);
        return readTyped(msg) + serializeMessage(msg).length;
      },
      wire.length,
      seconds,
    );
    rows.push([
      '',
      '',
      '+ typed headers',
      fmt.int(typed.ops),
      fmt.int(typed.nsPerOp),
      fmt.fixed(typed.mbPerS),
    ]);
  }
  printTable(rows);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();

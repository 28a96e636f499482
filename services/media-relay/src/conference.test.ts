// The relay's nouns own their resources: a leg its socket (and port), a conference its legs and its bus
// subscription, closed in cascade; and the translate fan-out copies a packet once per distinct
// payload-type map, never per subscriber, and counts once per fan-out.
import { parseRtp, serializeRtp, T140Sender } from '@sip-pubsub/media';
import { describe, expect, it } from 'vitest';
import { Leg, type LegOptions, RelayCore, type RelayCounters } from './relay.js';

const CONF = 'c1';

interface Sent {
  leg: string;
  data: Uint8Array;
}

function setup() {
  let now = 1_000;
  const fanouts: { packets: number; bytes: number }[] = [];
  const counters: RelayCounters = {
    publicationsIn: () => {},
    deliveriesOut: (_c, packets, bytes) => fanouts.push({ packets, bytes }),
    invalid: () => {},
    dropped: () => {},
    lost: () => {},
    latency: () => {},
    packetsIn: () => {},
  };
  const core = new RelayCore({
    latching: false,
    maxPackBytes: 16_384,
    counters,
    share: () => {},
    now: () => now,
  });
  const sent: Sent[] = [];
  const closedSockets: string[] = [];
  let port = 20_000;
  const leg = (legId: string, o: Partial<LegOptions> = {}) => {
    const options: LegOptions = {
      conferenceId: CONF,
      legId,
      publishes: false,
      subscribes: true,
      remoteHost: '127.0.0.1',
      remotePort: 4_000 + port - 20_000,
      t140Pt: 98,
      redPt: 100,
      invalidData: 'forward',
      ...o,
    };
    const l = new Leg(options, port++, {
      send: (data) => sent.push({ leg: legId, data }),
      close: () => closedSockets.push(legId),
    });
    core.addLeg(l);
    // Consent from the peer's own address (README "Media consent").
    core.onDatagram(l, new Uint8Array(0), options.remoteHost, options.remotePort);
    return l;
  };
  const packets = (lines: string[]) => {
    const sender = new T140Sender({ ssrc: 7, t140Pt: 98, redPt: 100 });
    return lines.flatMap((line, i) =>
      sender.send(`${line}\u2028`, 1_000 + i * 10).map((p) => serializeRtp(p)),
    );
  };
  return { core, leg, sent, closedSockets, fanouts, packets, tick: (ms: number) => (now += ms) };
}

describe('Leg and Conference ownership', () => {
  it('removing a leg closes its socket; the last one closes the conference and its subscription', () => {
    const { core, leg, closedSockets } = setup();
    const conference = core.openConference(CONF);
    let unsubscribed = 0;
    conference.subscribe(() => ({ unsubscribe: () => unsubscribed++ }));
    leg('a');
    leg('b');
    core.settleConference(CONF);
    expect(core.removeLeg('a')).toEqual({ removed: true, conferenceEmpty: false });
    expect(closedSockets).toEqual(['a']);
    expect(unsubscribed).toBe(0);
    expect(core.removeLeg('b')).toEqual({ removed: true, conferenceEmpty: true });
    expect(closedSockets).toEqual(['a', 'b']);
    expect(unsubscribed).toBe(1);
    expect(core.hasConference(CONF)).toBe(false);
  });

  it('a conference held open for an allocation under way keeps its subscription until it settles', () => {
    const { core, leg } = setup();
    leg('a');
    const conference = core.openConference(CONF);
    let unsubscribed = 0;
    conference.subscribe(() => ({ unsubscribe: () => unsubscribed++ }));
    // The only leg goes while another allocation awaits its retained values: the subject stays joined.
    core.removeLeg('a');
    expect(core.hasConference(CONF)).toBe(true);
    expect(unsubscribed).toBe(0);
    // The allocation failed: nothing is left, so the conference closes and leaves the subject.
    core.settleConference(CONF);
    expect(unsubscribed).toBe(1);
    expect(core.hasConference(CONF)).toBe(false);
  });

  it('closing the core closes every conference, every leg and every subscription', () => {
    const { core, leg, closedSockets } = setup();
    let unsubscribed = 0;
    core.openConference(CONF).subscribe(() => ({ unsubscribe: () => unsubscribed++ }));
    core.settleConference(CONF);
    const a = leg('a');
    leg('b', { conferenceId: 'c2' });
    core.close();
    expect(closedSockets.sort()).toEqual(['a', 'b']);
    expect(unsubscribed).toBe(1);
    expect(a.closed).toBe(true);
    expect(core.legCount).toBe(0);
    expect(core.conferenceLegs().size).toBe(0);
  });

  it('a closed leg is sent nothing more', () => {
    const { core, leg, sent, packets } = setup();
    const pub = leg('pub', { publishes: true, subscribes: false });
    const sub = leg('sub');
    sub.close();
    for (const p of packets(['[{"n":"x","v":1}]']))
      core.onDatagram(pub, p, '127.0.0.1', pub.options.remotePort);
    expect(sent).toEqual([]);
  });
});

describe('translate fan-out', () => {
  it('sends the received buffer itself to legs with its payload types and one copy per other map', () => {
    const { core, leg, sent, fanouts, packets } = setup();
    const pub = leg('pub', { publishes: true, subscribes: false });
    leg('same-1');
    leg('same-2');
    leg('other-1', { t140Pt: 99, redPt: 101 });
    leg('other-2', { t140Pt: 99, redPt: 101 });
    leg('plain', { t140Pt: 97, redPt: 0 });
    const [packet] = packets(['[{"n":"x","v":1}]']);
    core.onDatagram(pub, packet, '127.0.0.1', pub.options.remotePort);
    const to = (id: string) => sent.find((s) => s.leg === id)!.data;
    expect(to('same-1')).toBe(packet);
    expect(to('same-2')).toBe(packet);
    // One rewrite for both legs numbered 99/101, shared; another for the leg without RED.
    expect(to('other-1')).toBe(to('other-2'));
    expect(to('other-1')).not.toBe(packet);
    expect(parseRtp(to('other-1')).payloadType).toBe(101);
    expect(parseRtp(to('plain')).payloadType).toBe(97);
    // Counted once for the whole fan-out.
    expect(fanouts).toEqual([
      { packets: 5, bytes: 2 * packet.length + 2 * to('other-1').length + to('plain').length },
    ]);
  });

  it('a leg switched from translate to mix by a re-INVITE gets lines from then on, not packets', () => {
    const { core, leg, sent, packets, tick } = setup();
    const pub = leg('pub', { publishes: true, subscribes: false });
    const sub = leg('sub');
    sub.configure({ ...sub.options, mode: 'mix' }, 0);
    for (const p of packets(['[{"n":"x","v":1}]']))
      core.onDatagram(pub, p, '127.0.0.1', pub.options.remotePort);
    tick(1);
    core.tick();
    expect(sent.length).toBeGreaterThan(0);
    // The mixer's own stream (RFC 9071): our SSRC with the source as CSRC, not the publisher's packet.
    const first = parseRtp(sent[0].data);
    expect(first.ssrc).toBe(sub.ssrc);
    expect(first.csrcs).toEqual([7]);
  });
});

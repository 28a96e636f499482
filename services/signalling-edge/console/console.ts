// The operator console in the browser: JsSIP over SIP on WebSocket (RFC 7118) subscribes to the topic
// directory (pubsub-conferences at the factory URI), and for the topic picked to its roster (conference)
// and its readings (pubsub-data). Documents are read with the browser's DOMParser; nothing here is sent
// anywhere but the broker's edge.
import JsSIP from 'jssip';

interface ConsoleSettings {
  domain: string;
  factoryUri: string;
  wsPort?: number;
  wssPort?: number;
}
interface Topic {
  entity: string;
  topic: string;
  publishers?: string;
  subscribers?: string;
}
interface Reading {
  value: string;
  unit: string;
  time: string;
  history: number[];
}
type Subscriber = ReturnType<JsSIP.UA['subscribe']>;

const HISTORY = 60;
const byId = (id: string) => document.getElementById(id) as HTMLElement;
const topics = new Map<string, Topic>();
const roster = new Map<string, string>();
const readings = new Map<string, Reading>();
let selected: string | undefined;
let ua: JsSIP.UA | undefined;
let topicSubscriptions: Subscriber[] = [];

function status(text: string, error = false): void {
  const el = byId('status');
  el.textContent = text;
  el.className = error ? 'error' : '';
}

function cell(row: HTMLTableRowElement, text: string, numeric = false): void {
  const td = row.insertCell();
  td.textContent = text;
  if (numeric) td.className = 'n';
}

function childText(element: Element, name: string): string | undefined {
  for (const child of Array.from(element.children))
    if (child.localName === name) return child.textContent ?? '';
  return undefined;
}

function xml(body: string): Document | undefined {
  const doc = new DOMParser().parseFromString(body, 'application/xml');
  return doc.getElementsByTagName('parsererror').length > 0 ? undefined : doc;
}

/** A full directory document replaces the list; a partial one updates or deletes the entries it names. */
function applyDirectory(body: string): void {
  const doc = xml(body);
  if (!doc) return;
  if (doc.documentElement.getAttribute('state') === 'full') topics.clear();
  for (const entry of Array.from(doc.getElementsByTagNameNS('*', 'pubsub-conference'))) {
    const entity = entry.getAttribute('entity') ?? '';
    if (entry.getAttribute('state') === 'deleted') topics.delete(entity);
    else
      topics.set(entity, {
        entity,
        topic: childText(entry, 'topic') ?? '',
        publishers: childText(entry, 'publisher-count'),
        subscribers: childText(entry, 'subscriber-count'),
      });
  }
  renderTopics();
}

function applyRoster(body: string): void {
  const doc = xml(body);
  if (!doc) return;
  if (doc.documentElement.getAttribute('state') === 'full') roster.clear();
  for (const user of Array.from(doc.getElementsByTagNameNS('*', 'user'))) {
    const entity = user.getAttribute('entity') ?? '';
    if (user.getAttribute('state') === 'deleted') roster.delete(entity);
    else {
      const roles = Array.from(user.getElementsByTagNameNS('*', 'entry')).map((e) => e.textContent ?? '');
      roster.set(entity, roles.join(', '));
    }
  }
  const tbody = byId('roster') as HTMLTableSectionElement;
  tbody.replaceChildren();
  for (const [entity, role] of [...roster].sort()) {
    const row = tbody.insertRow();
    row.dataset.entity = entity;
    cell(row, entity);
    cell(row, role);
  }
}

/** SenML (RFC 8428): base fields carry over to later records; names are base name + name. */
function applyReadings(body: string): void {
  let pack: unknown;
  try {
    pack = JSON.parse(body);
  } catch {
    return;
  }
  if (!Array.isArray(pack)) return;
  let bn = '';
  let bt = 0;
  let bu = '';
  for (const record of pack as Record<string, unknown>[]) {
    if (typeof record.bn === 'string') bn = record.bn;
    if (typeof record.bt === 'number') bt = record.bt;
    if (typeof record.bu === 'string') bu = record.bu;
    const name = bn + (typeof record.n === 'string' ? record.n : '');
    const value = record.v ?? record.vs ?? record.vb ?? record.vd ?? record.s;
    if (value === undefined) continue;
    const t = bt + (typeof record.t === 'number' ? record.t : 0);
    const reading = readings.get(name) ?? { value: '', unit: '', time: '', history: [] };
    reading.value = String(value);
    reading.unit = typeof record.u === 'string' ? record.u : bu;
    reading.time = t > 268_435_456 ? new Date(t * 1000).toISOString() : '';
    if (typeof value === 'number') reading.history = [...reading.history, value].slice(-HISTORY);
    readings.set(name, reading);
  }
  renderReadings();
}

function renderTopics(): void {
  const tbody = byId('topics') as HTMLTableSectionElement;
  tbody.replaceChildren();
  for (const t of [...topics.values()].sort((a, b) => a.topic.localeCompare(b.topic))) {
    const row = tbody.insertRow();
    row.className = t.entity === selected ? 'topic selected' : 'topic';
    row.dataset.topic = t.topic;
    cell(row, t.topic);
    cell(row, t.publishers ?? '–', true);
    cell(row, t.subscribers ?? '–', true);
    row.addEventListener('click', () => select(t));
  }
}

function renderReadings(): void {
  const tbody = byId('readings') as HTMLTableSectionElement;
  tbody.replaceChildren();
  for (const [name, r] of [...readings].sort()) {
    const row = tbody.insertRow();
    row.dataset.name = name;
    cell(row, name);
    cell(row, r.value, true);
    cell(row, r.unit);
    cell(row, r.time);
  }
  drawChart();
}

/** One polyline per numeric series, each scaled to its own range. */
function drawChart(): void {
  const svg = byId('chart');
  const width = Number(svg.getAttribute('width'));
  const height = Number(svg.getAttribute('height'));
  const colours = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df'];
  svg.replaceChildren();
  let i = 0;
  for (const [name, r] of [...readings].sort()) {
    if (r.history.length === 0) continue;
    const min = Math.min(...r.history);
    const span = Math.max(...r.history) - min || 1;
    const step = width / Math.max(HISTORY - 1, 1);
    const points = r.history
      .map(
        (v, k) => `${(k * step).toFixed(1)},${(height - 8 - ((v - min) / span) * (height - 24)).toFixed(1)}`,
      )
      .join(' ');
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', points);
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', colours[i % colours.length]);
    line.setAttribute('stroke-width', '2');
    svg.append(line);
    const label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
    label.setAttribute('x', '4');
    label.setAttribute('y', String(14 + 14 * i));
    label.setAttribute('fill', colours[i % colours.length]);
    label.textContent = `${name} ${r.value}${r.unit ? ` ${r.unit}` : ''}`;
    svg.append(label);
    i += 1;
  }
}

function watch(target: string, event: string, accept: string, apply: (body: string) => void): Subscriber {
  if (!ua) throw new Error('not connected');
  const subscriber = ua.subscribe(target, event, accept, { expires: 600 });
  subscriber.on('notify', (_isFinal: boolean, _request: unknown, body?: string) => {
    if (body) apply(body);
  });
  subscriber.on('terminated', (code: number, reason?: string) => {
    if (reason) status(`${event} subscription ended: ${reason}`, true);
  });
  subscriber.subscribe();
  return subscriber;
}

function select(t: Topic): void {
  for (const s of topicSubscriptions) s.terminate();
  selected = t.entity;
  roster.clear();
  readings.clear();
  byId('selected').textContent = t.topic;
  applyRoster('<conference-info state="full"/>');
  renderReadings();
  renderTopics();
  topicSubscriptions = [
    watch(t.entity, 'conference', 'application/conference-info+xml', applyRoster),
    watch(t.entity, 'pubsub-data', 'application/senml+json', applyReadings),
  ];
}

async function connect(user: string, password: string): Promise<void> {
  const settings = (await (await fetch('/console/config.json')).json()) as ConsoleSettings;
  const secure = location.protocol === 'https:';
  const port = secure ? (settings.wssPort ?? settings.wsPort) : (settings.wsPort ?? settings.wssPort);
  const url =
    new URLSearchParams(location.search).get('ws') ??
    (port === undefined
      ? undefined
      : `${secure && settings.wssPort ? 'wss' : 'ws'}://${location.hostname}:${port}`);
  if (!url) {
    status('the edge listens on no WebSocket transport (SIP_TRANSPORTS has neither ws nor wss)', true);
    return;
  }
  ua?.stop();
  topicSubscriptions = [];
  ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(url)],
    uri: `sip:${user}@${settings.domain}`,
    password: password || undefined,
    register: false,
    session_timers: false,
  });
  ua.on('connected', () => {
    status(`connected to ${url}`);
    watch(
      settings.factoryUri,
      'pubsub-conferences',
      'application/pubsub-conferences-info+xml',
      applyDirectory,
    );
  });
  ua.on('disconnected', () => status(`disconnected from ${url}`, true));
  ua.start();
}

byId('login').addEventListener('submit', (e) => {
  e.preventDefault();
  const user = (byId('user') as HTMLInputElement).value.trim() || 'console';
  connect(user, (byId('password') as HTMLInputElement).value).catch((err: Error) =>
    status(err.message, true),
  );
});
connect('console', '').catch((err: Error) => status(err.message, true));

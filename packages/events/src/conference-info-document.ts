// Writes and reads RFC 4575 conference-info documents; the two functions mirror each other.
import {
  CONFERENCE_INFO_NAMESPACE,
  type ConferenceEndpoint,
  type ConferenceInfo,
  type ConferenceMedia,
  type ConferenceUser,
  ELEMENT_STATES,
  ENDPOINT_STATUSES,
  JOINING_METHODS,
  type JoiningMethod,
  MEDIA_STATUSES,
  PUBSUB_CONFERENCE_INFO_NAMESPACE,
  type PubsubConferenceCounts,
  type Role,
} from './conference-info.js';
import { EventDocumentError } from './errors.js';
import {
  parseBoolean,
  parseEnum,
  parseOptionalUnsigned,
  parseXmlDocument,
  readEntity,
  readVersion,
  UINT32_MAX,
  type XmlElement,
} from './xml-reader.js';
import { requireEntity, unsignedInteger, XmlWriter } from './xml-writer.js';

const PUBSUB_PREFIX = 'ps';
const REPEATED_ELEMENTS: ReadonlySet<string> = new Set(['user', 'endpoint', 'media', 'entry']);

export function buildConferenceInfo(info: ConferenceInfo): string {
  requireEntity('conference-info', info.entity);
  const pubsub: PubsubConferenceCounts = info.pubsub ?? {};
  const maxPublishers = unsignedInteger('maximumUserCountPublisher', pubsub.maximumUserCountPublisher);
  const maxSubscribers = unsignedInteger('maximumUserCountSubscriber', pubsub.maximumUserCountSubscriber);
  const publishers = unsignedInteger('publisherCount', pubsub.publisherCount);
  const subscribers = unsignedInteger('subscriberCount', pubsub.subscriberCount);
  const maximumUserCount = unsignedInteger('maximumUserCount', info.maximumUserCount);
  const userCount = unsignedInteger('userCount', info.userCount);
  const usesPubsub = [maxPublishers, maxSubscribers, publishers, subscribers].some((v) => v !== undefined);

  const w = new XmlWriter();
  w.start('conference-info', [
    ['xmlns', CONFERENCE_INFO_NAMESPACE],
    [`xmlns:${PUBSUB_PREFIX}`, usesPubsub ? PUBSUB_CONFERENCE_INFO_NAMESPACE : undefined],
    ['entity', info.entity],
    ['state', info.state],
    ['version', unsignedInteger('version', info.version, UINT32_MAX)],
  ]);

  // RFC 4575 §5.3: extension elements follow the standard ones inside each container.
  if ([info.subject, maximumUserCount, maxPublishers, maxSubscribers].some((v) => v !== undefined)) {
    w.start('conference-description')
      .text('subject', info.subject)
      .text('maximum-user-count', maximumUserCount)
      .text(`${PUBSUB_PREFIX}:maximum-user-count-publisher`, maxPublishers)
      .text(`${PUBSUB_PREFIX}:maximum-user-count-subscriber`, maxSubscribers)
      .end();
  }
  if ([userCount, info.active, publishers, subscribers].some((v) => v !== undefined)) {
    w.start('conference-state')
      .text('user-count', userCount)
      .text('active', info.active)
      .text(`${PUBSUB_PREFIX}:publisher-count`, publishers)
      .text(`${PUBSUB_PREFIX}:subscriber-count`, subscribers)
      .end();
  }
  if (info.users.length > 0) {
    w.start('users');
    for (const user of info.users) writeUser(w, user);
    w.end();
  }
  return w.end().toString();
}

function writeUser(w: XmlWriter, user: ConferenceUser): void {
  requireEntity('user', user.entity);
  w.start('user', [
    ['entity', user.entity],
    ['state', user.state],
  ]);
  w.text('display-text', user.displayText);
  if (user.role !== undefined) w.start('roles').text('entry', user.role).end();
  for (const endpoint of user.endpoints) writeEndpoint(w, endpoint);
  w.end();
}

function writeEndpoint(w: XmlWriter, endpoint: ConferenceEndpoint): void {
  requireEntity('endpoint', endpoint.entity);
  w.start('endpoint', [
    ['entity', endpoint.entity],
    ['state', endpoint.state],
  ]);
  w.text('status', endpoint.status).text('joining-method', endpoint.joiningMethod);
  for (const media of endpoint.media) {
    w.start('media', [['id', media.id]])
      .text('type', media.type)
      .text('src-id', unsignedInteger('srcId', media.srcId, UINT32_MAX))
      .text('status', media.status)
      .end();
  }
  w.end();
}

export function parseConferenceInfo(xml: string): ConferenceInfo {
  const root = parseXmlDocument(xml, 'conference-info', REPEATED_ELEMENTS);
  const info: ConferenceInfo = {
    entity: readEntity(root),
    state: parseEnum('conference-info state', root.attribute('state') ?? 'full', ELEMENT_STATES),
    version: readVersion(root),
    users: [],
  };

  const description = root.child('conference-description');
  const pubsub: PubsubConferenceCounts = {};
  if (description) {
    const subject = description.childText('subject');
    if (subject !== undefined) info.subject = subject;
    const max = parseOptionalUnsigned('maximum-user-count', description.childText('maximum-user-count'));
    if (max !== undefined) info.maximumUserCount = max;
    setCount(pubsub, 'maximumUserCountPublisher', description, 'maximum-user-count-publisher');
    setCount(pubsub, 'maximumUserCountSubscriber', description, 'maximum-user-count-subscriber');
  }
  const state = root.child('conference-state');
  if (state) {
    const userCount = parseOptionalUnsigned('user-count', state.childText('user-count'));
    if (userCount !== undefined) info.userCount = userCount;
    const active = state.childText('active');
    if (active !== undefined) info.active = parseBoolean('active', active);
    setCount(pubsub, 'publisherCount', state, 'publisher-count');
    setCount(pubsub, 'subscriberCount', state, 'subscriber-count');
  }
  if (Object.keys(pubsub).length > 0) info.pubsub = pubsub;

  for (const users of root.children('users')) {
    for (const user of users.children('user')) info.users.push(readUser(user));
  }
  return info;
}

function readUser(element: XmlElement): ConferenceUser {
  const user: ConferenceUser = {
    entity: readEntity(element),
    state: parseEnum('user state', element.attribute('state') ?? 'full', ELEMENT_STATES),
    endpoints: [],
  };
  const displayText = element.childText('display-text');
  if (displayText !== undefined) user.displayText = displayText;
  const role = readRole(element);
  if (role !== undefined) user.role = role;
  for (const endpoint of element.children('endpoint')) user.endpoints.push(readEndpoint(endpoint));
  return user;
}

/** Folds <roles><entry>…</entry></roles> into one Role; entries of other vocabularies are ignored. */
function readRole(user: XmlElement): Role | undefined {
  const entries = new Set(
    user.children('roles').flatMap((roles) => roles.children('entry').map((entry) => entry.text().trim())),
  );
  if (entries.has('both') || (entries.has('publisher') && entries.has('subscriber'))) return 'both';
  if (entries.has('publisher')) return 'publisher';
  if (entries.has('subscriber')) return 'subscriber';
  if (entries.has('inactive')) return 'inactive';
  return undefined;
}

function readEndpoint(element: XmlElement): ConferenceEndpoint {
  const endpoint: ConferenceEndpoint = {
    entity: readEntity(element),
    status: parseEnum('endpoint status', element.childText('status'), ENDPOINT_STATUSES),
    media: [],
  };
  const state = element.attribute('state');
  if (state !== undefined) endpoint.state = parseEnum('endpoint state', state, ELEMENT_STATES);
  // joining-method is open-ended in RFC 4575 §5.7.4; values we do not model are left out.
  const joiningMethod = element.childText('joining-method')?.trim();
  if (joiningMethod !== undefined && (JOINING_METHODS as readonly string[]).includes(joiningMethod)) {
    endpoint.joiningMethod = joiningMethod as JoiningMethod;
  }
  for (const media of element.children('media')) {
    const read = readMedia(media);
    if (read) endpoint.media.push(read);
  }
  return endpoint;
}

/** Returns undefined for streams other than text: sip-pubsub only carries text. */
function readMedia(element: XmlElement): ConferenceMedia | undefined {
  const type = element.childText('type')?.trim() ?? 'text';
  if (type !== 'text') return undefined;
  const id = element.attribute('id');
  if (id === undefined) throw new EventDocumentError('media has no id');
  const media: ConferenceMedia = {
    id,
    type: 'text',
    status: parseEnum('media status', element.childText('status'), MEDIA_STATUSES),
  };
  // src-id is a string in the schema; only an RTP SSRC means something here.
  const srcId = element.childText('src-id')?.trim();
  if (srcId !== undefined && /^[0-9]{1,10}$/.test(srcId) && Number(srcId) <= UINT32_MAX)
    media.srcId = Number(srcId);
  return media;
}

function setCount(
  target: PubsubConferenceCounts,
  key: keyof PubsubConferenceCounts,
  parent: XmlElement,
  element: string,
): void {
  const value = parseOptionalUnsigned(element, parent.childText(element));
  if (value !== undefined) target[key] = value;
}

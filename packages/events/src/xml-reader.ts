import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { EventDocumentError } from './errors.js';

/** Versions (RFC 4575 §5.1, xs:unsignedInt) and SSRCs (RFC 3550 §5.1) are 32-bit unsigned. */
export const UINT32_MAX = 0xffff_ffff;

const ATTRIBUTE_PREFIX = '@_';
const TEXT_KEY = '#text';

/**
 * A read-only view of one parsed element. Namespace prefixes are dropped, so
 * `ps:publisher-count` is found as `publisher-count`.
 */
export class XmlElement {
  constructor(
    readonly name: string,
    private readonly raw: unknown,
  ) {}

  attribute(name: string): string | undefined {
    const value = this.field(ATTRIBUTE_PREFIX + name);
    return typeof value === 'string' ? value : undefined;
  }

  children(name: string): XmlElement[] {
    const value = this.field(name);
    if (value === undefined) return [];
    const list = Array.isArray(value) ? value : [value];
    return list.map((item) => new XmlElement(name, item));
  }

  child(name: string): XmlElement | undefined {
    return this.children(name)[0];
  }

  /** The element's character data ('' when it has none). */
  text(): string {
    if (typeof this.raw === 'string') return this.raw;
    const value = this.field(TEXT_KEY);
    return typeof value === 'string' ? value : '';
  }

  childText(name: string): string | undefined {
    return this.child(name)?.text();
  }

  private field(key: string): unknown {
    if (this.raw === null || typeof this.raw !== 'object' || Array.isArray(this.raw)) return undefined;
    return Object.hasOwn(this.raw, key) ? (this.raw as Record<string, unknown>)[key] : undefined;
  }
}

/**
 * Parses a whole document and returns its root, which must be `rootName`.
 * `repeated` names the elements that may occur more than once, so that one occurrence still reads as a list.
 */
export function parseXmlDocument(xml: string, rootName: string, repeated: ReadonlySet<string>): XmlElement {
  if (typeof xml !== 'string') throw new EventDocumentError('document is not text');
  // Entity declarations buy nothing in these documents and open the door to expansion attacks.
  if (xml.includes('<!DOCTYPE')) throw new EventDocumentError('DOCTYPE is not allowed');
  let verdict: ReturnType<typeof XMLValidator.validate>;
  let tree: unknown;
  try {
    verdict = XMLValidator.validate(xml);
    if (verdict !== true) throw new EventDocumentError(`not well-formed XML: ${verdict.err.msg}`);
    tree = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: ATTRIBUTE_PREFIX,
      textNodeName: TEXT_KEY,
      removeNSPrefix: true,
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: false,
      // Decodes character references (&#13;, &#x1F600;) besides the five predefined entities.
      htmlEntities: true,
      isArray: (name, _path, _leaf, isAttribute) => !isAttribute && repeated.has(name),
    }).parse(xml);
  } catch (error) {
    if (error instanceof EventDocumentError) throw error;
    throw new EventDocumentError(`not well-formed XML: ${(error as Error)?.message ?? String(error)}`);
  }
  const roots = Object.keys(tree as object).filter((key) => key !== '?xml');
  if (roots.length !== 1) throw new EventDocumentError(`expected one root element <${rootName}>`);
  const [name] = roots;
  if (name !== rootName) throw new EventDocumentError(`root element is <${name}>, expected <${rootName}>`);
  const root = (tree as Record<string, unknown>)[name];
  if (Array.isArray(root)) throw new EventDocumentError('more than one root element');
  return new XmlElement(name, root);
}

/** Reads an xs:unsignedInt-style value; whitespace around it is allowed as XML Schema collapses it. */
export function parseUnsigned(
  field: string,
  text: string | undefined,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const trimmed = text?.trim();
  if (trimmed === undefined || !/^[0-9]+$/.test(trimmed)) {
    throw new EventDocumentError(`${field} must be an unsigned integer, got ${JSON.stringify(text)}`);
  }
  const value = Number(trimmed);
  if (value > max) throw new EventDocumentError(`${field} exceeds ${max}`);
  return value;
}

export function parseOptionalUnsigned(
  field: string,
  text: string | undefined,
  max?: number,
): number | undefined {
  return text === undefined ? undefined : parseUnsigned(field, text, max);
}

/** xs:boolean accepts true/false/1/0. */
export function parseBoolean(field: string, text: string): boolean {
  switch (text.trim()) {
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
    default:
      throw new EventDocumentError(`${field} must be a boolean, got ${JSON.stringify(text)}`);
  }
}

/** Reads a value that must be one of a closed set. */
export function parseEnum<T extends string>(
  field: string,
  text: string | undefined,
  allowed: readonly T[],
): T {
  const trimmed = text?.trim();
  if (trimmed === undefined || !(allowed as readonly string[]).includes(trimmed)) {
    throw new EventDocumentError(
      `${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(text)}`,
    );
  }
  return trimmed as T;
}

/** The 'entity' attribute every keyed element of these documents carries. */
export function readEntity(element: XmlElement): string {
  const entity = element.attribute('entity');
  if (entity === undefined || entity === '') throw new EventDocumentError(`<${element.name}> has no entity`);
  return entity;
}

/** The root's 'version' attribute, without which a watcher cannot order notifications. */
export function readVersion(root: XmlElement): number {
  const version = root.attribute('version');
  if (version === undefined) throw new EventDocumentError(`<${root.name}> has no version`);
  return parseUnsigned('version', version, UINT32_MAX);
}

import { EventDocumentError } from './errors.js';

// XML 1.0 §2.2 Char: anything outside this set cannot appear in a document, not even as a reference.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function checkChars(value: string): void {
  const bad = NOT_XML_CHAR.exec(value);
  if (bad) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw new EventDocumentError(`character U+${code} cannot be carried in XML`);
  }
}

/** Escapes character data. CR is written as a reference because parsers fold a literal CR into LF. */
export function escapeXmlText(value: string): string {
  checkChars(value);
  return value.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c]);
}

/** Escapes an attribute value for double quotes; TAB/LF/CR as references survive attribute normalisation. */
export function escapeXmlAttribute(value: string): string {
  checkChars(value);
  return value.replace(/[&<>"'\t\n\r]/g, (c) => ATTRIBUTE_ESCAPES[c]);
}

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };
const ATTRIBUTE_ESCAPES: Record<string, string> = {
  ...TEXT_ESCAPES,
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
};

export type XmlAttributes = ReadonlyArray<readonly [name: string, value: string | number | undefined]>;

/** Writes an indented XML document element by element; attributes with an undefined value are left out. */
export class XmlWriter {
  private readonly lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  /** Names of the open elements, with the line of each start tag. */
  private readonly open: { name: string; line: number }[] = [];

  start(name: string, attributes: XmlAttributes = []): this {
    this.lines.push(`${this.indent()}<${name}${formatAttributes(attributes)}>`);
    this.open.push({ name, line: this.lines.length - 1 });
    return this;
  }

  end(): this {
    const element = this.open.pop();
    if (element === undefined) throw new EventDocumentError('no element is open');
    if (element.line === this.lines.length - 1) {
      // Nothing was written inside: close the start tag itself.
      this.lines[element.line] = `${this.lines[element.line].slice(0, -1)}/>`;
    } else {
      this.lines.push(`${this.indent()}</${element.name}>`);
    }
    return this;
  }

  /** An element holding only text; skipped when the value is undefined. */
  text(name: string, value: string | number | boolean | undefined, attributes: XmlAttributes = []): this {
    if (value === undefined) return this;
    this.lines.push(
      `${this.indent()}<${name}${formatAttributes(attributes)}>${escapeXmlText(String(value))}</${name}>`,
    );
    return this;
  }

  toString(): string {
    if (this.open.length > 0) throw new EventDocumentError(`element <${this.open.at(-1)?.name}> left open`);
    return this.lines.join('\n');
  }

  private indent(): string {
    return '  '.repeat(this.open.length);
  }
}

function formatAttributes(attributes: XmlAttributes): string {
  let out = '';
  for (const [name, value] of attributes) {
    if (value !== undefined) out += ` ${name}="${escapeXmlAttribute(String(value))}"`;
  }
  return out;
}

/** Checks a number bound for an unsigned integer field before it is written. */
export function unsignedInteger(
  field: string,
  value: number | undefined,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new EventDocumentError(`${field} must be an integer between 0 and ${max}, got ${value}`);
  }
  return value;
}

export function requireEntity(element: string, entity: string): void {
  if (typeof entity !== 'string' || entity === '')
    throw new EventDocumentError(`<${element}> needs an entity`);
}

// Lexical helpers shared by the header value parsers: splitting outside quotes and angle brackets.

/** Splits `text` at `separator` where it is not inside a quoted-string or `<...>`. */
export function splitOutside(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let inQuotes = false;
  let angle = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '\\') i++;
      else if (ch === '"') inQuotes = false;
    } else if (ch === '"') inQuotes = true;
    else if (ch === '<') angle++;
    else if (ch === '>') angle = Math.max(0, angle - 1);
    else if (ch === separator && angle === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** Splits a list header value at top-level commas, trimming and dropping empty elements. */
export function splitHeaderValues(value: string): string[] {
  // Most fields hold one value: without a comma there is nothing to split.
  if (typeof value === 'string' && value.indexOf(',') < 0) {
    const single = value.trim();
    return single.length > 0 ? [single] : [];
  }
  return splitOutside(value, ',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** RFC 3261 §25.1 token characters, indexed by char code (ASCII only). */
const TOKEN_CHARS = charTable("A-Za-z0-9-.!%*_+`'~");

/** A table of the ASCII characters listed (ranges written `a-z`; a `-` at either end is literal). */
function charTable(spec: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let i = 0; i < spec.length; i++) {
    if (spec[i + 1] === '-' && i + 2 < spec.length) {
      for (let c = spec.charCodeAt(i); c <= spec.charCodeAt(i + 2); c++) table[c] = 1;
      i += 2;
    } else table[spec.charCodeAt(i)] = 1;
  }
  return table;
}

/** True when every character of text[from, to) is in `table` (and the range is not empty). */
function allIn(table: Uint8Array, text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || table[c] === 0) return false;
  }
  return true;
}

export function isToken(text: string): boolean {
  if (typeof text !== 'string') text = String(text);
  return allIn(TOKEN_CHARS, text, 0, text.length);
}

/**
 * Parses `;name=value;flag` parameters (text after the first `;`, or starting with it).
 * Names are lower-cased (they compare case-insensitively); values are kept verbatim, quoted ones
 * with their quotes, so formatting gives back what was received. Returns undefined on bad syntax.
 */
export function parseParams(text: string): Record<string, string | null> | undefined {
  const params: Record<string, string | null> = {};
  const body = text.startsWith(';') ? text.slice(1) : text;
  if (body.trim() === '') return text.trim() === '' ? params : undefined;
  for (const raw of splitOutside(body, ';')) {
    const eq = raw.indexOf('=');
    const name = (eq < 0 ? raw : raw.slice(0, eq)).trim();
    if (!isToken(name)) return undefined;
    if (eq < 0) {
      params[name.toLowerCase()] = null;
      continue;
    }
    const value = raw.slice(eq + 1).trim();
    if (value === '' || !isParamValue(value)) return undefined;
    params[name.toLowerCase()] = value;
  }
  return params;
}

// token, quoted-string, or host (IPv6 references in brackets, bare IPv6 in `received`).
function isParamValue(value: string): boolean {
  if (value.startsWith('"'))
    return value.length >= 2 && value.endsWith('"') && isQuotedBody(value.slice(1, -1));
  return /^[A-Za-z0-9\-.!%*_+`'~:[\]]+$/.test(value);
}

function isQuotedBody(body: string): boolean {
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\') {
      if (i + 1 >= body.length) return false;
      i++;
    } else if (body[i] === '"') return false;
  }
  return true;
}

export function formatParams(params: Record<string, string | null>): string {
  let out = '';
  for (const [name, value] of Object.entries(params))
    out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}

/** Removes the quotes and backslash escapes of a quoted-string. */
export function unquote(text: string): string {
  if (!(text.length >= 2 && text.startsWith('"') && text.endsWith('"'))) return text;
  return text.slice(1, -1).replace(/\\(.)/g, '$1');
}

export function quote(text: string): string {
  return `"${text.replace(/(["\\])/g, '\\$1')}"`;
}

import { parseDeltaSeconds } from './delta-seconds.js';
import { SipParseError } from './errors.js';
import { splitHeaderValues } from './header-values.js';
import { type NameAddr, parseNameAddr } from './name-addr.js';

/** Contact values (RFC 3261 §20.10): `*` alone (REGISTER removal) or a list of name-addr / addr-spec. */
export type ContactList = { wildcard: true } | { wildcard: false; contacts: NameAddr[] };

export function parseContacts(fields: readonly string[]): ContactList {
  const values = fields.flatMap((f) => splitHeaderValues(f));
  if (values.some((v) => v === '*')) {
    if (values.length !== 1) throw new SipParseError(400, 'Malformed Contact: * must stand alone');
    return { wildcard: true };
  }
  const contacts = values.map((v) => {
    try {
      return parseNameAddr(v);
    } catch (err) {
      throw new SipParseError(400, `Invalid Contact header: ${(err as Error).message}`);
    }
  });
  for (const c of contacts) {
    const expires = c.params.expires;
    if (expires !== undefined) {
      if (expires === null) throw new SipParseError(400, 'Malformed Contact expires parameter');
      parseDeltaSeconds(expires, 'Contact expires');
    }
  }
  return { wildcard: false, contacts };
}

/** RFC 4579 §3.1: a Contact carrying `isfocus` names a conference focus. */
export function isFocusContact(contact: NameAddr): boolean {
  return 'isfocus' in contact.params;
}

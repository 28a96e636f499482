import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyUri, conferenceUri, factoryUri, isConferenceId, newConferenceId } from './naming.js';

describe('profile naming', () => {
  it('makes 16-character lower-case base32 conference ids that differ', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newConferenceId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[a-z2-7]{16}$/);
  });

  it('classifies factory, conference and other request URIs', () => {
    const id = newConferenceId();
    expect(classifyUri(factoryUri('example.com'))).toEqual({ kind: 'factory' });
    expect(classifyUri(`${conferenceUri(id, 'example.com')};transport=tcp`)).toEqual({
      kind: 'conference',
      conferenceId: id,
    });
    expect(classifyUri('sip:conf-NOTBASE32!@x')).toEqual({ kind: 'other', user: 'conf-NOTBASE32!' });
    expect(classifyUri('sip:alice@x')).toEqual({ kind: 'other', user: 'alice' });
    expect(classifyUri('tel:+123')).toEqual({ kind: 'other', user: '' });
  });

  it('never throws on arbitrary URIs', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const target = classifyUri(`sip:${s}@h`);
        if (target.kind === 'conference') expect(isConferenceId(target.conferenceId)).toBe(true);
      }),
    );
  });
});

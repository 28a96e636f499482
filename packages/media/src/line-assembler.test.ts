import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LINE_SEPARATOR, LineAssembler } from './line-assembler.js';

describe('LineAssembler (PROFILE framing)', () => {
  it('returns complete lines and keeps the partial tail', () => {
    const a = new LineAssembler();
    expect(a.push('[1]\u2028[2')).toEqual({ lines: ['[1]'], damaged: 0 });
    expect(a.pending).toBe('[2');
    expect(a.push(']\u2028')).toEqual({ lines: ['[2]'], damaged: 0 });
    expect(a.pending).toBe('');
  });

  it('ignores a leading U+FEFF and empty lines', () => {
    const a = new LineAssembler();
    expect(a.push('\uFEFF[1]\u2028\u2028\uFEFF\u2028[2]\u2028')).toEqual({
      lines: ['[1]', '[2]'],
      damaged: 0,
    });
  });

  it('drops a line holding U+FFFD, counts it, and keeps the next lines', () => {
    const a = new LineAssembler();
    expect(a.push('[1]\u2028[2\uFFFD')).toEqual({ lines: ['[1]'], damaged: 0 });
    expect(a.push(']\u2028[3]\u2028')).toEqual({ lines: ['[3]'], damaged: 1 });
  });

  it('drops an over-long line once and resynchronises at the next separator', () => {
    const a = new LineAssembler({ maxLineLength: 8 });
    expect(a.push('[123456')).toEqual({ lines: [], damaged: 0 });
    expect(a.push('789')).toEqual({ lines: [], damaged: 1 });
    expect(a.push(`0]${LINE_SEPARATOR}[1]${LINE_SEPARATOR}`)).toEqual({ lines: ['[1]'], damaged: 0 });
    expect(a.push(`[1234567890]${LINE_SEPARATOR}`)).toEqual({ lines: [], damaged: 1 });
  });

  it('whatever text arrives, the partial line kept never exceeds maxLineLength and open says whether a line is under way', () => {
    const chunk = fc.array(fc.constantFrom('a', 'é', LINE_SEPARATOR, '\uFFFD', '\uFEFF', 'xyz'), {
      maxLength: 40,
    });
    fc.assert(
      fc.property(
        fc.array(
          chunk.map((c) => c.join('')),
          { maxLength: 40 },
        ),
        fc.integer({ min: 1, max: 30 }),
        (chunks, max) => {
          const a = new LineAssembler({ maxLineLength: max });
          for (const c of chunks) {
            const { lines } = a.push(c);
            for (const l of lines) expect(l.length).toBeLessThanOrEqual(max);
            expect(a.pending.length).toBeLessThanOrEqual(max);
            if (a.pending.length > 0) expect(a.open).toBe(true);
            if (c.endsWith(LINE_SEPARATOR)) expect(a.open).toBe(false);
          }
        },
      ),
    );
  });
});

// Reassembles the T.140 text stream into publications: one SenML pack per line (PROFILE "Media").

export const LINE_SEPARATOR = '\u2028';
const MISSING_TEXT_MARKER = '\uFFFD';

export interface LineAssemblerOptions {
  /** A line longer than this (UTF-16 units) is dropped and counted as damaged. Default 65536. */
  maxLineLength?: number;
}

export class LineAssembler {
  private tail = '';
  /** Inside an over-long line: drop everything up to the next separator. */
  private discarding = false;
  private readonly maxLineLength: number;

  constructor(opts: LineAssemblerOptions = {}) {
    this.maxLineLength = opts.maxLineLength ?? 65536;
  }

  /**
   * Adds received text. Returns the lines completed by it, without separator; empty lines are skipped,
   * leading U+FEFF is ignored, and a line holding a missing-text marker (U+FFFD) is dropped and counted.
   */
  push(text: string): { lines: string[]; damaged: number } {
    const lines: string[] = [];
    let damaged = 0;
    let start = 0;
    for (;;) {
      const end = text.indexOf(LINE_SEPARATOR, start);
      if (end < 0) break;
      const line = this.tail + text.slice(start, end);
      this.tail = '';
      start = end + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      const content = stripByteOrderMarks(line);
      if (content.includes(MISSING_TEXT_MARKER)) damaged += 1;
      else if (content.length > this.maxLineLength) damaged += 1;
      else if (content.length > 0) lines.push(content);
    }
    if (!this.discarding) {
      this.tail += text.slice(start);
      if (this.tail.length > this.maxLineLength) {
        this.tail = '';
        this.discarding = true;
        damaged += 1;
      }
    }
    return { lines, damaged };
  }

  /** Text of the line not yet completed. */
  get pending(): string {
    return this.tail;
  }

  /** True while inside a line: text pending, or an over-long line being dropped up to its separator. */
  get open(): boolean {
    return this.discarding || this.tail.length > 0;
  }

  /** True while an over-long line is being dropped up to its separator. */
  get isDiscarding(): boolean {
    return this.discarding;
  }
}

// U+FEFF at the start of a stream or line carries no text (T.140 uses it as a start or keep-alive mark).
function stripByteOrderMarks(line: string): string {
  let i = 0;
  while (line.charCodeAt(i) === 0xfeff) i++;
  return i === 0 ? line : line.slice(i);
}

// A pack that breaks an RFC 8428 rule; the message names the record and the rule.

export class SenmlError extends Error {
  override readonly name = 'SenmlError';
  readonly recordIndex?: number;
  readonly field?: string;

  constructor(message: string, recordIndex?: number, field?: string) {
    super(recordIndex === undefined ? message : `record ${recordIndex}: ${message}`);
    if (recordIndex !== undefined) this.recordIndex = recordIndex;
    if (field !== undefined) this.field = field;
  }
}

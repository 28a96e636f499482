import type { Clock } from './clock.js';

/** RFC 3261 §17.1.1.1 / Table 4 base values in milliseconds. */
export interface TimerSettings {
  T1: number;
  T2: number;
  T4: number;
}

export const DEFAULT_TIMER_SETTINGS: Readonly<TimerSettings> = Object.freeze({ T1: 500, T2: 4000, T4: 5000 });

export function timerSettings(partial?: Partial<TimerSettings>): TimerSettings {
  return { ...DEFAULT_TIMER_SETTINGS, ...partial };
}

/** Timer D on unreliable transports: "> 32 s" (§17.1.1.2). */
export const TIMER_D_UNRELIABLE_MS = 32_000;

/** A set of named one-shot timers owned by one state machine; starting a name again replaces it. */
export class NamedTimers {
  private readonly handles = new Map<string, unknown>();

  constructor(private readonly clock: Clock) {}

  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const handle = this.clock.setTimeout(() => {
      this.handles.delete(name);
      fn();
    }, ms);
    this.handles.set(name, handle);
  }

  stop(name: string): void {
    const handle = this.handles.get(name);
    if (handle !== undefined) {
      this.clock.clearTimeout(handle);
      this.handles.delete(name);
    }
  }

  isRunning(name: string): boolean {
    return this.handles.has(name);
  }

  stopAll(): void {
    for (const handle of this.handles.values()) this.clock.clearTimeout(handle);
    this.handles.clear();
  }
}

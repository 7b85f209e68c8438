import { describe, expect, it } from 'vitest';
import { crashAfter429sExitCode, crashingAfter429s } from '../../../src/proxy/crashAfter429s.js';
import type { Logger } from '../../../src/kernel/log.js';

class Exited extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function recordingLogger(): Logger & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    info: (event) => void events.push(event),
    warn: (event) => void events.push(event),
    error: (event) => void events.push(event),
  };
}

describe('the 429 → crash edge (--unsafe-crash-after-rate-limits)', () => {
  const exit = (code: number): never => {
    throw new Exited(code);
  };

  it('exits with code 70 at the K-th upstream 429 within one window, after the 429 is logged (and so recorded)', () => {
    let now = 0;
    const inner = recordingLogger();
    const log = crashingAfter429s(inner, 3, 6_000, () => now, exit);
    log.warn('cooldown-start', 'first');
    now = 1_000;
    log.warn('upstream-429', 'second');
    log.warn('upstream-timeout', 'not a 429');
    now = 5_999;
    expect(() => log.warn('cooldown-start', 'third')).toThrow(new Exited(crashAfter429sExitCode));
    expect(inner.events).toEqual(['cooldown-start', 'upstream-429', 'upstream-timeout', 'cooldown-start', 'crash-after-429s']);
  });

  it('forgets 429s older than one window, and is off at 0', () => {
    let now = 0;
    const log = crashingAfter429s(recordingLogger(), 2, 6_000, () => now, exit);
    log.warn('cooldown-start', 'first');
    now = 6_000;
    log.warn('cooldown-start', 'a window later');
    const inner = recordingLogger();
    expect(crashingAfter429s(inner, 0, 6_000, () => now, exit)).toBe(inner);
  });
});

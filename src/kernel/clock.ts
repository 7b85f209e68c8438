/** Milliseconds since the epoch; injected so that tests and replays control time. */
export type Clock = () => number;

/** The system clock read `offsetMs` ahead: a host whose clock is off (fault injection, `--unsafe-clock-offset`). */
export function systemClockOffsetBy(offsetMs: number): Clock {
  return offsetMs === 0 ? Date.now : () => Date.now() + offsetMs;
}

import { formatDuration } from './durations.js';

export type LogLevel = 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';

export type LogFields = Record<string, string | number | boolean | null>;

/** One line per event; `event` is a stable machine name, `message` a sentence for people. */
export interface Logger {
  info(event: string, message: string, fields?: LogFields): void;
  warn(event: string, message: string, fields?: LogFields): void;
  error(event: string, message: string, fields?: LogFields): void;
}

// Defence in depth: no call site logs headers, but a field with a secret's name never reaches a line.
const SECRET_FIELD = /authorization|api[-_]?key|cookie/i;

function withoutSecrets(fields: LogFields | undefined): LogFields {
  const kept: LogFields = {};
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (!SECRET_FIELD.test(key)) kept[key] = value;
  }
  return kept;
}

export function createLogger(
  format: LogFormat,
  write: (line: string) => void = (line) => void process.stdout.write(line),
  now: () => number = Date.now,
): Logger {
  function emit(level: LogLevel, event: string, message: string, fields: LogFields | undefined): void {
    const time = new Date(now()).toISOString();
    if (format === 'json') {
      write(`${JSON.stringify({ time, level, event, message, ...withoutSecrets(fields) })}\n`);
    } else {
      write(`${time} ${level} ${message}\n`);
    }
  }
  return {
    info: (event, message, fields) => emit('info', event, message, fields),
    warn: (event, message, fields) => emit('warn', event, message, fields),
    error: (event, message, fields) => emit('error', event, message, fields),
  };
}

/** For embedding the proxy where nothing should be printed (tests, benchmarks). */
export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * Events that can happen once per request. A store that cannot be written or an upstream that
 * is down would otherwise print one line for every request refused (282 lines for 282
 * requests); these are summarised instead.
 */
export const perRequestEvents: ReadonlySet<string> = new Set([
  'store-unavailable',
  'record-failed',
  'upstream-unreachable',
  'upstream-timeout',
  'upstream-429',
  'request-failed',
]);

export interface RepeatSummaryOptions {
  /** 0 logs every line. */
  intervalMs: number;
  events?: ReadonlySet<string>;
  now?: () => number;
}

export interface SummarisingLogger extends Logger {
  /** Logs the summaries still pending (at stop). */
  flush(): void;
}

interface Repeats {
  level: LogLevel;
  event: string;
  since: number;
  count: number;
  lastMessage: string;
  lastFields: LogFields | undefined;
  timer: NodeJS.Timeout;
}

/**
 * The first occurrence of a per-request event is logged at once; its repeats (same level and
 * event) within the interval are counted and logged as ONE line when it ends —
 * `store-unavailable ×281 more in the last 10s; the last: POST /v1/messages answered 503: …` —
 * with the count in the `repeated` field of a JSON line. While the flood lasts, one summary per
 * interval; once it stops, the next occurrence is logged at once again.
 */
export function summariseRepeats(inner: Logger, options: RepeatSummaryOptions): SummarisingLogger {
  const { intervalMs, events = perRequestEvents, now = Date.now } = options;
  const pending = new Map<string, Repeats>();

  function summarise(key: string, final: boolean): void {
    const repeats = pending.get(key);
    if (repeats === undefined) return;
    clearTimeout(repeats.timer);
    const at = now();
    if (repeats.count > 0) {
      const message = `${repeats.event} ×${repeats.count} more in the last ${formatDuration(at - repeats.since)}; the last: ${repeats.lastMessage}`;
      inner[repeats.level](repeats.event, message, { ...repeats.lastFields, repeated: repeats.count, sinceMs: at - repeats.since });
    }
    // A flood still going on opens the next interval; a quiet interval ends the summary.
    if (repeats.count === 0 || final) pending.delete(key);
    else pending.set(key, { ...repeats, since: at, count: 0, timer: schedule(key) });
  }

  function schedule(key: string, delayMs = intervalMs): NodeJS.Timeout {
    const timer = setTimeout(() => {
      // A timer may fire a millisecond early by the wall clock the interval is measured with.
      const repeats = pending.get(key);
      const earlyMs = repeats === undefined ? 0 : intervalMs - (now() - repeats.since);
      if (repeats !== undefined && earlyMs > 0) repeats.timer = schedule(key, earlyMs);
      else summarise(key, false);
    }, delayMs);
    timer.unref();
    return timer;
  }

  function log(level: LogLevel, event: string, message: string, fields: LogFields | undefined): void {
    if (intervalMs === 0 || !events.has(event)) {
      inner[level](event, message, fields);
      return;
    }
    const key = `${level} ${event}`;
    const repeats = pending.get(key);
    if (repeats === undefined) {
      inner[level](event, message, fields);
      pending.set(key, { level, event, since: now(), count: 0, lastMessage: message, lastFields: fields, timer: schedule(key) });
      return;
    }
    repeats.count += 1;
    repeats.lastMessage = message;
    repeats.lastFields = fields;
  }

  return {
    info: (event, message, fields) => log('info', event, message, fields),
    warn: (event, message, fields) => log('warn', event, message, fields),
    error: (event, message, fields) => log('error', event, message, fields),
    flush() {
      for (const key of [...pending.keys()]) summarise(key, true);
    },
  };
}

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

export function createLogger(format: LogFormat, write: (line: string) => void = (line) => void process.stdout.write(line), now: () => number = Date.now): Logger {
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

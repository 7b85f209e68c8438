import { SseLineSplitter } from './sseLineSplitter.js';

export interface SseEvent {
  /** The `event:` field, or `message` when the event named none (the SSE default). */
  event: string;
  data: string;
}

export interface SseParser {
  push(chunk: Buffer): void;
  /** Dispatches a final event whose terminating blank line never came. */
  finish(): void;
}

/**
 * Parses a server-sent event stream into its events; the bytes are split into lines by
 * SseLineSplitter (which drops a line longer than `maxLineBytes`), the lines read here.
 */
export function createSseParser(onEvent: (event: SseEvent) => void, maxLineBytes = 1 << 20): SseParser {
  let eventName = '';
  let dataLines: string[] = [];

  function dispatch(): void {
    if (dataLines.length > 0) onEvent({ event: eventName || 'message', data: dataLines.join('\n') });
    eventName = '';
    dataLines = [];
  }

  function handleLine(line: string): void {
    if (line === '') return dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const rawValue = colon === -1 ? '' : line.slice(colon + 1);
    const value = rawValue.startsWith(' ') ? rawValue.slice(1) : rawValue;
    if (field === 'event') eventName = value;
    else if (field === 'data') dataLines.push(value);
  }

  const lines = new SseLineSplitter(handleLine, maxLineBytes);
  return {
    push: (chunk) => lines.push(chunk),
    finish: () => {
      lines.finish();
      dispatch();
    },
  };
}

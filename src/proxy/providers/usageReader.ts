import type { SseEvent } from './sseParser.js';
import type { UsageReading } from './types.js';

/** Turns one provider's response (a whole JSON body, or SSE events one at a time) into usage. */
export interface UsageReader {
  readBody(body: unknown): void;
  readEvent(event: SseEvent): void;
  usage(): UsageReading;
}

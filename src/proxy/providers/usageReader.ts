import type { SseEvent } from './sseParser.js';
import type { UsageReading } from './types.js';

/** Turns one provider's response (a whole JSON body, or SSE events one at a time) into usage. */
export interface UsageReader {
  /** A whole JSON answer, as the members of its top-level object the readers look at (`usage`); undefined when it is not a JSON object. */
  readBody(body: unknown): void;
  readEvent(event: SseEvent): void;
  usage(): UsageReading;
}

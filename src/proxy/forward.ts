import { ForwardExchange } from './forwardExchange.js';
import type { ExchangeRecorder, ForwardInput, ForwardResult, ForwardSetup } from './forwardTypes.js';

export type { ExchangeRecorder, ForwardInput, ForwardResult, ForwardSetup } from './forwardTypes.js';

/**
 * Sends one admitted request to the pinned upstream and relays the answer byte for byte while a
 * copy feeds the usage tap. Resolves once the answer has been relayed (or abandoned) and its
 * outcome reported. A request whose bytes may have reached the upstream is never sent again
 * (ForwardState decides).
 */
export function forward(setup: ForwardSetup, input: ForwardInput, recorder: ExchangeRecorder): Promise<ForwardResult> {
  return new ForwardExchange(setup, input, recorder).run();
}

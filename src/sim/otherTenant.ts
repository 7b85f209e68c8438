import type { SimLedger } from './simLedger.js';

export interface OtherTenantShape {
  tokensPerWindow: number;
  /** Tokens one of its requests takes. */
  requestTokens: number;
  windowMs: number;
}

export interface OtherTenant {
  stop(): void;
}

/** Often enough that its draws look continuous at the replay's window lengths. */
const drawEveryMs = 20;

/**
 * Another team on the same organisation: it draws on the upstream's limits directly, never
 * through the proxy, at a steady rate. It runs inside the simulated upstream (it needs no HTTP
 * to take from the same bucket). A refused request is simply tried again at the next draw; what
 * it could not take does not pile up beyond two requests, as a client backs off in between.
 */
export function startOtherTenant(ledger: SimLedger, shape: OtherTenantShape, now: () => number): OtherTenant {
  let owed = 0;
  let last = now();
  const timer = setInterval(() => {
    const at = now();
    owed = Math.min(owed + ((at - last) * shape.tokensPerWindow) / shape.windowMs, 2 * shape.requestTokens);
    last = at;
    while (owed >= shape.requestTokens) {
      if (!ledger.drawForOtherTenant(at, shape.requestTokens)) break;
      owed -= shape.requestTokens;
    }
  }, drawEveryMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves when `signal` aborts; the listener goes away when `until` aborts (the promise then never settles). */
export function whenAborted(signal: AbortSignal, until: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = (): void => {
      until.removeEventListener('abort', onUntil);
      resolve();
    };
    const onUntil = (): void => signal.removeEventListener('abort', onAbort);
    signal.addEventListener('abort', onAbort, { once: true });
    until.addEventListener('abort', onUntil, { once: true });
  });
}

/** Waits `ms`; true when the time passed, false when `signal` aborted first. */
export function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  return sleep(ms, true, { signal }).catch(() => false);
}

import { createServer } from 'node:net';
import { settingsSchema, kebabName, settingNames, type SettingName } from '../src/config/schema.js';
import type { ProxyUnderTest } from '../src/sim/proxyUnderTest.js';
import { startSupervisedProxy } from '../src/sim/supervisedProxy.js';

/*
 * ratewarden as a user runs it (`ratewarden run`, the supervisor and its worker, the built CLI)
 * at its defaults, with every duration that belongs to the upstream's time divided by the same
 * time scale as the simulation. Durations bound to the machine (process start, liveness, stop,
 * the upstream's timeout, log summaries, retention) keep their defaults: processes do not start
 * faster on compressed time.
 */
const MACHINE_BOUND: ReadonlySet<SettingName> = new Set<SettingName>([
  'stopTimeout',
  'upstreamTimeout',
  'startTimeout',
  'livenessInterval',
  'logRepeatInterval',
  'retention',
]);

export function scaledDurationArgs(timeScale: number): string[] {
  return settingNames.flatMap((name) => {
    const field = settingsSchema[name] as { placeholder: string; default: unknown; unsafe?: boolean };
    if (field.placeholder !== '<duration>' || field.unsafe === true || MACHINE_BOUND.has(name)) return [];
    if (typeof field.default !== 'number' || field.default <= 0) return [];
    return [`--${kebabName(name)}`, `${Math.max(1, Math.round(field.default / timeScale))}ms`];
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function startRatewarden(
  upstreamUrl: string,
  port: number,
  database: string,
  timeScale: number,
  extraArgs: readonly string[] = [],
): ProxyUnderTest {
  return startSupervisedProxy([
    '--upstream',
    upstreamUrl,
    '--provider',
    'anthropic',
    '--listen',
    `127.0.0.1:${port}`,
    '--db',
    database,
    ...scaledDurationArgs(timeScale),
    ...extraArgs,
  ]);
}

import type { LimiterPolicy } from '../../src/core/types.js';
import type { Admission } from '../../src/warden/types.js';
import type { Warden } from '../../src/warden/warden.js';
import { openSqliteWarden } from './sqliteWarden.js';
import type { FakeClock } from './limiterFixtures.js';

/** Wardens a test opens on real database files, with a fake clock and no jitter; closed after each test. */
export class OpenWardens {
  private readonly wardens: Warden[] = [];

  async open(dbPath: string, policy: LimiterPolicy, clock: FakeClock): Promise<Warden> {
    const warden = await openSqliteWarden(dbPath, { policy, clock: clock.read, random: () => 0 });
    this.wardens.push(warden);
    return warden;
  }

  async closeAll(): Promise<void> {
    for (const warden of this.wardens.splice(0)) await warden.close();
  }
}

/** The request id of an admission, failing the test when it was refused. */
export function admitted(admission: Admission): number {
  if (admission.kind !== 'admitted') throw new Error(`expected an admission, got ${JSON.stringify(admission)}`);
  return admission.requestId;
}

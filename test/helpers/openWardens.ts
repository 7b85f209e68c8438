import type { LimiterPolicy } from '../../src/core/types.js';
import type { Admission } from '../../src/warden/types.js';
import { Warden } from '../../src/warden/warden.js';
import type { FakeClock } from './limiterFixtures.js';

/** Wardens a test opens on real database files, with a fake clock and no jitter; closed after each test. */
export class OpenWardens {
  private readonly wardens: Warden[] = [];

  open(dbPath: string, policy: LimiterPolicy, clock: FakeClock): Warden {
    const warden = Warden.open({ dbPath, policy, clock: clock.read, random: () => 0 });
    this.wardens.push(warden);
    return warden;
  }

  closeAll(): void {
    for (const warden of this.wardens.splice(0)) warden.close();
  }
}

/** The request id of an admission, failing the test when it was refused. */
export function admitted(admission: Admission): number {
  if (admission.kind !== 'admitted') throw new Error(`expected an admission, got ${JSON.stringify(admission)}`);
  return admission.requestId;
}

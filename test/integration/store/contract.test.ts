import { join } from 'node:path';
import { openSqliteStore } from '../../../src/store/sqlite/openStore.js';
import { FakeClock } from '../../helpers/limiterFixtures.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { describeStoreContract } from '../../helpers/storeContract.js';

const dirs = new ScratchDirs();

describeStoreContract('SQLite', async () => {
  const dir = dirs.make('ratewarden-contract-');
  const clock = new FakeClock();
  const path = join(dir, 'ratewarden.db');
  const store = await openSqliteStore({ path, clock: clock.read });
  return {
    store,
    clock,
    openOther: () => openSqliteStore({ path, clock: clock.read }),
    cleanup: async () => {
      await store.close();
      dirs.removeAll();
    },
  };
});

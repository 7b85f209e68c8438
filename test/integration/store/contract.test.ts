import { join } from 'node:path';
import { openSqliteStore } from '../../../src/store/sqlite/openStore.js';
import { FakeClock } from '../../helpers/limiterFixtures.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { describeStoreContract } from '../../helpers/storeContract.js';

const dirs = new ScratchDirs();

describeStoreContract('SQLite', async () => {
  const dir = dirs.make('ratewarden-contract-');
  const clock = new FakeClock();
  const store = await openSqliteStore({ path: join(dir, 'ratewarden.db'), clock: clock.read });
  return {
    store,
    clock,
    cleanup: async () => {
      await store.close();
      dirs.removeAll();
    },
  };
});

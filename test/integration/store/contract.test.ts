import { join } from 'node:path';
import { openSqliteStore } from '../../../src/store/sqlite/openStore.js';
import { FakeClock } from '../../helpers/limiterFixtures.js';
import { describeLoadContract } from '../../helpers/loadContract.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { describeStoreContract, type ContractStore } from '../../helpers/storeContract.js';

const dirs = new ScratchDirs();

async function openSqlite(): Promise<ContractStore> {
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
}

describeStoreContract('SQLite', openSqlite);
describeLoadContract('SQLite', openSqlite);

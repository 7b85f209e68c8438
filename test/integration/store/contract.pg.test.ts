import { openPostgresStore } from '../../../src/store/postgres/openStore.js';
import { FakeClock } from '../../helpers/limiterFixtures.js';
import { describeLoadContract } from '../../helpers/loadContract.js';
import { createTestDatabase } from '../../helpers/postgresDatabase.js';
import { describeStoreContract, type ContractStore } from '../../helpers/storeContract.js';

async function openPostgres(): Promise<ContractStore> {
  const database = await createTestDatabase();
  const clock = new FakeClock();
  try {
    const store = await openPostgresStore({ url: database.url, clock: clock.read, host: 'contract-host', poolSize: 4 });
    return {
      store,
      clock,
      openOther: () => openPostgresStore({ url: database.url, clock: clock.read, host: 'contract-host-2', poolSize: 2 }),
      cleanup: async () => {
        await store.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

describeStoreContract('PostgreSQL', openPostgres);
describeLoadContract('PostgreSQL', openPostgres);

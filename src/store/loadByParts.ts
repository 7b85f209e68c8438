import type { LimiterRepository, ReportedRepository } from './port.js';
import type { LoadedRequest, LoadedScope, RequestLoad, ScopeLoad, ScopeRows, SnapshotLoader } from './snapshot.js';

/**
 * The load step read through the repositories one part after another: what a backend whose
 * reads cost no round trip does (SQLite, in process, whose scope cache serves most of them), and
 * what PostgreSQL does outside a writing transaction.
 */
export function loaderByParts(limiter: LimiterRepository, reported: ReportedRepository): SnapshotLoader {
  const rowsOf = async (scope: string): Promise<ScopeRows> => ({
    scope,
    state: await limiter.readState(scope),
    reports: await reported.reports(scope),
  });
  const keyOf = async (scope: string, keyScope: string | null | undefined): Promise<ScopeRows | null> =>
    keyScope === undefined || keyScope === null || keyScope === scope ? null : rowsOf(keyScope);
  return {
    async scope(scope: string, load: ScopeLoad): Promise<LoadedScope> {
      const state = await limiter.readState(scope);
      const totals = await limiter.bucketTotalsFrom(scope, load.windowFrom);
      const reports = await reported.reports(scope);
      const day = load.dayFrom === undefined ? null : await limiter.dailyTotalsFrom(scope, load.dayFrom);
      return { main: { scope, state, totals, reports, day }, key: await keyOf(scope, load.keyScope) };
    },
    async request(id: number, load: RequestLoad): Promise<LoadedRequest | null> {
      const request = await limiter.findRequest(id);
      if (request === null) return null;
      const main = await rowsOf(request.scope);
      return {
        request,
        main,
        key: await keyOf(request.scope, load.keyScope),
        model: load.model === true ? await reported.requestModel(id) : null,
      };
    },
  };
}

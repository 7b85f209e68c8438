import { judgeProbeAtHead } from '../core/probeAtHead.js';
import type { StoreTransaction } from '../store/port.js';
import type { HeadInput } from './eventTypes.js';
import { adoptGroupReports, adoptReported, stampOf } from './reportAdoption.js';
import type { ScopeLedger } from './scopeLedger.js';

/**
 * A response head's transaction (not a 429's): the reports it carries are adopted stamped as old
 * as the head, and the half-open probe is judged by its status. The request whose head this is
 * is not counted as sent since: the upstream charged it already.
 */
export async function headInTransaction(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  requestId: number,
  input: HeadInput,
  keyScope: string | null,
): Promise<void> {
  const loaded = await tx.load.request(requestId, { keyScope });
  if (loaded === null) return;
  const { request } = loaded;
  const { scope } = request;
  const inFlight = request.outcome === 'in-flight';
  const state = await ledger.ensureState(tx, scope, loaded.main.state);
  if (inFlight) await tx.limiter.markHead(requestId, stampOf(ledger, tx, input.reportsReadAt));
  const carrier = { id: requestId, admittedAt: request.admittedAt };
  await adoptGroupReports(ledger, tx, loaded, input.reports ?? [], input.reportsReadAt, carrier);
  const judged = inFlight ? judgeProbeAtHead(state, request, input.status, tx.now) : state;
  const adopted = await adoptReported(ledger, tx, scope, judged, input.reported ?? null);
  await ledger.commit(tx, scope, state, adopted.state, adopted.adjustments);
}

import type { IncomingHttpHeaders } from 'node:http';
import { organizationOf, ownerOf } from '../core/limitGroups.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import type { Warden } from '../warden/warden.js';
import type { ExchangeRecorder } from './forward.js';
import type { ProviderName } from './providers/types.js';

/**
 * Reads the key's organization from an answer's headers (`anthropic-organization-id`;
 * `openai-organization` + `openai-project`) and, when it is new, lets the key join its
 * organization's groups (warden.learnOrganization) before the answer's head (or its 429) is
 * recorded; the calls that follow are recorded in the order they came, each after the join.
 */
export function learningOrganization(
  recorder: ExchangeRecorder,
  warden: Pick<Warden, 'organizations' | 'learnOrganization'>,
  key: { fingerprint: string; keyHint: string | null },
  provider: ProviderName,
  log: Logger,
  clock: Clock,
): ExchangeRecorder {
  const { fingerprint } = key;
  const learn = (headers: IncomingHttpHeaders): Promise<void> => joinOrganizationOf(headers, warden, key, provider, log);
  // In the order they came: the head's reports are recorded once the key is in its group (a
  // stream's end may come tens of seconds later, and the group must not wait for it without
  // them), and the end after the head, as the recorder requires.
  // A step that throws is logged and ends there: the steps after it still run.
  let recorded: Promise<void> = Promise.resolve();
  const inTurn = (step: () => void | Promise<void>): Promise<void> => {
    recorded = recorded.then(step).catch((error: unknown) => {
      log.error('record-failed', `could not record an answer of key ${fingerprint}: ${(error as Error).message}`, { fingerprint });
    });
    return recorded;
  };
  const afterLearning = (headers: IncomingHttpHeaders, next: () => void | Promise<void>): Promise<void> =>
    inTurn(() => learn(headers).then(next));
  return {
    ...recorder,
    rateLimited: (headers, quota) => afterLearning(headers, () => recorder.rateLimited(headers, quota)),
    headArrived: (status, headers, at = clock()) => {
      // The head's time now, not once the key has joined: its report is as old as the head.
      void afterLearning(headers, () => recorder.headArrived(status, headers, at));
    },
    answered: (status, headers, usage) => {
      void afterLearning(headers, () => recorder.answered(status, headers, usage));
    },
    cutShort: (usage) => {
      void inTurn(() => recorder.cutShort(usage));
    },
    failed: (kind, detail, reachedUpstream) => {
      void inTurn(() => recorder.failed(kind, detail, reachedUpstream));
    },
  };
}

/**
 * Lets the key join the organization its answer's headers name, when that is new; a failure is
 * logged and not thrown, since the key tries again on its next answer.
 */
function joinOrganizationOf(
  headers: IncomingHttpHeaders,
  warden: Pick<Warden, 'organizations' | 'learnOrganization'>,
  key: { fingerprint: string; keyHint: string | null },
  provider: ProviderName,
  log: Logger,
): Promise<void> {
  const { fingerprint } = key;
  const organization = organizationOf(provider, (name) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  });
  if (organization === null || warden.organizations.ownerOf(fingerprint) === ownerOf(organization)) return Promise.resolve();
  return warden.learnOrganization(fingerprint, organization, key.keyHint).then(
    (joined) => {
      log.info(
        'group-joined',
        `key ${fingerprint} belongs to organization ${ownerOf(organization).slice(4)}: its usage now counts in its organization's groups${joined.length === 0 ? '' : ` (${joined.map((move) => `${move.from} → ${move.to}`).join(', ')})`}`,
        { fingerprint },
      );
    },
    (error: unknown) => {
      log.warn(
        'group-join-failed',
        `could not record the organization of key ${fingerprint}: ${(error as Error).message}; it is tried again on its next answer`,
        { fingerprint },
      );
    },
  );
}

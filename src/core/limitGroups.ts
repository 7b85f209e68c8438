import { defaultScope } from './scopes.js';

/**
 * Limit groups: the upstreams apply their limits per organization (OpenAI: organization and
 * project) × model group, and name the key's organization on every answer. A key whose
 * organization is known counts in its organization's group, `org:<organization>[:<project>]/<group>`;
 * until then it is a group of its own, `<fingerprint>/<group>`. The key's own scope stays beside
 * the group: it keeps the key's own reports (a workspace may set lower limits than its
 * organization) and a cooldown on a limit that is the key's alone.
 */
export type OrganizationProvider = 'anthropic' | 'openai';

export interface Organization {
  provider: OrganizationProvider;
  organization: string;
  /** OpenAI's project (its limits are per project inside the organization); null for Anthropic. */
  project: string | null;
}

/** One learned mapping, as the store keeps it (by fingerprint, never the key). */
export interface KeyOrganization extends Organization {
  fingerprint: string;
  learnedAt: number;
  /** The key's last 4 characters (what the providers' consoles show), for key aliases; null when unknown. */
  keyHint?: string | null;
}

/** Ids as the upstreams give them (`org-…`, `proj_…`, UUIDs); anything else is not taken for one. */
const idText = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

/** The organization an answer's headers name (`anthropic-organization-id`; `openai-organization` and `openai-project`), or null. */
export function organizationOf(provider: string, header: (name: string) => string | undefined): Organization | null {
  if (provider === 'anthropic') {
    const organization = header('anthropic-organization-id')?.trim();
    return organization !== undefined && idText.test(organization) ? { provider, organization, project: null } : null;
  }
  if (provider === 'openai') {
    const organization = header('openai-organization')?.trim();
    if (organization === undefined || !idText.test(organization)) return null;
    const project = header('openai-project')?.trim();
    return { provider, organization, project: project !== undefined && idText.test(project) ? project : null };
  }
  return null;
}

/** The owner part of a group's scope name. */
export function ownerOf(organization: Organization): string {
  return organization.project === null ? `org:${organization.organization}` : `org:${organization.organization}:${organization.project}`;
}

export function sameOrganization(a: Organization, b: Organization): boolean {
  return a.provider === b.provider && a.organization === b.organization && a.project === b.project;
}

/** `<owner>/<group>`: the scope a key's model group joins once its organization is known. */
export function groupScopeOf(owner: string, keyScope: string): string {
  const slash = keyScope.indexOf('/');
  return `${owner}/${slash < 0 ? defaultScope : keyScope.slice(slash + 1)}`;
}

/** Whether a scope is an organization's group (not a key's own scope). */
export function isOrganizationScope(scope: string): boolean {
  return scope.startsWith('org:');
}

/**
 * The order a transaction that locks several scopes' rows takes them in: the groups first, then
 * the keys' own scopes, each by name. Every event locks a group before a key's scope in it, so
 * a tick or an operator's reset that takes them in this order never deadlocks with one.
 */
export function inLockOrder(scopes: Iterable<string>): string[] {
  const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const all = [...scopes];
  return [...all.filter(isOrganizationScope).sort(byName), ...all.filter((scope) => !isOrganizationScope(scope)).sort(byName)];
}

/** The organization id of a group's scope name (not a secret: the upstream sends it on every answer), or null. */
export function organizationOfScope(scope: string): string | null {
  if (!isOrganizationScope(scope)) return null;
  const slash = scope.indexOf('/');
  return scope.slice(4, slash < 0 ? undefined : slash);
}

/**
 * Which of an answer's reports speak for the whole group. A workspace may set a key lower limits
 * than its organization's, and the upstream then reports the workspace's (the most restrictive
 * in effect): such a report is the key's alone and must not shrink its group's view. A report
 * whose limit is below the largest this group has seen on the dimension is taken for a
 * workspace's; any other describes the organization's limit.
 */
export function reportsForGroup<R extends { dimension: string; limit: number | null }>(
  reports: readonly R[],
  groupReports: readonly { dimension: string; limit: number | null }[],
): R[] {
  return reports.filter((report) => !isKeysOwnLimit(report, groupReports));
}

/** Whether a report shows a limit below its group's: the key's own (workspace) limit. */
export function isKeysOwnLimit(
  report: { dimension: string; limit: number | null },
  groupReports: readonly { dimension: string; limit: number | null }[],
): boolean {
  const group = groupReports.find((known) => known.dimension === report.dimension);
  return report.limit !== null && group !== undefined && group.limit !== null && report.limit < group.limit;
}

/**
 * Which limit a 429 ran out of: the dimensions its headers show exhausted (remaining below what
 * the request needed) are the key's own when each of them shows the workspace's lower limit;
 * then the cooldown covers the key only, otherwise its whole group.
 */
export function cooldownCovers(
  exhausted: readonly { dimension: string; limit: number | null }[],
  groupReports: readonly { dimension: string; limit: number | null }[],
): 'key' | 'group' {
  return exhausted.length > 0 && exhausted.every((report) => isKeysOwnLimit(report, groupReports)) ? 'key' : 'group';
}

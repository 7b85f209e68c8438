import { ownerOf, type KeyOrganization } from '../core/limitGroups.js';

/**
 * The learned key → organization mapping, in memory for the request path (which names a
 * request's group without a round trip); the store holds it durably (key_organizations) and
 * the warden loads it at open and at every tick, so that what another process learned is seen.
 */
export class OrganizationDirectory {
  private readonly owners = new Map<string, string>();

  /** The group owner (`org:…`) of a key's fingerprint, or null while its organization is unknown. */
  ownerOf(fingerprint: string): string | null {
    return this.owners.get(fingerprint) ?? null;
  }

  remember(entry: KeyOrganization): void {
    this.owners.set(entry.fingerprint, ownerOf(entry));
  }

  replaceAll(entries: readonly KeyOrganization[]): void {
    this.owners.clear();
    for (const entry of entries) this.remember(entry);
  }

  get size(): number {
    return this.owners.size;
  }
}

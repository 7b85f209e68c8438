/**
 * A scope's name as a person reads it. A scope is named `<key fingerprint>/<model family>`: the
 * family says what it is, the first 8 hex digits of the fingerprint tell keys apart (the whole
 * name stays in `scope`, for `--scope` and scripts). Other names are shown as they are.
 */
export function scopeLabel(scope: string): string {
  const match = /^([0-9a-f]{16,})\/(.+)$/.exec(scope);
  if (match === null) return scope;
  return `${match[2] as string} · key ${(match[1] as string).slice(0, 8)}`;
}

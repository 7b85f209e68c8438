import { describe, expect, it } from 'vitest';
import { sessionLabel } from '../../../src/proxy/sessionOf.js';

describe('a session as the live page names it', () => {
  it('shows a client session id only as a short hash keyed with the store secret, never the id', () => {
    const label = sessionLabel('session:alice', 'secret-one');
    expect(label).toMatch(/^session [0-9a-f]{8}$/);
    expect(label).not.toContain('alice');
    // The same id under another store's secret: another name, so a guessed id cannot be checked against it.
    expect(sessionLabel('session:alice', 'secret-two')).not.toBe(label);
    expect(sessionLabel('session:alice', 'secret-one')).toBe(label);
  });

  it('names a key by its fingerprint and a connection by its address', () => {
    expect(sessionLabel('key:8461d65876a04477', 'secret')).toBe('key 8461d65876a04477');
    expect(sessionLabel('connection:127.0.0.1:50123', 'secret')).toBe('connection 127.0.0.1:50123');
    expect(sessionLabel('', 'secret')).toBe('unknown');
  });
});

/** CHECKPRESENT's answer from what a server holds: only the key's own size counts as present. */
import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../src/protocol/contract.js';
import { holdsKey } from '../../src/remotes/core/keys.js';

function context(): { ctx: RequestContext; debug: string[] } {
  const debug: string[] = [];
  const annex = { debug: async (m: string) => void debug.push(m) } as unknown as RequestContext['annex'];
  return { ctx: { annex, signal: new AbortController().signal }, debug };
}

describe('holdsKey', () => {
  it('is present when the server holds the size the key records', () => {
    const { ctx } = context();
    expect(holdsKey('SHA256E-s1048576--abc.bin', { size: 1048576 }, ctx)).toBe(true);
    // A chunk key: its chunk's size (the last chunk of 10 bytes in chunks of 4 holds 2).
    expect(holdsKey('SHA256E-s10-S4-C3--abc.bin', { size: 2 }, ctx)).toBe(true);
  });

  it('is absent when nothing is there', () => {
    expect(holdsKey('SHA256E-s5--abc.bin', undefined, context().ctx)).toBe(false);
  });

  it('is absent, and says why, when the server holds another size (the part of a cut upload)', () => {
    const { ctx, debug } = context();
    expect(holdsKey('SHA256E-s25165824--abc.bin', { size: 1048576 }, ctx)).toBe(false);
    expect(debug.join('\n')).toMatch(/holds 1048576 bytes under its name, not 25165824/);
  });

  it('trusts what it cannot check: keys without a size (encrypted, URL keys) and untold sizes', () => {
    const { ctx } = context();
    expect(holdsKey('GPGHMACSHA256--0123abcd', { size: 7 }, ctx)).toBe(true);
    expect(holdsKey('URL--http://example.org/a-s5', { size: 1 }, ctx)).toBe(true);
    expect(holdsKey('SHA256E-s5--abc.bin', { size: undefined }, ctx)).toBe(true);
  });
});

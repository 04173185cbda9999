/**
 * The pure parts of the archive remote: dl+archive URLs as DataLad writes and
 * reads them, member names, and the rules of following links and checking
 * sizes. The URLs here are DataLad's own (datalad-compat.md §2.2, and what
 * datalad 0.18.1 recorded in test/archive/datalad.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { RefusedMemberError, MemberMissingError } from '../../src/remotes/archive/errors.js';
import { normalizeMemberName, resolveMember, type MemberInfo } from '../../src/remotes/archive/members.js';
import { formatArchiveUrl, MalformedUrlError, parseArchiveUrl } from '../../src/remotes/archive/url.js';
import { expansionAllowed } from '../../src/remotes/archive/config.js';

const KEY = 'MD5E-s186--6f837235f4a4ff5d18792bd1bbbc4481.tar.gz';

describe('dl+archive URLs', () => {
  it('reads DataLad\'s form, the legacy KEY/path form and atype=', () => {
    expect(parseArchiveUrl(`dl+archive:${KEY}#path=arc/one.txt&size=10`)).toEqual({ archiveKey: KEY, path: 'arc/one.txt', size: 10, atype: undefined });
    expect(parseArchiveUrl(`dl+archive:${KEY}/arc/one.txt#size=10`)).toEqual({ archiveKey: KEY, path: 'arc/one.txt', size: 10, atype: undefined });
    expect(parseArchiveUrl(`dl+archive:${KEY}#path=dir/file.csv&size=234&atype=zip`).atype).toBe('zip');
    expect(parseArchiveUrl(`dl+archive:${KEY}#path=a`).size).toBeUndefined();
    // quote_plus: "+" is a space, %XX decoded, "%2F" a slash.
    expect(parseArchiveUrl(`dl+archive:${KEY}#path=arc/sp+ace+%C3%A9%2B.txt&size=3`).path).toBe('arc/sp ace é+.txt');
    expect(parseArchiveUrl(`dl+archive:${KEY}#path=a%2Fb&size=3`).path).toBe('a/b');
  });

  it('writes what DataLad writes', () => {
    expect(formatArchiveUrl(KEY, 'arc/one.txt', 10)).toBe(`dl+archive:${KEY}#path=arc/one.txt&size=10`);
    expect(formatArchiveUrl(KEY, 'arc/sp ace é.txt', 3)).toBe(`dl+archive:${KEY}#path=arc/sp+ace+%C3%A9.txt&size=3`);
    expect(formatArchiveUrl(KEY, "/a/it's (1)~!*.txt")).toBe(`dl+archive:${KEY}#path=a/it%27s+%281%29~%21%2A.txt`);
    for (const p of ['arc/sp ace é.txt', 'a+b&c=d#e%f/g', "it's"]) expect(parseArchiveUrl(formatArchiveUrl(KEY, p, 1)).path).toBe(p);
  });

  it('refuses what cannot be served, saying why', () => {
    const bad = (u: string): string => {
      try {
        parseArchiveUrl(u);
      } catch (err) {
        expect(err).toBeInstanceOf(MalformedUrlError);
        return (err as Error).message;
      }
      throw new Error(`accepted ${u}`);
    };
    expect(bad(`dl+archive:${KEY}#size=1`)).toContain('it names no member');
    expect(bad('dl+archive:nokey#path=a')).toContain('"nokey" is not a git-annex key');
    expect(bad(`dl+archive:${KEY}#path=/etc/passwd`)).toContain('the member path "/etc/passwd" is absolute');
    expect(bad(`dl+archive:${KEY}#path=a/../../b`)).toContain('contains ".."');
    expect(bad(`dl+archive:${KEY}#path=a&size=ten`)).toContain('size=ten is not a number of bytes');
    expect(bad(`dl+archive:${KEY}#path=a&atype=rar`)).toContain('atype=rar is neither tar nor zip');
    expect(bad(`dl+archive:${KEY}#path=`)).toContain('is empty');
  });
});

describe('member names and resolution', () => {
  it('normalises names as extraction writes them, and marks unsafe ones', () => {
    expect(normalizeMemberName('./a/b/')).toEqual({ name: 'a/b' });
    expect(normalizeMemberName('a/./b')).toEqual({ name: 'a/b' });
    expect(normalizeMemberName('/etc/passwd')).toEqual({ name: 'etc/passwd', unsafe: 'its path is absolute' });
    expect(normalizeMemberName('a/../../x').unsafe).toBe('its path contains ".."');
    expect(normalizeMemberName('C:\\win\\x').unsafe).toBe('its path is absolute');
  });

  const members = new Map<string, MemberInfo>(
    (
      [
        { name: 'd/f', raw: 'd/f', type: 'file', size: 3 },
        { name: 'd/l', raw: 'd/l', type: 'symlink', size: 0, linkname: 'f' },
        { name: 'l2', raw: 'l2', type: 'symlink', size: 0, linkname: 'd/l' },
        { name: 'h', raw: 'h', type: 'link', size: 0, linkname: 'd/f' },
        { name: 'esc', raw: 'esc', type: 'symlink', size: 0, linkname: 'd/../..' },
        { name: 'self', raw: 'self', type: 'symlink', size: 0, linkname: '.' },
      ] as MemberInfo[]
    ).map((m) => [m.name, m]),
  );
  const resolve = (path: string, urlSize?: number, keySize?: number): MemberInfo =>
    resolveMember('AK', path, (n) => members.get(n), { urlSize, keySize, key: 'K' });

  it('follows links inside the archive and checks sizes against the URL and the key', () => {
    expect(resolve('d/l').name).toBe('d/f');
    expect(resolve('l2', 3, 3).name).toBe('d/f');
    expect(resolve('h').name).toBe('d/f');
    expect(() => resolve('d/f', 4)).toThrow('it has 3 bytes but the URL (size=) says 4');
    expect(() => resolve('d/f', 3, 5)).toThrow('it has 3 bytes but the key K says 5');
    expect(() => resolve('esc')).toThrow(RefusedMemberError);
    expect(() => resolve('self')).toThrow('which leaves the archive');
    expect(() => resolve('nope')).toThrow(MemberMissingError);
  });

  it('allows at least 1 MiB, then maxratio times the compressed size, never past maxtotal', () => {
    const limits = { maxRatio: 100, maxTotal: 50 * 1024 * 1024 };
    expect(expansionAllowed(limits, 10)).toBe(1024 * 1024);
    expect(expansionAllowed(limits, 100_000)).toBe(10_000_000);
    expect(expansionAllowed(limits, 10_000_000)).toBe(50 * 1024 * 1024);
  });
});

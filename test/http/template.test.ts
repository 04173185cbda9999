/**
 * url= templates: a git-annex object directory published over plain HTTP is
 * read by key, with no URL recorded for any file.
 */
import { randomBytes } from 'node:crypto';
import { cp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initHttpRemote } from '../support/http-remote.js';
import { useWebSources } from '../support/http-sources.js';

describe('annexd-http url= templates', () => {
  const suite = useWebSources();

  it('reads keys from a published .git/annex/objects by {dirhash}{key}/{key}', async () => {
    const { sources } = suite;
    const origin = await AnnexRepo.create(suite.sandbox, 'published');
    const files: Record<string, Buffer> = { 'a.bin': randomBytes(70_000), 'sub/b & c.txt': Buffer.from('b and c\n') };
    for (const [name, content] of Object.entries(files)) await origin.write(name, content);
    await origin.write('never-published.txt', 'not on the server');
    await origin.commitAll();
    // Publish the object directory, as a web server would serve a checkout, minus one key.
    await cp(join(origin.path, '.git', 'annex', 'objects'), join(sources.root, 'published', 'objects'), { recursive: true });
    const missingKey = await origin.key('never-published.txt');
    const clone = await AnnexRepo.clone(suite.sandbox, origin, 'reader');
    await initHttpRemote(clone, 'pub', [`url=${sources.web}/published/objects/{dirhash}{key}/{key}`]);
    const missingDir = (await origin.ok('git', 'annex', 'examinekey', '--format=${hashdirmixed}${key}', missingKey)).stdout.trim();
    await rm(join(sources.root, 'published', 'objects', missingDir), { recursive: true });

    // fsck --from finds the published keys, verifies them and records them as present.
    const fsck = await clone.ok('git', 'annex', 'fsck', '--from', 'pub', '.');
    expect(fsck.stdout).toMatch(/fsck a\.bin[\s\S]*?\(fixing location log\) \(checksum\.\.\.\) ok/);
    expect(fsck.stdout).toMatch(/fsck sub\/b & c\.txt[\s\S]*?\(fixing location log\) \(checksum\.\.\.\) ok/);
    const whereis = (await clone.ok('git', 'annex', 'whereis', '--in', 'pub')).stdout;
    expect(whereis).toContain('a.bin');
    expect(whereis).not.toContain('never-published.txt');
    await clone.ok('git', 'annex', 'get', '--from', 'pub', 'a.bin', 'sub/b & c.txt');
    for (const [name, content] of Object.entries(files)) {
      expect((await readFile(join(clone.path, name))).equals(content), name).toBe(true);
    }
    const absent = await clone.annex('checkpresentkey', missingKey, 'pub');
    expect(absent.code).toBe(1);
  });

  it('refuses templates it cannot use, naming the problem', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'bad-templates');
    const cases: Array<[string, string]> = [
      ['url=https://host/objects/{dirhash}', 'must contain {key}'],
      ['url=https://host/{key}/{hashdir}', 'unknown placeholder {hashdir}'],
      ['url=ftp://host/{key}', 'must be an http:// or https:// URL, not ftp:'],
      ['url=https://user:pw@host/{key}', 'must not contain a user name or password'],
      ['match=(unclosed', 'match= is not a valid regular expression'],
    ];
    for (const [param, message] of cases) {
      const r = await repo.annex('initremote', 'bad', 'type=external', 'externaltype=annexd-http', 'encryption=none', param);
      expect(r.code, param).not.toBe(0);
      expect(r.stdout + r.stderr, param).toContain(message);
    }
  });
});

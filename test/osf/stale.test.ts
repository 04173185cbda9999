/**
 * One listing per process, and its "absent" is not believed forever: a key
 * another process stored after the listing is found by one lookup once the
 * listing is older than FRESH_MS (30 s), without listing everything again.
 * One long-lived remote process (checkpresentkey --batch) shows it.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { FRESH_MS } from '../../src/remotes/osf/storage.js';
import { AnnexRepo, initExternalRemote } from '../support/annex.js';
import { initOsfRemote, useOsfSuite } from '../support/osf.js';

describe('annexd-osf listing freshness', () => {
  const suite = useOsfSuite();

  it('re-checks a stale "absent" with one lookup, and believes a fresh one', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'reader');
    const node = await initOsfRemote(repo, suite.osf, 'osf', ['requestrate=50']);
    const writer = await AnnexRepo.create(suite.sandbox, 'writer');
    await initExternalRemote(writer, 'annexd-osf', 'osf', [`api=${suite.osf.api}`, `node=${node}`], suite.osf.credsEnv);
    await writer.write('late.txt', 'stored after the listing\n');
    await writer.commitAll();
    const key = await writer.key('late.txt');

    const batch = spawn('git', ['annex', 'checkpresentkey', 'osf', '--batch'], { cwd: repo.path, env: repo.env, stdio: ['pipe', 'pipe', 'inherit'] });
    const answers = createInterface({ input: batch.stdout })[Symbol.asyncIterator]();
    const ask = async (k: string): Promise<string> => {
      batch.stdin.write(`${k}\n`);
      return String((await answers.next()).value);
    };
    try {
      expect(await ask(key)).toBe('0'); // listed now: absent
      await writer.ok('git', 'annex', 'copy', '--to', 'osf', 'late.txt');
      const before = (await suite.osf.stats()).requests.length;
      expect(await ask(key)).toBe('0'); // a fresh listing is believed: no request
      expect((await suite.osf.stats()).requests.slice(before)).toEqual([]);
      await new Promise((r) => setTimeout(r, FRESH_MS + 500));
      expect(await ask(key)).toBe('1'); // stale: one lookup finds it
      const reqs = (await suite.osf.stats()).requests.slice(before);
      expect(reqs.map((r) => r.path)).toEqual([expect.stringMatching(/\/files\/osfstorage\/\?.*filter%5Bname%5D%5Beq%5D=/)]);
      expect(await ask(key)).toBe('1'); // now known: no request
      expect((await suite.osf.stats()).requests.slice(before)).toHaveLength(1);
    } finally {
      batch.stdin.end();
      await new Promise((r) => batch.once('close', r));
    }
  });
});

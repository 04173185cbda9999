/**
 * annexd-webdav killed (SIGKILL, together with git-annex: no clean-up
 * possible) in the middle of uploading a 64 MiB file: the key must not be
 * reported present, nothing may exist under its final path on the server, and
 * the next copy must succeed. A proxy holds the upload at 16 MiB, so the kill
 * reliably lands mid-upload.
 */
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { through, withFaultProxy, type RequestInfo } from '../support/fault-proxy.js';
import { killMidway } from '../support/kill.js';
import { initDavRemote, useDavSuite } from '../support/webdav.js';
import { listFiles } from '../webdav/files.js';

const suite = useDavSuite('lighttpd');
const MiB = 1024 * 1024;
// Bounded: stopping the proxy ends the stall, and the kill closes its connection long before.
const holdUpload = { fault: 'stall' as const, match: (r: RequestInfo) => r.method === 'PUT', atByte: 16 * MiB, stallMs: 120_000 };

describe('annexd-webdav killed mid-store', () => {
  it('leaves the key absent and nothing under its name; the next copy succeeds', async () => {
    await withFaultProxy({ target: suite.dav.url, plan: [holdUpload] }, async (proxy) => {
      const repo = await AnnexRepo.create(suite.sandbox, 'killed');
      const collection = suite.dav.collection('killed');
      await initDavRemote(repo, suite.dav, 'dav', [], through(proxy, collection));
      await repo.write('big.bin', randomBytes(64 * MiB));
      await repo.commitAll();
      const key = await repo.key('big.bin');
      const keyPath = (await repo.ok('git', 'annex', 'examinekey', '--format=${hashdirlower}${key}', key)).stdout.trim();
      const onDisk = (): Promise<string[]> => listFiles(join(suite.dav.root, basename(collection)));

      await killMidway(repo, ['copy', '--to', 'dav', 'big.bin'], 'git-annex-remote-annexd-webdav', () => proxy.injected.stall === 1);

      // Not present, as the server says it (checkpresentkey asks the remote: 1 is "not present").
      expect((await repo.run('git', ['annex', 'checkpresentkey', key, 'dav'])).code).toBe(1);
      expect((await repo.ok('git', 'annex', 'whereis', 'big.bin')).stdout).not.toMatch(/\[dav\]/);
      const left = await onDisk();
      expect(left).not.toContain(keyPath);
      // A temporary upload left behind would be acceptable (never taken for the key); lighttpd discards cut uploads.
      expect(left.filter((p) => !p.includes('/.annexd-tmp-'))).toEqual([]);
      console.log(`after the kill, on the server: ${left.length ? left.join(', ') : 'nothing'}`);

      await repo.ok('git', 'annex', 'copy', '--to', 'dav', 'big.bin');
      await repo.ok('git', 'annex', 'fsck', '--from', 'dav', 'big.bin');
      expect(await onDisk()).toContain(keyPath);
    });
  });
});

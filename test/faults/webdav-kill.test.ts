/**
 * annexd-webdav killed (SIGKILL, together with git-annex: no clean-up
 * possible) in the middle of uploading a 64 MiB file: the key must not be
 * reported present, nothing may exist under its final path on the server, and
 * the next copy must succeed. A proxy holds the upload at 16 MiB, so the kill
 * reliably lands mid-upload.
 *
 * rclone keeps what arrived of a cut upload, and answers a DELETE of it with
 * 423 Locked while the upload is still open: the leftover must be found and
 * deleted by a later run once it is old enough, and never while it might be
 * another process's live upload.
 */
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { through, withFaultProxy, type RequestInfo } from '../support/fault-proxy.js';
import { killMidway } from '../support/kill.js';
import { DAV_KINDS, initDavRemote, useDavSuite } from '../support/webdav.js';
import { listFiles } from '../webdav/files.js';

const MiB = 1024 * 1024;
// Bounded: stopping the proxy ends the stall, and the kill closes its connection long before.
const holdUpload = { fault: 'stall' as const, match: (r: RequestInfo) => r.method === 'PUT', atByte: 16 * MiB, stallMs: 120_000 };
/** Temporary uploads of annexd-webdav (in .annexd-tmp/ below the remote's collection). */
const isTmp = (path: string): boolean => path.includes('.annexd-tmp');

describe.each(DAV_KINDS)('annexd-webdav on %s killed mid-store', (kind) => {
  const suite = useDavSuite(kind);

  it('leaves the key absent and nothing under its name; the next copy succeeds; a later store deletes the old leftover', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'killed');
    const collection = suite.dav.collection('killed');
    const onDisk = (): Promise<string[]> => listFiles(join(suite.dav.root, basename(collection)));
    const leftovers = async (): Promise<string[]> => (await onDisk()).filter(isTmp);
    await repo.write('big.bin', randomBytes(64 * MiB));
    await repo.commitAll();
    const key = await repo.key('big.bin');
    const keyPath = (await repo.ok('git', 'annex', 'examinekey', '--format=${hashdirlower}${key}', key)).stdout.trim();

    await withFaultProxy({ target: suite.dav.url, plan: [holdUpload] }, async (proxy) => {
      await initDavRemote(repo, suite.dav, 'dav', [], through(proxy, collection));
      let locked: number | undefined;
      await killMidway(repo, ['copy', '--to', 'dav', 'big.bin'], 'git-annex-remote-annexd-webdav', () => {
        if (proxy.injected.stall !== 1) return false;
        if (kind === 'rclone' && locked === undefined) {
          // What the remote's own clean-up meets while the server still holds the upload open.
          locked = -1;
          void leftovers().then(async ([tmp]) => {
            const r = await fetch(`${collection}/${tmp}`, { method: 'DELETE', headers: { authorization: basic(suite.dav.password) } });
            locked = r.status;
          });
        }
        return kind !== 'rclone' || (locked !== undefined && locked > 0);
      });
      if (kind === 'rclone') expect(locked, 'DELETE of an upload in progress on rclone').toBe(423);
    });
    await repo.ok('git', 'annex', 'enableremote', 'dav', `url=${collection}`);

    // Not present, as the server says it (checkpresentkey asks the remote: 1 is "not present").
    expect((await repo.run('git', ['annex', 'checkpresentkey', key, 'dav'])).code).toBe(1);
    expect((await repo.ok('git', 'annex', 'whereis', 'big.bin')).stdout).not.toMatch(/\[dav\]/);
    const left = await onDisk();
    expect(left).not.toContain(keyPath);
    // Only a temporary upload may be left behind (lighttpd and Apache discard cut uploads; rclone keeps them).
    expect(left.filter((p) => !isTmp(p))).toEqual([]);
    console.log(`after the kill, on ${kind}: ${left.length ? left.join(', ') : 'nothing'}`);
    if (kind === 'rclone') expect(left).toHaveLength(1);

    // A young leftover might be another process's live upload: the next store keeps it.
    await repo.ok('git', 'annex', 'copy', '--to', 'dav', 'big.bin');
    await repo.ok('git', 'annex', 'fsck', '--from', 'dav', 'big.bin');
    expect(await onDisk()).toContain(keyPath);
    expect(await leftovers()).toEqual(left.filter(isTmp));

    // An hour later (as the server's clock says), the first store of the next run deletes it.
    const hoursAgo = new Date(Date.now() - 2 * 3600_000);
    for (const p of left) await utimes(join(suite.dav.root, basename(collection), p), hoursAgo, hoursAgo);
    await repo.write('small.txt', 'after the leftover\n');
    await repo.commitAll();
    await repo.ok('git', 'annex', 'copy', '--to', 'dav', 'small.txt');
    expect(await leftovers()).toEqual([]);
    expect((await onDisk()).filter((p) => !isTmp(p))).toHaveLength(2);
  });
});

const basic = (password: string): string => `Basic ${Buffer.from(`u:${password}`).toString('base64')}`;

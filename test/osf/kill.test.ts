/**
 * annexd-osf killed (SIGKILL, together with git-annex) in the middle of
 * uploading a 256 MiB file, against a server that keeps what arrived of a cut
 * upload as the file (as s3rver does; WaterButler discards it): the key must
 * not be reported present, and the next copy must replace the leftover.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { killMidway, until } from '../support/kill.js';
import { initOsfRemote, useOsfSuite } from '../support/osf.js';

const MiB = 1024 * 1024;

describe('annexd-osf killed mid-store', () => {
  const suite = useOsfSuite({ ANNEXD_OSF_KEEP_CUT_UPLOADS: '1' });

  it('never counts the cut upload present; the next copy replaces it', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'killed');
    const node = await initOsfRemote(repo, suite.osf, 'osf');
    await repo.write('big.bin', randomBytes(256 * MiB));
    await repo.commitAll();
    const key = await repo.key('big.bin');
    const blobs = join(suite.sandbox.dir, 'osf-data', 'blobs');
    const uploading = (): boolean => readdirSync(blobs).some((f) => f.startsWith('tmp-') && statSync(join(blobs, f), { throwIfNoEntry: false })?.size! > 8 * MiB);
    await killMidway(repo, ['copy', '--to', 'osf', 'big.bin'], 'git-annex-remote-annexd-osf', uploading);
    // The server keeps the part that arrived, under the key's name.
    await until('the server to keep the cut upload', () => readdirSync(blobs).every((f) => !f.startsWith('tmp-')));
    expect(await suite.osf.rootNames(node)).toEqual([key]);
    const check = await repo.run('git', ['annex', 'checkpresentkey', key, 'osf']);
    expect(check.code, check.stdout + check.stderr).toBe(1);
    // Absent, not "cannot tell": the remote names the size it found.
    const debug = await repo.run('git', ['annex', '--debug', 'checkpresentkey', key, 'osf']);
    expect(debug.stderr).toMatch(/the server holds \d+ bytes under its name, not 268435456: not its content/);

    await repo.ok('git', 'annex', 'copy', '--to', 'osf', 'big.bin');
    expect((await repo.run('git', ['annex', 'checkpresentkey', key, 'osf'])).code).toBe(0);
    await repo.ok('git', 'annex', 'drop', 'big.bin');
    await repo.ok('git', 'annex', 'get', '--from', 'osf', 'big.bin');
    await repo.ok('git', 'annex', 'fsck', 'big.bin');
  });
});

/**
 * Interop with Debian's real DataLad: a sibling made by annexd create-sibling
 * (with a publication dependency) is what `datalad push` expects, and
 * `datalad siblings` reads it back with the dependency; a sibling made by
 * `datalad create-sibling` is adopted with --existing reconfigure.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { useSshScene } from '../support/sshd.js';
import { BIN_DIR, requireTool } from '../support/tools.js';

const scene = useSshScene({ 'data/big.bin': Buffer.alloc(200_000, 3), README: 'hi\n' }, () => requireTool('datalad', 'apt-get install -y datalad'));
const { url } = scene;
const run = (cmd: string, args: string[]): Promise<ExecResult> => exec(cmd, args, { cwd: scene.repo.path, env: scene.repo.env });

describe('create-sibling and DataLad', () => {
  it('datalad push publishes to siblings annexd created: the dependency first, then the git sibling with its content', async () => {
    const storage = join(scene.sandbox.dir, 'srv', 'storage.git');
    const pub = join(scene.sandbox.dir, 'srv', 'pub.git');
    expect((await run(join(BIN_DIR, 'annexd'), ['create-sibling', url(storage), '-s', 'storage'])).code).toBe(0);
    const made = await run(join(BIN_DIR, 'annexd'), ['create-sibling', url(pub), '-s', 'pub', '--publish-depends', 'storage']);
    expect(made.code, made.stderr).toBe(0);

    const siblings = await run('/usr/bin/datalad', ['-f', 'json', 'siblings']);
    expect(siblings.code, siblings.stderr).toBe(0);
    const records = siblings.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const pubRecord = records.find((r) => r.name === 'pub');
    expect(pubRecord).toMatchObject({ url: url(pub), 'annex-uuid': (await exec('git', ['config', 'annex.uuid'], { cwd: pub })).stdout.trim() });
    expect(String(pubRecord?.['datalad-publish-depends'])).toContain('storage');

    const push = await run('/usr/bin/datalad', ['-f', 'json', 'push', '--to', 'pub']);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const results = push.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const copies = results.filter((r) => r.action === 'copy' && r.status === 'ok');
    expect(copies.filter((r) => r.target === 'storage')).toHaveLength(2);
    expect(copies.filter((r) => r.target === 'pub')).toHaveLength(2);
    const published = results.filter((r) => r.action === 'publish' && r.status === 'ok').map((r) => r.target);
    expect([...new Set(published)]).toEqual(['storage', 'pub']);
    // The dependency's content went before the git sibling's refs.
    expect(results.findIndex((r) => r.action === 'copy' && r.target === 'storage')).toBeLessThan(results.findIndex((r) => r.action === 'publish' && r.target === 'pub'));

    // Content and history are on both hosts' repositories.
    const key = await scene.repo.key('data/big.bin');
    for (const remote of [storage, pub]) {
      const loc = await exec('git', ['annex', 'contentlocation', key], { cwd: remote, env: scene.repo.env });
      expect(loc.code, `${remote}: ${loc.stderr}`).toBe(0);
      expect((await readFile(join(remote, loc.stdout.trim()))).length).toBe(200_000);
      expect((await exec('git', ['rev-parse', 'main'], { cwd: remote })).stdout).toBe((await run('git', ['rev-parse', 'main'])).stdout);
    }
  });

  it('takes over a sibling made by datalad create-sibling (a non-bare repository) with --existing reconfigure, writing the keys DataLad wrote', async () => {
    const target = join(scene.sandbox.dir, 'srv', 'by-datalad');
    const made = await run('/usr/bin/datalad', ['create-sibling', '-s', 'dl', url(target)]);
    expect(made.code, made.stdout + made.stderr).toBe(0);
    const keys = async (name: string): Promise<string[]> =>
      (await run('git', ['config', '--get-regexp', `^remote\\.${name}\\.`])).stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]?.replace(`remote.${name}.`, '') as string)
        .sort();
    const datalads = await keys('dl');

    // Under another name, annexd reconfigure adopts the same repository and writes the same keys.
    const r = await run(join(BIN_DIR, 'annexd'), ['create-sibling', url(target), '-s', 'ad', '--existing', 'reconfigure', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', operation: 'reconfigured' });
    expect(await keys('ad')).toEqual(datalads);
    for (const k of ['url', 'fetch', 'annex-uuid']) expect(datalads).toContain(k);
    const uuid = (await exec('git', ['-C', target, 'config', 'annex.uuid'])).stdout.trim();
    expect((await run('git', ['config', 'remote.ad.annex-uuid'])).stdout.trim()).toBe(uuid);
    expect((await run('git', ['config', 'remote.dl.annex-uuid'])).stdout.trim()).toBe(uuid);
  });
});

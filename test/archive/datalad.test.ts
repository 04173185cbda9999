/**
 * Datasets made by Debian's real DataLad (`datalad add-archive-content`, with
 * DataLad's own datalad-archives remote) served by annexd's drop-in
 * git-annex-remote-datalad-archives: the archive key is dropped here and must
 * come from a directory special remote through the nested get. Which program
 * served is checked, not assumed: the PATH git-annex gets resolves to ours, our
 * cache is filled, and our INFO line (not DataLad's) is shown.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { AnnexRepo, type Sandbox } from '../support/annex.js';
import { makeArchive, dataladSandbox, writeTree } from '../support/archive.js';
import { BIN_DIR } from '../support/tools.js';

const DATALAD_ARCHIVES_UUID = 'c04eb54b-4b4e-5755-8436-866b043170fa';

let sandbox: Sandbox;
/** The environment DataLad itself runs in: annexd's bin/ is not on its PATH. */
let dataladEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  ({ sandbox, dataladEnv } = await dataladSandbox());
});
afterAll(async () => sandbox?.cleanup());

const tree = {
  'arc/one.txt': 'one one 1\n',
  'arc/sub/two.txt': 'two\n',
  'arc/sp ace é.txt': 'x y',
  'arc/sub/deeper/big.bin': Buffer.alloc(300_000, 7),
};

async function datalad(cwd: string, ...args: string[]): Promise<string> {
  const r = await exec('datalad', args, { cwd, env: dataladEnv });
  if (r.code !== 0) throw new Error(`datalad ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** A dataset with archive `name` of `format` added by DataLad, plus a directory remote holding the archive. */
async function dataladDataset(name: string, format: 'tar.gz' | 'zip', extra: string[] = []): Promise<{ repo: AnnexRepo; akey: string }> {
  const src = join(sandbox.dir, `${name}-src`);
  await writeTree(src, tree);
  await datalad(sandbox.dir, 'create', name);
  const repo = new AnnexRepo(join(sandbox.dir, name), sandbox.env);
  const file = `arc.${format}`;
  await makeArchive(format, src, 'arc', join(repo.path, file));
  await datalad(repo.path, 'save', '-m', 'add archive', file);
  const akey = await repo.key(file);
  await datalad(repo.path, 'add-archive-content', '--delete', ...extra, file);
  expect(existsSync(join(repo.path, file))).toBe(false);
  // Another remote for the archive, then the archive's content gone from here.
  const store = join(sandbox.dir, `${name}-store`);
  await mkdir(store);
  await repo.ok('git', 'annex', 'initremote', 'store', 'type=directory', `directory=${store}`, 'encryption=none');
  await repo.ok('git', 'annex', 'copy', '--quiet', '--key', akey, '--to', 'store');
  await repo.ok('git', 'annex', 'drop', '--quiet', '--key', akey);
  return { repo, akey };
}

async function expectOursServes(repo: AnnexRepo): Promise<void> {
  const which = await repo.ok('sh', '-c', 'command -v git-annex-remote-datalad-archives');
  expect(which.stdout.trim()).toBe(join(BIN_DIR, 'git-annex-remote-datalad-archives'));
}

describe('datasets made by datalad add-archive-content, served by annexd', () => {
  it('gets every member of a tar.gz after the archive key was dropped; the archive comes from a directory remote', async () => {
    const { repo, akey } = await dataladDataset('ds-tar', 'tar.gz');
    await expectOursServes(repo);
    const whereis = (await repo.ok('git', '-c', 'core.quotepath=off', 'annex', 'whereis', 'arc/sp ace é.txt')).stdout;
    expect(whereis).toContain(`${DATALAD_ARCHIVES_UUID} -- [datalad-archives]`);
    expect(whereis).toContain(`datalad-archives: dl+archive:${akey}#path=arc/sp+ace+%C3%A9.txt&size=3`);

    // Dropping the members asks our CHECKPRESENT: the archive is in "store", so datalad-archives has them.
    await repo.ok('git', 'annex', 'drop', 'arc');
    expect(existsSync(join(repo.path, 'arc/one.txt'))).toBe(false);
    // From a subdirectory first: git-annex hands the remote relative GIT_DIR and GIT_WORK_TREE.
    const sub = await exec('git', ['annex', 'get', 'two.txt'], { cwd: join(repo.path, 'arc/sub'), env: repo.env });
    const out = sub.stdout + sub.stderr;
    expect(sub.code, out).toBe(0);
    await repo.ok('git', 'annex', 'get', '-J2', 'arc');
    for (const [rel, content] of Object.entries(tree)) {
      expect((await readFile(join(repo.path, rel))).equals(Buffer.from(content)), rel).toBe(true);
    }
    expect(out).toContain(`getting archive ${akey}`);
    expect(out).not.toContain('To obtain some keys we need to fetch an archive');
    // The archive came back through the nested get, and our cache holds it.
    await repo.ok('git', 'annex', 'contentlocation', akey);
    expect(await readdir(join(repo.path, '.git/annex/annexd/archives'))).toHaveLength(1);
  });

  it('datalad drop and datalad get go through annexd, for a zip and with --strip-leading-dirs', async () => {
    const { repo, akey } = await dataladDataset('ds-zip', 'zip', ['--strip-leading-dirs']);
    await expectOursServes(repo);
    expect(existsSync(join(repo.path, 'sub/two.txt'))).toBe(true);
    const ours = { ...sandbox.env };
    const run = async (...args: string[]): Promise<string> => {
      const r = await exec('datalad', args, { cwd: repo.path, env: ours });
      if (r.code !== 0) throw new Error(`datalad ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
      return r.stdout + r.stderr;
    };
    await run('drop', 'sub', 'one.txt');
    expect(existsSync(join(repo.path, 'sub/two.txt'))).toBe(false);
    await run('get', 'sub', 'one.txt');
    expect(await readFile(join(repo.path, 'one.txt'), 'utf8')).toBe('one one 1\n');
    expect(await readFile(join(repo.path, 'sub/two.txt'), 'utf8')).toBe('two\n');
    expect((await readFile(join(repo.path, 'sub/deeper/big.bin'))).equals(tree['arc/sub/deeper/big.bin'])).toBe(true);
    // The URL keeps the member's path inside the archive, leading directory included.
    const urls = (await repo.ok('git', 'annex', 'whereis', 'sub/two.txt')).stdout;
    expect(urls).toContain(`dl+archive:${akey}#path=arc/sub/two.txt&size=4`);
    await repo.ok('git', 'annex', 'contentlocation', akey);
  });
});

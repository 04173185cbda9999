/**
 * `annexd add-archive-content` against Debian's real DataLad: the same archive
 * added by `datalad add-archive-content` in one dataset and by annexd in
 * another records the same files, keys, URLs and remote; what annexd added is
 * then dropped and retrieved by DataLad's own datalad-archives remote (annexd's
 * bin/ off PATH). And the options, on a plain git-annex repository.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { AnnexRepo, type Sandbox } from '../support/annex.js';
import { makeArchive, dataladSandbox, writeTree } from '../support/archive.js';
import { REPO_ROOT } from '../support/tools.js';

let sandbox: Sandbox;
let dataladEnv: NodeJS.ProcessEnv;
const ANNEXD = join(REPO_ROOT, 'bin', 'annexd');

beforeAll(async () => {
  ({ sandbox, dataladEnv } = await dataladSandbox());
});
afterAll(async () => sandbox?.cleanup());

const tree = {
  'arc/one.txt': 'one one 1\n',
  'arc/sub/two.txt': 'two\n',
  'arc/sp ace é+.txt': 'x y',
  'arc/sub/deeper/big.bin': Buffer.alloc(200_000, 3),
  'arc/alias.txt': { link: 'one.txt' },
};

async function run(cwd: string, env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<string> {
  const r = await exec(cmd, args, { cwd, env });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** Every annexed file of a repository: its key and the URLs recorded for it, per remote UUID. */
async function recorded(repo: AnnexRepo): Promise<Record<string, { key: string; urls: Record<string, string[]> }>> {
  const out = (await repo.ok('git', 'annex', 'whereis', '--json')).stdout;
  const all: Record<string, { key: string; urls: Record<string, string[]> }> = {};
  for (const line of out.split('\n').filter(Boolean)) {
    const r = JSON.parse(line) as { file: string; key: string; whereis: Array<{ uuid: string; urls: string[] }> };
    all[r.file] = { key: r.key, urls: Object.fromEntries(r.whereis.filter((w) => w.urls.length).map((w) => [w.uuid, [...w.urls].sort()])) };
  }
  return all;
}

/** remote.log's line for DataLad's archives remote, without its timestamp. */
async function archivesRemoteLog(repo: AnnexRepo): Promise<string> {
  const log = (await repo.ok('git', 'cat-file', '-p', 'git-annex:remote.log')).stdout;
  const line = log.split('\n').find((l) => l.startsWith('c04eb54b-4b4e-5755-8436-866b043170fa')) ?? '';
  return line.replace(/ timestamp=\S+/, '');
}

describe('annexd add-archive-content and DataLad', () => {
  it('records what datalad add-archive-content records, and DataLad\'s own remote retrieves it', async () => {
    const src = join(sandbox.dir, 'src');
    await writeTree(src, tree);
    const archive = join(sandbox.dir, 'arc.tar.gz');
    await makeArchive('tar.gz', src, 'arc', archive);
    const datasets: AnnexRepo[] = [];
    for (const name of ['by-datalad', 'by-annexd']) {
      await run(sandbox.dir, dataladEnv, 'datalad', 'create', name);
      const repo = new AnnexRepo(join(sandbox.dir, name), sandbox.env);
      await repo.write('arc.tar.gz', await readFile(archive));
      await run(repo.path, dataladEnv, 'datalad', 'save', '-m', 'add archive', 'arc.tar.gz');
      datasets.push(repo);
    }
    const [byDatalad, byAnnexd] = datasets as [AnnexRepo, AnnexRepo];
    await run(byDatalad.path, dataladEnv, 'datalad', 'add-archive-content', '--delete', 'arc.tar.gz');
    const said = await run(byAnnexd.path, sandbox.env, ANNEXD, 'add-archive-content', '--delete', 'arc.tar.gz');
    expect(said).toContain('added 5 files from arc.tar.gz; committed');

    const theirs = await recorded(byDatalad);
    const ours = await recorded(byAnnexd);
    expect(Object.keys(ours).sort()).toEqual(['arc/alias.txt', 'arc/one.txt', 'arc/sp ace é+.txt', 'arc/sub/deeper/big.bin', 'arc/sub/two.txt']);
    expect(ours).toEqual(theirs);
    expect(await archivesRemoteLog(byAnnexd)).toBe(await archivesRemoteLog(byDatalad));
    expect(existsSync(join(byAnnexd.path, 'arc.tar.gz'))).toBe(false);
    expect((await byAnnexd.ok('git', 'status', '--porcelain')).stdout).toBe('');

    // DataLad's own remote serves what annexd added.
    await run(byAnnexd.path, dataladEnv, 'datalad', 'drop', 'arc');
    expect(existsSync(join(byAnnexd.path, 'arc/one.txt'))).toBe(false);
    await run(byAnnexd.path, dataladEnv, 'datalad', 'get', 'arc');
    for (const [rel, content] of Object.entries(tree)) {
      const want = typeof content === 'object' && !Buffer.isBuffer(content) ? tree['arc/one.txt'] : content;
      expect((await readFile(join(byAnnexd.path, rel))).equals(Buffer.from(want)), rel).toBe(true);
    }
    // DataLad's extraction cache: its remote, not annexd's, did the work.
    expect(existsSync(join(byAnnexd.path, '.git/datalad/tmp/archives'))).toBe(true);
  });
});

describe('annexd add-archive-content options', () => {
  async function repoWithZip(name: string): Promise<AnnexRepo> {
    const repo = await AnnexRepo.create(sandbox, name);
    const src = join(sandbox.dir, `${name}-src`);
    await writeTree(src, { 'pkg/v1/one.txt': 'one\n', 'pkg/v1/docs/two.txt': 'two\n' });
    await repo.ok('mkdir', 'data');
    await makeArchive('zip', src, 'pkg', join(repo.path, 'data', 'pkg.zip'));
    await repo.ok('git', 'annex', 'add', '--quiet', 'data/pkg.zip');
    await repo.write('data/one.txt', 'already here\n');
    await repo.ok('git', 'add', 'data/one.txt');
    await repo.ok('git', 'commit', '-q', '-m', 'archive and a file in the way');
    return repo;
  }
  const annexd = (repo: AnnexRepo, ...args: string[]): ReturnType<typeof exec> => exec(ANNEXD, ['add-archive-content', ...args], { cwd: repo.path, env: repo.env });

  it('strips leading directories, refuses to overwrite by default, adds archive suffixes, overwrites, drops after, and speaks JSON', async () => {
    const repo = await repoWithZip('options');
    // --existing fail (the default): nothing is added.
    const fail = await annexd(repo, '--strip-leading-dirs', 'data/pkg.zip');
    expect(fail.code).toBe(1);
    expect(fail.stderr).toContain('annexd: data/one.txt exists, but would be overwritten by "pkg/v1/one.txt" from data/pkg.zip: nothing was added; choose --existing overwrite or --existing archive-suffix');
    expect(existsSync(join(repo.path, 'data/docs/two.txt'))).toBe(false);

    const suffix = await annexd(repo, '--strip-leading-dirs', '--existing', 'archive-suffix', '--json', '--drop-after', 'data/pkg.zip');
    expect(suffix.code, suffix.stderr).toBe(0);
    const records = suffix.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((r) => r.path).map((r) => [r.path, r.status, r.url])).toEqual([
      ['data/docs/two.txt', 'ok', expect.stringMatching(/^dl\+archive:SHA256E-s\d+--[0-9a-f]+\.zip#path=pkg\/v1\/docs\/two\.txt&size=4$/)],
      ['data/one-pkg.txt', 'ok', expect.stringMatching(/#path=pkg\/v1\/one\.txt&size=4$/)],
    ]);
    expect(records.at(-1)).toMatchObject({ action: 'add-archive-content', status: 'ok', added: 2, dropped: 2, commit: true });
    // Dropped after adding, and served again by annexd's remote.
    expect(existsSync(join(repo.path, 'data/one-pkg.txt'))).toBe(false);
    await repo.ok('git', 'annex', 'get', 'data');
    expect(await readFile(join(repo.path, 'data/one-pkg.txt'), 'utf8')).toBe('one\n');
    expect(await readFile(join(repo.path, 'data/one.txt'), 'utf8')).toBe('already here\n');
    // A second suffix run finds the suffixed name taken too: DataLad's numeric step.
    await repo.ok('git', 'rm', '-q', 'data/docs/two.txt');
    await repo.ok('git', 'commit', '-q', '-m', 'two removed');
    expect((await annexd(repo, '--strip-leading-dirs', '--existing', 'archive-suffix', 'data/pkg.zip')).code).toBe(0);
    expect(existsSync(join(repo.path, 'data/one-pkg.1.txt'))).toBe(true);

    const over = await annexd(repo, '--strip-leading-dirs', '--existing', 'overwrite', '--delete', 'data/pkg.zip');
    expect(over.code, over.stderr).toBe(0);
    expect(await readFile(join(repo.path, 'data/one.txt'), 'utf8')).toBe('one\n');
    expect(existsSync(join(repo.path, 'data/pkg.zip'))).toBe(false);
    expect((await repo.ok('git', 'status', '--porcelain')).stdout).toBe('');
    const whereis = (await repo.ok('git', 'annex', 'whereis', 'data/one.txt')).stdout;
    expect(whereis).toContain('[datalad-archives]');
  });

  it('names what to fix for a file that is not annexed, and for a missing archive', async () => {
    const repo = await AnnexRepo.create(sandbox, 'bad-args');
    await repo.write('plain.tar', 'x');
    const r = await annexd(repo, 'plain.tar');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('annexd: plain.tar is not an annexed file: add and commit it first');
    const usage = await annexd(repo, '--existing', 'numeric-suffix', 'plain.tar');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--existing must be one of fail, overwrite, archive-suffix');
  });
});

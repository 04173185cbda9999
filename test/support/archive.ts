/**
 * Archives for the archive remote's tests, made by the real tools (GNU tar,
 * gzip, bzip2, xz, Info-ZIP zip), and the git-annex side: an annexed archive,
 * an annexd-archive remote, files registered with dl+archive URLs.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { expect } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { formatArchiveUrl } from '../../src/remotes/archive/url.js';
import { createSandbox, initExternalRemote, type AnnexRepo, type Sandbox } from './annex.js';
import { BIN_DIR, requireTool } from './tools.js';

export type TestFormat = 'tar' | 'tar.gz' | 'tar.bz2' | 'tar.xz' | 'zip';
export const FORMATS: TestFormat[] = ['tar', 'tar.gz', 'tar.bz2', 'tar.xz', 'zip'];

/** A tree of files: a string or bytes is a file, { link } a symbolic link. */
export type Tree = Record<string, string | Buffer | { link: string }>;

export async function writeTree(dir: string, tree: Tree): Promise<void> {
  for (const [rel, content] of Object.entries(tree)) {
    const p = join(dir, rel);
    await mkdir(dirname(p), { recursive: true });
    if (typeof content === 'object' && !Buffer.isBuffer(content)) await symlink(content.link, p);
    else await writeFile(p, content);
  }
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const r = await exec(cmd, args, { cwd });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
}

/** Makes `out` (an archive of `format`) holding `top` (a directory or file under `dir`). */
export async function makeArchive(format: TestFormat, dir: string, top: string, out: string): Promise<void> {
  requireTool('tar', 'apt-get install -y tar');
  if (format === 'zip') {
    requireTool('zip', 'apt-get install -y zip');
    await run('zip', ['-q', '-r', '-y', out, top], dir);
    return;
  }
  const flag = { tar: '', 'tar.gz': 'z', 'tar.bz2': 'j', 'tar.xz': 'J' }[format];
  if (format === 'tar.bz2') requireTool('bzip2', 'apt-get install -y bzip2');
  if (format === 'tar.xz') requireTool('xz', 'apt-get install -y xz-utils');
  await run('tar', [`-c${flag}f`, out, top], dir);
}

/** Writes a small Python program and runs it with Debian's python3 (for archives no archiver makes on purpose). */
export async function python(dir: string, program: string): Promise<void> {
  requireTool('python3', 'apt-get install -y python3');
  const file = join(dir, `make-${Date.now()}-${Math.random().toString(36).slice(2)}.py`);
  await writeFile(file, program);
  await run('python3', [file], dir);
}

export const initArchiveRemote = (repo: AnnexRepo, name = 'arch', params: string[] = []): Promise<void> =>
  initExternalRemote(repo, 'annexd-archive', name, params);

/** Annexes the archive file at `rel` in the repo; returns its key. */
export async function annexArchive(repo: AnnexRepo, rel: string): Promise<string> {
  await repo.ok('git', 'annex', 'add', '--quiet', rel);
  await repo.ok('git', 'commit', '-q', '-m', `add ${rel}`);
  return repo.key(rel);
}

/**
 * A file `rel` with `content` whose only source is `url` on `remote` (registered,
 * then the content dropped), as if added from an archive; returns its key.
 */
export async function fileFromUrl(repo: AnnexRepo, rel: string, content: string | Buffer, url: string, remote = 'arch'): Promise<string> {
  await repo.write(rel, content);
  await repo.ok('git', 'annex', 'add', '--quiet', rel);
  await repo.ok('git', 'commit', '-q', '-m', `add ${rel}`);
  const key = await repo.key(rel);
  await repo.ok('git', 'annex', 'registerurl', key, url);
  // registerurl records the URL; the location log needs the claiming remote marked too, as addurl does.
  const uuid = (await repo.ok('git', 'config', `remote.${remote}.annex-uuid`)).stdout.trim();
  await repo.ok('git', 'annex', 'setpresentkey', key, uuid, '1');
  await repo.ok('git', 'annex', 'drop', '--force', '--quiet', rel);
  return key;
}

export const memberUrl = (archiveKey: string, path: string, size?: number): string => formatArchiveUrl(archiveKey, path, size);

/** Files git-annex keeps for a key being downloaded: none may be left after a refused get. */
export async function leftovers(repo: AnnexRepo, key: string): Promise<string[]> {
  const tmp = join(repo.path, '.git', 'annex', 'tmp');
  if (!existsSync(tmp)) return [];
  return (await readdir(tmp)).filter((n) => n.includes(key));
}

/** `git annex get` that must fail with `message`, leaving neither the file's content nor a partial download. */
export async function expectRefused(repo: AnnexRepo, rel: string, message: string | RegExp, key?: string): Promise<string> {
  const r = await repo.annex('get', rel);
  const out = r.stdout + r.stderr;
  expect(r.code, out).not.toBe(0);
  if (typeof message === 'string') expect(out).toContain(message);
  else expect(out).toMatch(message);
  expect(existsSync(join(repo.path, rel)), `${rel} has content after a refused get`).toBe(false);
  if (key) expect(await leftovers(repo, key)).toEqual([]);
  return out;
}

/** A web server on 127.0.0.1 that serves a directory and counts the GET requests of each path. */
export interface CountingServer {
  url: string;
  gets(path: string): number;
  stop(): Promise<void>;
}

export async function countingServer(root: string): Promise<CountingServer> {
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (req.method === 'GET') counts.set(path, (counts.get(path) ?? 0) + 1);
    const file = join(root, path);
    stat(file).then(
      (st) => {
        res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
        if (req.method === 'HEAD') res.end();
        else createReadStream(file).pipe(res);
      },
      () => {
        res.writeHead(404).end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    gets: (p) => counts.get(p) ?? 0,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The environment DataLad runs in by itself: annexd's bin/ taken off PATH, so DataLad's own remotes serve. */
export function withoutAnnexdBin(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '' && d !== BIN_DIR);
  return { ...env, PATH: path.join(delimiter) };
}

/** A sandbox for tests with Debian's DataLad, and the environment DataLad runs in by itself. */
export async function dataladSandbox(): Promise<{ sandbox: Sandbox; dataladEnv: NodeJS.ProcessEnv }> {
  requireTool('datalad', 'apt-get install -y datalad');
  requireTool('7z', 'apt-get install -y p7zip-full');
  const sandbox = await createSandbox();
  return { sandbox, dataladEnv: withoutAnnexdBin(sandbox.env) };
}

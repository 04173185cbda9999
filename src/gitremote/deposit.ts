/**
 * The deposit (XDLRA--refs + XDLRA--repo-export) and the local mirror: a bare
 * repository that is exactly what the deposit holds, served to git by
 * upload-pack and pushed into by `git push`.
 *
 * Upload order: the repository archive first, the refs file last. The refs
 * file is the commit point: a cut upload leaves the previous refs file, whose
 * commits the previous (or the new, which contains them) archive holds. A
 * reader takes the refs file as the truth and sets the mirror's refs from it,
 * so it never serves refs the archive was not written for.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GitRemoteError } from './errors.js';
import { lastLine, ok, run } from './git.js';
import { formatRefs, parseRefs, repoRefs, type RefsFile } from './refs.js';
import { REFS_KEY, REPO_KEY, type Storage } from './storage.js';
import { extractRepoArchive, writeRepoArchive } from './zip.js';

export interface DepositState {
  /** The refs file as stored, or undefined when nothing is deposited. */
  text: string | undefined;
  refs: RefsFile | undefined;
}

const MIB = 1024 * 1024;

export class Deposit {
  readonly mirror: string;

  constructor(
    private readonly storage: Storage,
    private readonly workdir: string,
    private readonly display: string,
    private readonly progress: (m: string) => void,
  ) {
    this.mirror = join(workdir, 'mirror');
  }

  async state(): Promise<DepositState> {
    const b = await this.storage.read(REFS_KEY);
    if (!b) return { text: undefined, refs: undefined };
    const text = b.toString('utf8');
    return { text, refs: parseRefs(text, this.display) };
  }

  private git(args: string[], what: string, dir = this.mirror): Promise<string> {
    return ok(dir, what, 'git', ['--git-dir', dir, ...args]);
  }

  /** A fresh empty mirror whose HEAD names `head` (the pushing repository's branch). */
  private async emptyMirror(head: string | undefined): Promise<void> {
    await rm(this.mirror, { recursive: true, force: true });
    await ok(this.workdir, 'git init', 'git', ['init', '-q', '--bare', this.mirror]);
    if (head) await this.git(['symbolic-ref', 'HEAD', head], 'setting HEAD');
  }

  /**
   * Makes the mirror what the deposit holds and returns the deposit's state.
   * `head`: HEAD for a mirror made for an empty deposit.
   */
  async refreshMirror(head: string | undefined): Promise<DepositState> {
    const st = await this.state();
    if (!st.refs) {
      if (!existsSync(this.mirror) || (await repoRefs(this.mirror)).refs.length > 0) await this.emptyMirror(head);
      else if (head) await this.git(['symbolic-ref', 'HEAD', head], 'setting HEAD');
      return st;
    }
    if (existsSync(join(this.mirror, 'HEAD')) && formatRefs(await repoRefs(this.mirror)) === st.text) return st;
    const archive = await this.storage.read(REPO_KEY);
    if (!archive) throw new GitRemoteError(`the deposit at ${this.display} is incomplete: it has a refs file but no repository archive (XDLRA--repo-export)`);
    this.progress(`downloaded the repository archive (${(archive.length / MIB).toFixed(1)} MiB)`);
    const tag = randomBytes(4).toString('hex');
    const zipFile = join(this.workdir, `repo-${tag}.zip`);
    const fresh = join(this.workdir, `mirror-new-${tag}`);
    try {
      await writeFile(zipFile, archive);
      await mkdir(fresh);
      try {
        await extractRepoArchive(zipFile, fresh);
      } catch (err) {
        throw new GitRemoteError(`the deposit at ${this.display} is unusable: ${(err as Error).message}`);
      }
      await this.sanitize(fresh, st.refs);
      const old = join(this.workdir, `mirror-old-${tag}`);
      if (existsSync(this.mirror)) await rename(this.mirror, old);
      await rename(fresh, this.mirror);
      await rm(old, { recursive: true, force: true });
    } finally {
      await rm(zipFile, { force: true });
      await rm(fresh, { recursive: true, force: true });
    }
    return st;
  }

  /**
   * Turns an extracted archive into a mirror annexd trusts: its own config
   * (a deposited one could set hooks, fsmonitor or an editor to run), no
   * alternates (they would read objects from elsewhere on this machine), and
   * exactly the refs of the refs file, each of which must exist in it.
   */
  private async sanitize(dir: string, refs: RefsFile): Promise<void> {
    const format = await run(dir, 'git', ['config', '--file', join(dir, 'config'), '--get', 'extensions.objectformat']);
    const sha256 = format.code === 0 && format.stdout.trim() === 'sha256';
    await writeFile(
      join(dir, 'config'),
      `[core]\n\trepositoryformatversion = ${sha256 ? 1 : 0}\n\tbare = true\n${sha256 ? '[extensions]\n\tobjectformat = sha256\n' : ''}`,
    );
    await rm(join(dir, 'objects', 'info', 'alternates'), { force: true });
    await rm(join(dir, 'objects', 'info', 'http-alternates'), { force: true });
    await rm(join(dir, 'refs'), { recursive: true, force: true });
    await rm(join(dir, 'packed-refs'), { force: true });
    await mkdir(join(dir, 'refs', 'heads'), { recursive: true });
    await mkdir(join(dir, 'refs', 'tags'), { recursive: true });
    await mkdir(join(dir, 'objects'), { recursive: true });
    await writeFile(join(dir, 'HEAD'), `ref: ${refs.head ?? 'refs/heads/main'}\n`);
    const missing = await run(dir, 'git', ['--git-dir', dir, 'cat-file', '--batch-check=%(objectname) %(objecttype)'], {
      input: refs.refs.map((r) => r.sha).join('\n') + '\n',
    });
    const absent = missing.stdout.split('\n').find((l) => l.endsWith(' missing'));
    if (missing.code !== 0 || absent) {
      throw new GitRemoteError(
        `the deposit at ${this.display} is inconsistent: its refs file names ${absent ? absent.split(' ')[0] : 'objects'} that its repository archive lacks (a push may be in progress: try again)`,
      );
    }
    const r = await run(dir, 'git', ['--git-dir', dir, 'update-ref', '--stdin'], { input: refs.refs.map((x) => `create ${x.name} ${x.sha}\n`).join('') });
    if (r.code !== 0) throw new GitRemoteError(`the deposit at ${this.display} is unusable: ${lastLine(r)}`);
  }

  /** Packs the mirror and replaces the deposit with it: the archive first, the refs file last. */
  async upload(compress = true): Promise<void> {
    await this.git(['gc', '--quiet'], 'packing the mirror');
    const tag = randomBytes(4).toString('hex');
    const zipFile = join(this.workdir, `upload-${tag}.zip`);
    const refsFile = join(this.workdir, `upload-${tag}.refs`);
    try {
      await writeRepoArchive(this.mirror, zipFile, compress);
      this.progress(`uploading the repository archive (${((await stat(zipFile)).size / MIB).toFixed(1)} MiB)`);
      await this.storage.write(REPO_KEY, zipFile);
      await writeFile(refsFile, formatRefs(await repoRefs(this.mirror)));
      await this.storage.write(REFS_KEY, refsFile);
    } finally {
      await rm(zipFile, { force: true });
      await rm(refsFile, { force: true });
    }
  }

  /** Forgets the mirror (after a failed upload it no longer matches the deposit). */
  async discardMirror(): Promise<void> {
    await rm(this.mirror, { recursive: true, force: true });
  }
}

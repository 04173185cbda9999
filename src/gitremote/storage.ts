/**
 * The storage behind a deposit, reached as datalad-next reaches it: a private
 * throwaway bare git-annex repository (annex.private=true, so nothing of it
 * enters any git-annex branch) with one special remote "origin" made by
 * `git annex initremote origin <the URL's parameters>`. Every remote type
 * git-annex can drive works: annexd's (annexd-s3, annexd-webdav, annexd-osf,
 * osf) and git-annex's own (S3, webdav, directory, …).
 *
 * Annex mode: the deposit's files are keys (XDLRA--refs, XDLRA--repo-export,
 * and annexd's lease key). A write is setkey + `transferkey --to origin`,
 * which replaces the object in place (never drop-then-copy, which would leave
 * a window with no deposit). Export-mode deposits (exporttree=yes: the files
 * .datalad/dotgit/refs and repo.zip) and type=web (plain HTTP) are read only.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, lastLine, ok, run } from './git.js';
import { GitRemoteError } from './errors.js';
import { param, type RemoteSpec } from './url.js';

export const REFS_KEY = 'XDLRA--refs';
export const REPO_KEY = 'XDLRA--repo-export';
/**
 * The lease of a push in progress. A WORM key (no content verification), so
 * that git-annex never asks an XDLRA backend (datalad-next's knows only its
 * two keys) about it.
 */
export const LEASE_KEY = 'WORM--annexd-deposit-lease';

/** Where each key lives in export mode (datalad-next's layout), and its hashdirmixed prefix in annex mode. */
const LOCATIONS: Record<string, { prefix: string; path: string }> = {
  [REFS_KEY]: { prefix: '3f7/4a3', path: '.datalad/dotgit/refs' },
  [REPO_KEY]: { prefix: 'eb3/ca0', path: '.datalad/dotgit/repo.zip' },
};

export type Mode = 'annex' | 'export' | 'web';

export class Storage {
  private constructor(
    readonly dir: string,
    readonly mode: Mode,
    private readonly env: NodeJS.ProcessEnv,
    private readonly webUrl: string | undefined,
  ) {}

  get readOnly(): boolean {
    return this.mode === 'web';
  }

  /** Sets up the throwaway repository in `workdir` (removed by close()). */
  static async open(workdir: string, spec: RemoteSpec, env: NodeJS.ProcessEnv = {}): Promise<Storage> {
    const dir = join(workdir, `repoannex-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    const e = cleanEnv(env);
    const type = param(spec.params, 'type');
    const mode: Mode = type === 'web' ? 'web' : param(spec.params, 'exporttree') === 'yes' ? 'export' : 'annex';
    const s = new Storage(dir, mode, e, mode === 'web' ? param(spec.params, 'url') : undefined);
    try {
      await ok(dir, 'git init', 'git', ['init', '-q', '--bare', dir], { env: e });
      await ok(dir, 'git config', 'git', ['config', 'annex.private', 'true'], { env: e });
      // Our own storage servers are on loopback in tests and for dev-server users.
      await ok(dir, 'git config', 'git', ['config', 'annex.security.allowed-ip-addresses', 'all'], { env: e });
      await ok(dir, 'git annex init', 'git', ['annex', 'init', '-q', 'annexd git remote helper (throwaway)'], { env: e });
      if (mode === 'web') {
        if (!s.webUrl || spec.params.some((p) => !/^(type|exporttree|url)=/.test(p))) {
          throw new GitRemoteError(`${spec.display}: a type=web deposit takes only url= (and exporttree=yes)`);
        }
        for (const key of [REFS_KEY, REPO_KEY]) {
          const loc = LOCATIONS[key]!;
          const base = s.webUrl.replace(/\/+$/, '');
          const url = param(spec.params, 'exporttree') === 'yes' ? `${base}/${loc.path}` : `${base}/${loc.prefix}/${key}/${key}`;
          await ok(dir, 'git annex registerurl', 'git', ['annex', 'registerurl', key, url], { env: e });
        }
      } else {
        const r = await run(dir, 'git', ['annex', 'initremote', 'origin', ...spec.params], { env: e });
        if (r.code !== 0) throw new GitRemoteError(`cannot reach the storage of ${spec.display}: git annex initremote refused: ${lastLine(r)}`);
      }
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return s;
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private annex(args: string[]) {
    return run(this.dir, 'git', ['annex', ...args], { env: this.env });
  }

  private async remoteUuid(): Promise<string> {
    return (await ok(this.dir, 'git config', 'git', ['config', 'remote.origin.annex-uuid'], { env: this.env })).trim();
  }

  /** A tree with the export-mode paths of `keys`, as annex symlinks. */
  private async tree(keys: string[]): Promise<string> {
    const index = join(this.dir, `tmp-index-${randomBytes(4).toString('hex')}`);
    const env = { ...this.env, GIT_INDEX_FILE: index };
    try {
      for (const key of keys) {
        const loc = LOCATIONS[key]!;
        const blob = (
          await ok(this.dir, 'git hash-object', 'git', ['hash-object', '-w', '--stdin'], {
            env,
            input: `../../.git/annex/objects/${loc.prefix}/${key}/${key}`,
          })
        ).trim();
        await ok(this.dir, 'git update-index', 'git', ['update-index', '--add', '--cacheinfo', `120000,${blob},${loc.path}`], { env });
      }
      return (await ok(this.dir, 'git write-tree', 'git', ['write-tree'], { env })).trim();
    } finally {
      await rm(index, { force: true });
    }
  }

  /**
   * Tells git-annex that `tree` is what the export remote holds (datalad-next
   * fakes export.log the same way). With annex.private the log lives in the
   * private journal; the export database is rebuilt from it.
   */
  private async setExported(tree: string): Promise<void> {
    const here = (await ok(this.dir, 'git config', 'git', ['config', 'annex.uuid'], { env: this.env })).trim();
    const origin = await this.remoteUuid();
    await rm(join(this.dir, 'annex', 'export'), { recursive: true, force: true });
    await mkdir(join(this.dir, 'annex', 'journal-private'), { recursive: true });
    await writeFile(join(this.dir, 'annex', 'journal-private', 'export.log'), `${(Date.now() / 1000).toFixed(6)}s ${here}:${origin} ${tree}\n`);
  }

  /**
   * The content of `key` on the storage, or undefined when the storage answers
   * that it has none; an unreachable storage throws.
   */
  async read(key: string): Promise<Buffer | undefined> {
    if (this.mode !== 'annex' && key === LEASE_KEY) return undefined;
    if (this.mode === 'export') await this.setExported(await this.tree([key]));
    await this.annex(['dropkey', '--force', key]);
    const from = this.mode === 'web' ? 'web' : 'origin';
    const present = async (): Promise<boolean> => {
      const r = await this.annex(['checkpresentkey', key, from]);
      if (r.code === 0 || r.code === 1) return r.code === 0;
      throw new GitRemoteError(`cannot read ${key} from the storage: ${lastLine(r)}`);
    };
    // The lease is mostly absent: one presence check costs one remote start, a failed download two.
    if (key === LEASE_KEY && !(await present())) return undefined;
    // The lease is a WORM key, which git-annex will not fetch from a special
    // remote unverified unless told; it is parsed as JSON and nothing more.
    const unverified = key === LEASE_KEY ? ['-c', 'annex.security.allow-unverified-downloads=ACKTHPPT'] : [];
    const got = await run(this.dir, 'git', [...unverified, 'annex', 'transferkey', key, `--from=${from}`], { env: this.env });
    if (got.code !== 0) {
      if (!(await present())) return undefined;
      const why = lastLine(got);
      // git-annex asked git-annex-backend-XDLRA, which found no refs file or ZIP.
      if (/Verification of content failed/.test(why)) throw new GitRemoteError(`${key} on the storage is corrupt or truncated (not a refs file or ZIP archive)`);
      throw new GitRemoteError(`cannot read ${key} from the storage: ${why}`);
    }
    const loc = (await ok(this.dir, 'git annex contentlocation', 'git', ['annex', 'contentlocation', key], { env: this.env })).trim();
    return readFile(join(this.dir, loc));
  }

  /** Replaces (or creates) `key` on the storage with the content of `file`. */
  async write(key: string, file: string): Promise<void> {
    this.refuseWrite();
    await this.annex(['dropkey', '--force', key]);
    await ok(this.dir, `storing ${key}`, 'git', ['annex', 'setkey', key, file], { env: this.env });
    await ok(this.dir, `uploading ${key}`, 'git', ['annex', 'transferkey', key, '--to=origin'], { env: this.env });
  }

  /** Removes `key` from the storage (absent is fine). */
  async remove(key: string): Promise<void> {
    this.refuseWrite();
    await ok(this.dir, 'git annex setpresentkey', 'git', ['annex', 'setpresentkey', key, await this.remoteUuid(), '1'], { env: this.env });
    await ok(this.dir, `removing ${key}`, 'git', ['annex', 'drop', '--force', '--from=origin', '--key', key], { env: this.env });
  }

  /**
   * Export mode is read here, not written: git-annex replaces an exported
   * file only by unexporting it first, and unexporting the last file of a
   * folder removes the folder (WebDAV: with everything in it), so a push
   * could leave no deposit at all. datalad-next takes that risk; annexd does not.
   */
  refuseWrite(): void {
    if (this.mode === 'web') throw new GitRemoteError('this deposit is read-only (type=web, plain HTTP): push to a URL with the storage remote\'s own type');
    if (this.mode === 'export') {
      throw new GitRemoteError('annexd does not push to export-mode deposits (exporttree=yes) yet: replacing them is not atomic; push to the same storage without exporttree=yes');
    }
  }
}

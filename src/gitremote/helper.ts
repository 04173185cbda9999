/**
 * The git remote helper protocol (gitremote-helpers(7)) for a deposit.
 *
 * Fetch and clone: `connect git-upload-pack`, served by git's own
 * upload-pack on the mirror, refreshed from the deposit just before.
 * Push: `connect git-receive-pack` answers "fallback", so git uses the `push`
 * capability: `list for-push` reports the deposit's refs, git itself refuses
 * non-fast-forward updates ("fetch first", "non-fast-forward") unless forced,
 * and for the rest the helper takes the deposit's lease, checks that the
 * deposit still holds what it listed, pushes into the mirror, uploads, and
 * reports each ref as git's own remotes do: a push that lost a race, or whose
 * upload failed, is an "error" line, so git exits non-zero and keeps its
 * remote-tracking refs (the user's commits are never touched).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { credentialEnv } from './credentials.js';
import { Deposit } from './deposit.js';
import { GitRemoteError } from './errors.js';
import { cleanEnv, lastLine, run } from './git.js';
import { acquireLease } from './lease.js';
import { Storage } from './storage.js';
import type { RemoteSpec } from './url.js';

/** Reads one line from fd 0 a byte at a time: nothing is read ahead, so fd 0 can be handed to upload-pack. */
function readLine(): string | undefined {
  const buf = Buffer.alloc(1);
  const bytes: number[] = [];
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, 1, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((err as NodeJS.ErrnoException).code === 'EOF') n = 0;
      else throw err;
    }
    if (n === 0) return bytes.length ? Buffer.from(bytes).toString('utf8') : undefined;
    if (buf[0] === 0x0a) return Buffer.from(bytes).toString('utf8');
    bytes.push(buf[0]!);
  }
}

/** What a killed helper left (a throwaway repository, a half-made mirror), once a day old: never another live run's. */
async function sweepLeftovers(workdir: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of await readdir(workdir).catch(() => [] as string[])) {
    if (!/^(repoannex|mirror-new|mirror-old|repo|upload)-[0-9a-f]{8}/.test(name)) continue;
    const st = await stat(join(workdir, name)).catch(() => undefined);
    if (st && st.mtimeMs < dayAgo) await rm(join(workdir, name), { recursive: true, force: true });
  }
}

function send(s: string): void {
  writeSync(1, s);
}

export interface HelperOptions {
  /** Program name for messages, e.g. git-remote-osf. */
  program: string;
  remoteName: string;
  spec: RemoteSpec;
  gitDir: string;
}

interface PushResult {
  dst: string;
  ok: boolean;
  why?: string;
  changed: boolean;
}

export class RemoteHelper {
  private verbosity = 1;
  private progressOn = false;
  private dryRun = false;
  private storage: Storage | undefined;
  private deposit: Deposit | undefined;
  private listed: string | undefined | null = null;
  private readonly workdir: string;

  constructor(private readonly o: HelperOptions) {
    // A remote's name, or for a bare URL a digest of it: the name is a path component.
    const safe = /^[A-Za-z0-9._-]{1,64}$/.test(o.remoteName) && !o.remoteName.startsWith('.') ? o.remoteName : createHash('sha256').update(o.remoteName).digest('hex').slice(0, 16);
    this.workdir = join(o.gitDir, 'annexd-gitremote', safe);
  }

  say(m: string): void {
    if (this.verbosity >= 1) process.stderr.write(`${this.o.program}: ${m}\n`);
  }

  private progress(m: string): void {
    if (this.progressOn || this.verbosity >= 2) this.say(m);
  }

  private async open(): Promise<Deposit> {
    if (this.deposit) return this.deposit;
    await mkdir(this.workdir, { recursive: true });
    await sweepLeftovers(this.workdir);
    this.progress(`connecting to ${this.o.spec.display}`);
    this.storage = await Storage.open(this.workdir, this.o.spec, await credentialEnv(this.o.spec, this.o.gitDir));
    this.deposit = new Deposit(this.storage, this.workdir, this.o.spec.display, (m) => this.progress(m));
    return this.deposit;
  }

  private async localHead(): Promise<string | undefined> {
    const r = await run(this.o.gitDir, 'git', ['symbolic-ref', '-q', 'HEAD'], { env: { ...process.env, GIT_DIR: this.o.gitDir } });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  /** git config annexd.gitremote.leaseWindow (seconds), for slow storage. */
  private async leaseWindow(): Promise<number | undefined> {
    const r = await run(this.o.gitDir, 'git', ['config', '--get', 'annexd.gitremote.leaseWindow'], { env: { ...process.env, GIT_DIR: this.o.gitDir } });
    if (r.code !== 0) return undefined;
    const s = Number(r.stdout.trim());
    if (!Number.isFinite(s) || s < 1 || s > 600) throw new GitRemoteError(`git config annexd.gitremote.leaseWindow is "${r.stdout.trim()}": give seconds, 1 to 600`);
    return s * 1000;
  }

  async close(): Promise<void> {
    await this.storage?.close();
  }

  /** Serves git until it closes the conversation. Returns the exit code. */
  async serve(): Promise<number> {
    for (;;) {
      const line = readLine();
      if (line === undefined || line === '') return 0;
      if (line === 'capabilities') send('option\nconnect\npush\n\n');
      else if (line.startsWith('option ')) send(this.option(line.slice(7)) + '\n');
      else if (line === 'connect git-upload-pack') return this.uploadPack();
      else if (line.startsWith('connect ')) send('fallback\n');
      else if (line === 'list' || line === 'list for-push') await this.list(line === 'list for-push');
      else if (line.startsWith('push ')) await this.push(line);
      else throw new GitRemoteError(`unexpected request from git: "${line.slice(0, 60)}"`);
    }
  }

  private option(o: string): string {
    const [name, value] = o.split(' ', 2);
    if (name === 'verbosity') this.verbosity = Number(value);
    else if (name === 'progress') this.progressOn = value === 'true';
    else if (name === 'dry-run') this.dryRun = value === 'true';
    else return 'unsupported';
    return 'ok';
  }

  private async uploadPack(): Promise<number> {
    const deposit = await this.open();
    const st = await deposit.refreshMirror(undefined);
    if (!st.refs) this.say(`no dataset deposited at ${this.o.spec.display} yet`);
    send('\n');
    return new Promise((resolve) => {
      const child = spawn('git', ['upload-pack', deposit.mirror], { stdio: 'inherit', env: cleanEnv() });
      child.on('error', () => resolve(1));
      child.on('close', (code) => resolve(code ?? 1));
    });
  }

  private async list(forPush: boolean): Promise<void> {
    const deposit = await this.open();
    const st = await deposit.refreshMirror(forPush ? await this.localHead() : undefined);
    this.listed = st.text;
    if (!st.refs && !forPush) this.say(`no dataset deposited at ${this.o.spec.display} yet`);
    let out = '';
    for (const r of st.refs?.refs ?? []) out += `${r.sha} ${r.name}\n`;
    if (st.refs?.head) out += `@${st.refs.head} HEAD\n`;
    send(out + '\n');
  }

  private async push(first: string): Promise<void> {
    const specs = [first.slice(5)];
    for (let l = readLine(); l; l = readLine()) {
      if (!l.startsWith('push ')) throw new GitRemoteError(`unexpected request in a push batch: "${l.slice(0, 60)}"`);
      specs.push(l.slice(5));
    }
    const results = await this.pushSpecs(specs);
    send(results.map((r) => (r.ok ? `ok ${r.dst}\n` : `error ${r.dst} ${r.why ?? 'failed'}\n`)).join('') + '\n');
  }

  private async pushSpecs(specs: string[]): Promise<PushResult[]> {
    const dsts = specs.map((s) => s.slice(s.indexOf(':') + 1));
    const deposit = await this.open();
    if (this.listed === null) await this.list(true);
    if (this.dryRun) return this.pushToMirror(specs, dsts, deposit, true);
    this.storage!.refuseWrite();
    const lease = await acquireLease(this.storage!, this.workdir, (m) => this.say(m), await this.leaseWindow());
    try {
      const now = await deposit.state();
      if (now.text !== this.listed) {
        this.say(`${this.o.spec.display} changed while this push was being prepared`);
        return dsts.map((dst) => ({ dst, ok: false, why: 'fetch first', changed: false }));
      }
      const results = await this.pushToMirror(specs, dsts, deposit, false);
      if (!results.some((r) => r.changed)) return results;
      try {
        await deposit.upload(!this.o.spec.uncompressed);
      } catch (err) {
        await deposit.discardMirror();
        await this.markFailed(specs.filter((_, i) => results[i]!.changed));
        const why = `upload to ${this.o.spec.display} failed: ${(err as Error).message}`.replace(/\s+/g, ' ');
        this.say(why);
        return results.map((r) => (r.changed ? { ...r, ok: false, why } : r));
      }
      await this.clearFailed();
      return results;
    } finally {
      await lease.release();
    }
  }

  /** `git push` from the user's repository into the mirror; one result per destination ref. */
  private async pushToMirror(specs: string[], dsts: string[], deposit: Deposit, dryRun: boolean): Promise<PushResult[]> {
    const args = ['push', '--porcelain', '--no-verify', ...(dryRun ? ['--dry-run'] : []), deposit.mirror, ...specs];
    const r = await run(this.o.gitDir, 'git', args, { env: { ...process.env, GIT_DIR: this.o.gitDir, GIT_TERMINAL_PROMPT: '0' } });
    const byDst = new Map<string, PushResult>();
    for (const line of r.stdout.split('\n')) {
      const m = /^(.)\t([^\t]*):([^\t]*)\t(.*)$/.exec(line);
      if (!m) continue;
      const [, flag, , dst, summary] = m as unknown as [string, string, string, string, string];
      const reason = /\(([^)]*)\)\s*$/.exec(summary)?.[1];
      if (flag === '!') byDst.set(dst, { dst, ok: false, why: reason ?? summary, changed: false });
      else byDst.set(dst, { dst, ok: true, changed: flag !== '=' && !dryRun });
    }
    return dsts.map((dst) => byDst.get(dst) ?? { dst, ok: false, why: lastLine(r), changed: false });
  }

  /** datalad-next's marker of a failed upload: refs/dlra-upload-failed/<remote>/<branch>. */
  private async markFailed(specs: string[]): Promise<void> {
    const env = { ...process.env, GIT_DIR: this.o.gitDir };
    for (const spec of specs) {
      const [src, dst] = spec.replace(/^\+/, '').split(':') as [string, string];
      if (!src) continue;
      const sha = await run(this.o.gitDir, 'git', ['rev-parse', '-q', '--verify', src], { env });
      if (sha.code !== 0) continue;
      await run(this.o.gitDir, 'git', ['update-ref', `refs/dlra-upload-failed/${this.o.remoteName}/${dst.replace(/^refs\/heads\//, '')}`, sha.stdout.trim()], { env });
    }
  }

  private async clearFailed(): Promise<void> {
    const env = { ...process.env, GIT_DIR: this.o.gitDir };
    const refs = await run(this.o.gitDir, 'git', ['for-each-ref', '--format=%(refname)', `refs/dlra-upload-failed/${this.o.remoteName}/`], { env });
    const del = refs.stdout.split('\n').filter((l) => l).map((l) => `delete ${l}\n`).join('');
    if (del) await run(this.o.gitDir, 'git', ['update-ref', '--stdin'], { env, input: del });
  }
}

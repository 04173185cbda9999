/**
 * `annexd demo`: the whole S3 path, then publishing to OSF, on embedded
 * defaults, no account needed. Creates a scratch git-annex repository, starts
 * an S3-compatible server on 127.0.0.1, sets up an annexd-s3 remote, and
 * copies, drops, gets back and verifies data; then starts the OSF-compatible
 * server and publishes the dataset there (create-sibling-osf, annexd push),
 * clones it from its osf:// URL and gets the content back; showing
 * git-annex's output and the transfers' progress.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../util/exec.js';
import { formatSize } from '../remotes/core/sizes.js';
import { startOsfServer, type OsfServer } from './osf-server.js';
import { ProgressView } from './progress-view.js';
import { startEmbeddedS3 } from './s3-server.js';

export interface DemoOptions {
  keep: boolean;
  bigFileMiB: number;
  smallFiles: number;
  out: (line: string) => void;
}

const BIN_DIR = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'bin');

/** Exit code of a run stopped by Ctrl-C, as shells report a SIGINT. */
const INTERRUPTED = 130;

export async function runDemo(options: DemoOptions): Promise<number> {
  const say = options.out;
  // Ctrl-C reaches git-annex and the remote too (one process group): the remote aborts its
  // multipart uploads, which needs this process's server alive. So the first Ctrl-C waits for
  // them to stop, then cleans up; a second one quits at once.
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(INTERRUPTED);
    interrupted = true;
    say('\ninterrupted: letting git-annex stop, then removing the scratch directory (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stopIfInterrupted = (): void => {
    if (interrupted) throw new DemoInterrupted();
  };
  const work = await mkdtemp(join(tmpdir(), 'annexd-demo-'));
  const repo = join(work, 'dataset');
  const home = join(work, 'home');
  await mkdir(home, { recursive: true });
  const server = await startEmbeddedS3({ directory: join(work, 's3-data') });
  let osf: OsfServer | undefined;
  let daemon: ChildProcess | undefined;
  // An isolated HOME keeps the user's git config untouched; bin/ makes our remote findable.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    // The remotes' shared state (OSF's request budget) goes with the scratch directory.
    ANNEXD_RUNTIME_DIR: join(work, 'run'),
    PATH: `${BIN_DIR}${delimiter}${process.env.PATH ?? ''}`,
    GIT_AUTHOR_NAME: 'annexd demo',
    GIT_AUTHOR_EMAIL: 'demo@annexd.invalid',
    GIT_COMMITTER_NAME: 'annexd demo',
    GIT_COMMITTER_EMAIL: 'demo@annexd.invalid',
  };
  const timings: Array<[string, number]> = [];
  const step = async (title: string, cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}, cwd = repo): Promise<void> => {
    stopIfInterrupted();
    say(`\n==> ${title}\n$ ${[cmd, ...args].join(' ')}`);
    const t0 = process.hrtime.bigint();
    const r = await exec(cmd, args, { cwd, env: { ...env, ...extraEnv }, stdio: 'inherit' });
    timings.push([title, Number(process.hrtime.bigint() - t0) / 1e9]);
    stopIfInterrupted();
    if (r.code !== 0) throw new Error(`"${[cmd, ...args].join(' ')}" failed with exit code ${r.code}`);
  };

  /** A copy or get, shown through git-annex's JSON progress so it reads the same on a terminal or in a log. */
  const transfer = async (title: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}, cwd = repo): Promise<void> => {
    stopIfInterrupted();
    say(`\n==> ${title}\n$ git annex ${args.join(' ')}`);
    const view = new ProgressView(say);
    const t0 = process.hrtime.bigint();
    const r = await exec('git', ['annex', ...args, '--json', '--json-progress'], { cwd, env: { ...env, ...extraEnv }, onStdout: (d) => view.feed(d) });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    timings.push([title, seconds]);
    stopIfInterrupted();
    say(`  ${view.ok} file(s) in ${seconds.toFixed(2)} s${view.failed ? `, ${view.failed} FAILED` : ''}`);
    if (r.code !== 0 || view.failed) throw new Error(`"git annex ${args.join(' ')}" failed (exit code ${r.code})`);
  };

  try {
    say(`annexd demo: scratch directory ${work}`);
    say(`embedded S3-compatible server (s3rver) at ${server.endpoint}`);
    await mkdir(join(repo, 'data', 'small'), { recursive: true });
    const quiet = { stdio: 'pipe' as const, env };
    const git = async (...args: string[]): Promise<void> => {
      const r = await exec('git', args, { ...quiet, cwd: repo });
      if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr.trim()}`);
    };
    await exec('git', ['init', '-q', repo], quiet).then((r) => {
      if (r.code !== 0) throw new Error(`git init failed: ${r.stderr.trim()}`);
    });
    await step('Initialise git-annex', 'git', ['annex', 'init', 'annexd demo']);
    // git-annex refuses loopback addresses unless told otherwise.
    await git('config', 'annex.security.allowed-ip-addresses', '127.0.0.1');

    const big = options.bigFileMiB * 1024 * 1024;
    await writeFile(join(repo, 'data', 'scan.bin'), randomBytes(big));
    for (let i = 0; i < options.smallFiles; i++) {
      await writeFile(join(repo, 'data', 'small', `sample-${String(i).padStart(3, '0')}.csv`), `id,value\n${i},${randomBytes(8).toString('hex')}\n`);
    }
    say(`\ncreated data/scan.bin (${formatSize(big)}) and ${options.smallFiles} small files`);
    await step('Add the files to the annex', 'git', ['annex', 'add', '--quiet', 'data']);
    await git('commit', '-q', '-m', 'demo data');

    await step(
      'Create an annexd-s3 special remote on the embedded server',
      'git',
      ['annex', 'initremote', 'demo-s3', 'type=external', 'externaltype=annexd-s3', 'encryption=none', 'bucket=demo', `endpoint=${server.endpoint}`],
      // Only initremote sees the key pair; git-annex remembers it locally (.git/annex/creds, mode 600).
      { AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey },
    );
    await transfer('Copy everything to S3 (4 jobs, one remote process)', ['copy', '-J4', '--to', 'demo-s3', 'data']);
    await step('Drop the local copies (git-annex first checks S3 has them)', 'git', ['annex', 'drop', 'data']);
    await step('Where is the content now?', 'git', ['annex', 'whereis', 'data/scan.bin']);
    await transfer('Get everything back from S3', ['get', '-J4', 'data']);
    await step('Verify every object on the remote', 'git', ['annex', 'fsck', '--fast', '--from', 'demo-s3', '--quiet', 'data']);
    await step('What the remote reports about itself', 'git', ['annex', 'info', 'demo-s3']);

    // Publishing to OSF, as a user publishes a dataset to osf.io: create-sibling-osf makes the
    // project and two siblings (storage for content, osf:// for the git history, depending on
    // the storage), annexd push publishes both in that order, and a colleague clones the
    // dataset from its osf:// URL and gets the content. The OSF-compatible server serves the
    // OSF API v2 and WaterButler on two ports of 127.0.0.1.
    stopIfInterrupted();
    osf = await startOsfServer({ directory: join(work, 'osf-data') });
    say(`\nembedded OSF-compatible server at ${osf.api}`);
    // The token only ever travels in the environment of the commands that need it.
    const token = { OSF_TOKEN: osf.token };
    await step(
      'Create the OSF project and its siblings (content: osf-storage; history: osf, which depends on it)',
      'annexd',
      ['create-sibling-osf', '--api', osf.api, '--title', 'annexd demo dataset'],
      token,
    );
    await step('The siblings and their publication dependency', 'annexd', ['siblings']);
    await step('Publish: content to osf-storage first (4 jobs), then the git history to osf', 'annexd', ['push', '--to', 'osf', '-J4'], token);
    const url = (await exec('git', ['config', '--get', 'remote.osf.url'], { ...quiet, cwd: repo })).stdout.trim();
    const clone = join(work, 'colleague');
    await step(`A colleague clones the published dataset from ${url.replace(/\?.*/, '')}`, 'git', ['clone', url, clone], token, work);
    await git('-C', clone, 'config', 'annex.security.allowed-ip-addresses', '127.0.0.1');
    await transfer('In the clone: get everything from OSF (the storage sibling enables itself)', ['get', '-J4', 'data'], token, clone);
    await step('In the clone: verify every file on OSF', 'git', ['annex', 'fsck', '--fast', '--from', 'osf-storage', '--quiet', 'data'], token, clone);

    // Keeping it published: the sync daemon pushes every new commit to osf (content first,
    // through the same publish dependency) without anyone running push.
    stopIfInterrupted();
    const daemonEnv = { ...token, ANNEXD_STATE_DIR: join(work, 'state') };
    await step('Keep the dataset published: a sync the daemon runs on every commit', 'annexd', ['sync', 'add', '.', '--to', 'osf', '--on-change'], daemonEnv);
    say('\n==> Start the sync daemon (in the background; its status page and API on 127.0.0.1)\n$ annexd serve --port 0');
    daemon = spawn('annexd', ['serve', '--port', '0'], { cwd: repo, env: { ...env, ...daemonEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout?.setEncoding('utf8').on('data', (d: string) => say(d.trimEnd().replace(/^/gm, '  ')));
    daemon.stderr?.setEncoding('utf8').on('data', (d: string) => say(d.trimEnd().replace(/^/gm, '  ')));
    const daemonStatus = async (): Promise<DemoSyncStatus | undefined> => {
      const r = await exec('annexd', ['status', '--json'], { ...quiet, cwd: repo, env: { ...env, ...daemonEnv } });
      if (r.code !== 0) return undefined;
      return (JSON.parse(r.stdout) as { syncs: DemoSyncStatus[] }).syncs[0];
    };
    /** Waits until the daemon has finished a sync that started after `since`; its result. */
    const syncedAfter = async (since: number): Promise<DemoSyncStatus> => {
      for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
        stopIfInterrupted();
        const st = await daemonStatus();
        if (st && !st.running && st.lastStart && Date.parse(st.lastStart) >= since && st.lastResult && st.lastResult !== 'running') return st;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      throw new Error('the sync daemon did not finish a sync within 2 minutes');
    };
    const t0 = Date.now();
    const first = await syncedAfter(t0 - 1000);
    if (first.lastResult !== 'ok') throw new Error(`the daemon's first sync failed: ${first.lastError ?? first.lastResult}`);
    await writeFile(join(repo, 'data', 'notes.txt'), `recorded at ${new Date().toISOString()}\n`);
    await git('annex', 'add', '--quiet', 'data/notes.txt');
    const committed = Date.now();
    await git('commit', '-q', '-m', 'new notes');
    say('\n==> Commit a new file; the daemon notices and publishes it\n$ git commit -m "new notes"');
    const synced = await syncedAfter(committed);
    timings.push(['The daemon publishes the new commit (from git commit to done)', (Date.now() - committed) / 1000]);
    if (synced.lastResult !== 'ok') throw new Error(`the daemon's sync failed: ${synced.lastError ?? synced.lastResult}`);
    await step('What the daemon reports', 'annexd', ['status'], daemonEnv);
    await step('In the clone: pull the new commit', 'git', ['pull', '-q', '--ff-only'], token, clone);
    await transfer('In the clone: get the new file from OSF', ['get', 'data/notes.txt'], token, clone);
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon?.once('exit', resolve));
    daemon = undefined;

    const stats = osf.stats();
    say(`  the OSF server answered ${stats.requests} requests, at most ${stats.maxPerSecond} in any one second, ${stats.throttled} refused as too many`);

    say('\n==> Summary');
    for (const [title, seconds] of timings) say(`  ${seconds.toFixed(2).padStart(7)} s  ${title}`);
    say(`\nannexd demo finished: ${options.smallFiles + 1} files stored in S3, dropped, retrieved and verified; the dataset published to OSF, cloned from it and its content retrieved and verified; a new commit published by the sync daemon and pulled into the clone.`);
    return 0;
  } catch (err) {
    if (!interrupted) throw err;
    say('annexd demo interrupted');
    return INTERRUPTED;
  } finally {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((resolve) => daemon?.once('exit', resolve));
    }
    // git-annex may exit before the remote it started has aborted its multipart upload: the
    // server stays up until the remote's connections are gone (at most 5 s).
    if (interrupted) await server.idle(5_000);
    await osf?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
    if (options.keep) say(`kept ${work} (--keep)`);
    else await rm(work, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** What the demo reads of `annexd status --json` (one sync). */
interface DemoSyncStatus {
  running: boolean;
  lastStart?: string;
  lastResult?: string;
  lastError?: string;
}

class DemoInterrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

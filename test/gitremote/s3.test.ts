/** The helpers on the embedded S3 server (SigV4 checked), through annexd-s3. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useS3Suite } from '../support/s3.js';
import { descendants } from '../support/kill.js';
import { closedPort, pidExited } from '../support/servers.js';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { commit, expectOneLine, git, gitOk, log, newRepo } from './helpers.js';

let leaseSeen = false;
/** Polls `probe` until `check` holds. */
async function until(what: string, check: () => boolean, timeoutMs: number, probe: () => Promise<void>): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await probe();
    if (check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}
import { cloneFetchPush, twoWriters, type Ctx } from './scenarios.js';

const suite = useS3Suite();
const ctx = (): Ctx => ({ dir: suite.sandbox.dir, env: { ...suite.sandbox.env, ...suite.s3.credsEnv } });
const url = (bucket: string): string =>
  `datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=${suite.s3.bucket(bucket)}&endpoint=${suite.s3.endpoint}`;

describe('git-remote-datalad-annex on S3 (annexd-s3)', () => {
  it('first push, clone, second push, fetch, non-fast-forward refused, --force', async () => {
    const u = url('story');
    await cloneFetchPush(ctx(), u);
    const bucket = /bucket=([^&]+)/.exec(u)![1]!;
    const keys = await suite.s3.list(bucket);
    expect(keys).toContain('XDLRA--refs');
    expect(keys).toContain('XDLRA--repo-export');
    // the lease is released after every push
    expect(keys.filter((k) => k.includes('lease'))).toEqual([]);
  });

  it('two clones pushing at once: one wins, the other is refused, nothing is lost', async () => {
    await twoWriters(ctx(), url('race'));
  });

  it('Ctrl-C during a push: the lease is taken back, the deposit and the commit stay, the next push does not wait', async () => {
    const env = ctx().env;
    const u = url('sigint');
    const bucket = /bucket=([^&]+)/.exec(u)![1]!;
    const a = await newRepo({ ...suite.sandbox, env }, 'sigint-a', 'one');
    await gitOk({ env }, a, 'remote', 'add', 'dep', u);
    expect((await git({ env }, a, 'push', 'dep', 'main')).code).toBe(0);
    const mine = await commit({ ...suite.sandbox, env }, a, 'two');
    // its own process group, as a terminal's Ctrl-C reaches git and everything below it
    const child = spawn('git', ['push', 'dep', 'main'], { cwd: a, env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await until('the lease is on the storage', () => leaseSeen, 60_000, async () => {
      leaseSeen = (await suite.s3.list(bucket)).some((k) => k.includes('lease'));
    });
    const helpers = descendants(child.pid!, 'git-remote-datalad-annex');
    expect(helpers.length).toBeGreaterThan(0);
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).not.toBe(0);
    // git returns at once; the helper takes its lease back, then exits
    for (const pid of helpers) await pidExited(pid, 30_000);
    expect((await suite.s3.list(bucket)).filter((k) => k.includes('lease')), stderr).toEqual([]);
    expect((await gitOk({ env }, a, 'rev-parse', 'HEAD')).trim()).toBe(mine);
    const c = join(suite.sandbox.dir, 'sigint-c');
    expect((await git({ env }, suite.sandbox.dir, 'clone', u, c)).code).toBe(0);
    expect(await log({ ...suite.sandbox, env }, c)).toEqual(['one']);
    const again = await git({ env }, a, 'push', 'dep', 'main');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/waiting for another push/);
  });

  it('unreachable storage: one line, no clone left', async () => {
    const port = await closedPort();
    const dest = join(suite.sandbox.dir, 'unreachable');
    const r = await git(
      { ...suite.sandbox, env: ctx().env },
      suite.sandbox.dir,
      'clone',
      `datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=nope&endpoint=http://127.0.0.1:${port}`,
      dest,
    );
    expectOneLine(r, 'git-remote-datalad-annex', new RegExp(`127\\.0\\.0\\.1:${port}`));
  });
});

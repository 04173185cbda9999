/**
 * A push whose upload fails after the archive and before the refs file: git
 * is told (error lines, non-zero exit, remote-tracking ref kept), datalad-next's
 * marker ref is left, the previous deposit stays whole and readable, and the
 * next push lands and removes the marker. S3 behind the fault proxy, which
 * answers 500 to every upload of XDLRA--refs.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.js';
import { useS3Suite } from '../support/s3.js';
import { commit, git, gitOk, log, newRepo } from './helpers.js';

const suite = useS3Suite();

describe('a cut upload', () => {
  it('leaves the previous deposit readable and says so; the next push lands', async () => {
    const env = { ...suite.sandbox.env, ...suite.s3.credsEnv };
    const bucket = suite.s3.bucket('cut');
    const proxy = await startFaultProxy({
      target: suite.s3.endpoint,
      plan: [{ fault: '500', match: (r) => r.method === 'PUT' && r.path.includes('XDLRA--refs'), times: 1000 }],
    });
    try {
      const url = (endpoint: string): string =>
        `datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=${bucket}&endpoint=${endpoint}&retries=0`;
      const a = await newRepo({ ...suite.sandbox, env }, 'cut-a', 'v1');
      await gitOk({ env }, a, 'remote', 'add', 'dep', url(suite.s3.endpoint));
      expect((await git({ env }, a, 'push', 'dep', 'main')).code).toBe(0);

      const b = join(suite.sandbox.dir, 'cut-b');
      expect((await git({ env }, suite.sandbox.dir, 'clone', url(proxy.url), b)).code).toBe(0);
      const v2 = await commit({ ...suite.sandbox, env }, b, 'v2');
      const cut = await git({ env }, b, 'push');
      expect(cut.code, cut.stderr).not.toBe(0);
      expect(cut.stderr).toMatch(/! \[remote rejected\]\s+main -> main \(upload to datalad-annex::.* failed: .*\)/);
      expect(proxy.injected['500']).toBeGreaterThan(0);
      expect((await gitOk({ env }, b, 'rev-parse', 'refs/dlra-upload-failed/origin/main')).trim()).toBe(v2);
      expect(await log({ ...suite.sandbox, env }, b, 'origin/main')).toEqual(['v1']);

      const c = join(suite.sandbox.dir, 'cut-c');
      const cl = await git({ env }, suite.sandbox.dir, 'clone', url(suite.s3.endpoint), c);
      expect(cl.code, cl.stderr).toBe(0);
      expect(await log({ ...suite.sandbox, env }, c)).toEqual(['v1']);
      expect((await git({ env }, c, 'fsck', '--no-dangling')).code).toBe(0);

      await gitOk({ env }, b, 'remote', 'set-url', 'origin', url(suite.s3.endpoint));
      const again = await git({ env }, b, 'push');
      expect(again.code, again.stderr).toBe(0);
      expect((await git({ env }, b, 'rev-parse', '-q', '--verify', 'refs/dlra-upload-failed/origin/main')).code).not.toBe(0);
      expect((await git({ env }, c, 'pull', '--ff-only')).code).toBe(0);
      expect(await log({ ...suite.sandbox, env }, c)).toEqual(['v2', 'v1']);
    } finally {
      await proxy.stop();
    }
  });

  it('storage too slow for the lease window: one line naming git config annexd.gitremote.leaseWindow; nothing is pushed', async () => {
    const env = { ...suite.sandbox.env, ...suite.s3.credsEnv };
    const bucket = suite.s3.bucket('slow');
    const proxy = await startFaultProxy({ target: suite.s3.endpoint, latencyMs: 250 });
    try {
      const url = `datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=${bucket}&endpoint=${proxy.url}`;
      const a = await newRepo({ ...suite.sandbox, env }, 'slow-a', 's1');
      await gitOk({ env }, a, 'config', 'annexd.gitremote.leaseWindow', '1');
      await gitOk({ env }, a, 'remote', 'add', 'dep', url);
      const r = await git({ env }, a, 'push', 'dep', 'main');
      expect(r.code).not.toBe(0);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('git-remote-datalad-annex:'));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/over the 1 s window: raise it with git config annexd\.gitremote\.leaseWindow/);
      expect(await suite.s3.list(bucket)).toEqual([]);
      expect((await gitOk({ env }, a, 'log', '--format=%s')).trim()).toBe('s1');
    } finally {
      await proxy.stop();
    }
  });
});

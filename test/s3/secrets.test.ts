/**
 * A random sentinel secret, used for real transfers, must appear nowhere a
 * user or another process could see it: output (even git-annex's --debug
 * protocol trace), .git/config, the git-annex branch, process arguments; the
 * remembered credentials file is owner-only.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { useS3Suite } from '../support/s3.js';

const SENTINEL = `sentinel-${randomBytes(12).toString('hex')}`;

const suite = useS3Suite(SENTINEL);

/** Command lines of every annexd remote process running now. */
async function remoteCmdlines(): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('git-annex-remote-annexd')) out.push(cmd);
  }
  return out;
}

describe('secrets', () => {
  it('never shows the S3 secret key', async () => {
    expect(suite.s3.secretAccessKey).toBe(SENTINEL);
    const repo = await AnnexRepo.create(suite.sandbox, 'leaks');
    const outputs: string[] = [];
    const collect = (r: { stdout: string; stderr: string }): void => void outputs.push(r.stdout, r.stderr);

    collect(await repo.okEnv(suite.s3.credsEnv, 'git', 'annex', '--debug', 'initremote', 'leaky', 'type=external',
      'externaltype=annexd-s3', 'encryption=none', `bucket=${suite.s3.bucket('leaky')}`, `endpoint=${suite.s3.endpoint}`));
    await repo.write('a.bin', randomBytes(70_000));
    await repo.write('b.txt', 'b\n');
    await repo.commitAll();

    // Watch process arguments while a transfer runs.
    const seen: string[] = [];
    const watcher = setInterval(() => void remoteCmdlines().then((c) => seen.push(...c)), 20);
    collect(await repo.ok('git', 'annex', '--debug', 'copy', '-J2', '--to', 'leaky', '.'));
    clearInterval(watcher);
    collect(await repo.ok('git', 'annex', '--debug', 'drop', '.'));
    collect(await repo.ok('git', 'annex', '--debug', 'get', '.'));
    collect(await repo.ok('git', 'annex', '--debug', 'info', 'leaky'));
    // A failing request: its error message passes through the same redaction.
    collect(await repo.run('git', ['annex', '--debug', 'get', '--key', 'SHA256E-s1--0000000000000000000000000000000000000000000000000000000000000000', '--from', 'leaky']));

    expect(outputs.join('\n').length).toBeGreaterThan(1000);
    expect(outputs.join('\n')).not.toContain(SENTINEL);
    expect(seen.join('\n')).not.toContain(SENTINEL);
    expect(await readFile(join(repo.path, '.git', 'config'), 'utf8')).not.toContain(SENTINEL);
    const branch = await repo.ok('git', 'log', '-p', 'git-annex');
    expect(branch.stdout).toContain('externaltype=annexd-s3');
    expect(branch.stdout).not.toContain(SENTINEL);
    // Not even base64-encoded (what embedcreds=yes would do).
    expect(branch.stdout).not.toContain(Buffer.from(SENTINEL).toString('base64').slice(0, 20));

    // The pair is remembered outside the protocol, in an owner-only file.
    const credsDir = join(repo.path, '.git', 'annex', 'annexd', 'creds');
    expect((await stat(credsDir)).mode & 0o077).toBe(0);
    const files = await readdir(credsDir);
    expect(files.filter((f) => f.endsWith('-annexd-s3.json'))).toHaveLength(1);
    for (const f of files) expect((await stat(join(credsDir, f))).mode & 0o077).toBe(0);
    // and git-annex's creds cache (whose use shows in --debug) was not used.
    expect(await readdir(join(repo.path, '.git', 'annex', 'creds')).catch(() => [])).toEqual([]);
  });
});

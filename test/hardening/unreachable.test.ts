/**
 * Issue 8.4: a server that is down fails a whole copy fast, through real
 * git-annex: one process, many keys, no retry budget spent per key.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initS3Remote, startTestS3, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();
let repo: AnnexRepo;
const FILES = 40;

beforeAll(async () => {
  repo = await AnnexRepo.create(suite.sandbox);
  for (let i = 0; i < FILES; i++) await repo.write(`f${i}.bin`, randomBytes(512));
  await repo.commitAll();
});

describe('an endpoint that is down', () => {
  it('fails every key of copy -J4 after one refused connection per job, says so, and records nothing', async () => {
    const other = await startTestS3(`${suite.sandbox.dir}/down`);
    await initS3Remote(repo, other, 'down');
    await other.stop();
    const r = await repo.run('git', ['annex', 'copy', '-J4', '--debug', '--to', 'down', '.']);
    const out = r.stdout + r.stderr;
    expect(r.code).not.toBe(0);
    // Every key failed, each with the cause; none was retried.
    expect(out.match(/cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/g)?.length ?? 0).toBeGreaterThanOrEqual(FILES);
    expect(out).not.toMatch(/retrying /);
    // Keys after the first failures were not even sent, and say why.
    expect(out.match(/not retried: unreachable for the last \d+ s, next attempt in \d+ s/g)?.length ?? 0).toBeGreaterThanOrEqual(FILES - 4);
    // Told once (an INFO), not once per key.
    const shown = out.split('\n').filter((l) => !l.includes('-->') && l.includes('the requests that follow fail at once'));
    expect(shown).toHaveLength(1);
    expect((await repo.ok('git', 'annex', 'find', '--in', 'down')).stdout.trim()).toBe('');
  });

  it('initremote reports a refused connection at once, without retrying', async () => {
    const other = await startTestS3(`${suite.sandbox.dir}/never`);
    const endpoint = other.endpoint;
    await other.stop();
    const r = await repo.run(
      'git',
      ['annex', '--debug', 'initremote', 'never', 'type=external', 'externaltype=annexd-s3', 'encryption=none', 'bucket=b1', `endpoint=${endpoint}`],
      suite.s3.credsEnv,
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused \(is the server running, and is the port right\?\)/);
    expect(r.stdout + r.stderr).not.toMatch(/retrying |the requests that follow fail at once/);
  });
});

describe('WebDAV and HTTP endpoints that are down or misaddressed', () => {
  it('annexd-webdav: initremote against a closed port fails at once; http:// to a TLS port names https://', async () => {
    const { closedPort } = await import('../support/servers.js');
    const port = await closedPort();
    const r = await repo.run('git', ['annex', '--debug', 'initremote', 'davdown', 'type=external', 'externaltype=annexd-webdav', 'encryption=none', `url=http://127.0.0.1:${port}/dav`]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}/dav: connection refused`));
    expect(r.stdout + r.stderr).not.toMatch(/retrying /);

    const https = await import('node:https');
    const { execFileSync } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const key = `${suite.sandbox.dir}/dav-tls.key`;
    const cert = `${suite.sandbox.dir}/dav-tls.pem`;
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const tls = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_q, res) => res.end());
    await new Promise<void>((done) => tls.listen(0, '127.0.0.1', done));
    const tlsPort = (tls.address() as { port: number }).port;
    try {
      const t = await repo.run('git', ['annex', '--debug', 'initremote', 'davtls', 'type=external', 'externaltype=annexd-webdav', 'encryption=none', `url=http://127.0.0.1:${tlsPort}/dav`]);
      expect(t.code).not.toBe(0);
      expect(t.stdout + t.stderr).toMatch(new RegExp(`use https://127\\.0\\.0\\.1:${tlsPort} instead`));
      expect(t.stdout + t.stderr).not.toMatch(/retrying /);
    } finally {
      await new Promise((done) => tls.close(done));
    }
  });
});

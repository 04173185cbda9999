/**
 * Sources that misbehave: a Content-Length that lies, content that changed
 * since it was added. Each gets a message naming the cause, and nothing
 * wrong is ever counted as a copy.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initHttpRemote } from '../support/http-remote.js';
import { useWebSources } from '../support/http-sources.js';

describe('annexd-http against misbehaving sources', () => {
  const suite = useWebSources();

  it('does not count a URL whose server announces another size, and refuses to download it', async () => {
    const { sources } = suite;
    const content = randomBytes(50_000);
    await sources.put('files/lie.bin', content);
    const repo = await AnnexRepo.create(suite.sandbox, 'lying');
    await initHttpRemote(repo, 'src');
    await repo.write('lie.bin', content);
    await repo.commitAll();
    const key = await repo.key('lie.bin');
    await repo.ok('git', 'annex', 'registerurl', key, `${sources.odd}/lying/lie.bin`);

    // The server says 51000 bytes for a 50000-byte key: not a copy, so drop must refuse.
    const check = await repo.annex('checkpresentkey', key, 'src');
    expect(check.code).toBe(1);
    const drop = await repo.annex('drop', 'lie.bin');
    expect(drop.code).not.toBe(0);

    await repo.ok('git', 'annex', 'drop', '--force', 'lie.bin');
    // Make git-annex believe the remote has it, so that get really asks the remote.
    const uuid = (await repo.ok('git', 'config', 'remote.src.annex-uuid')).stdout.trim();
    await repo.ok('git', 'annex', 'setpresentkey', key, uuid, '1');
    const get = await repo.annex('get', '--from', 'src', 'lie.bin');
    expect(get.code).not.toBe(0);
    expect(get.stdout + get.stderr).toContain(`${sources.odd}/lying/lie.bin has 51000 bytes but the key is 50000 bytes`);
    expect(existsSync(join(repo.path, 'lie.bin'))).toBe(false);
  });

  it('reports a body cut short of its Content-Length after retrying, for keys without a size', async () => {
    const { sources } = suite;
    await sources.put('files/short.bin', randomBytes(20_000));
    const repo = await AnnexRepo.create(suite.sandbox, 'short');
    await initHttpRemote(repo, 'src', ['retries=1']);
    // --relaxed: a URL key with no size, so only the server's own framing can tell.
    await repo.ok('git', 'annex', 'addurl', '--relaxed', '--file', 'short.bin', `${sources.odd}/lying/short.bin`);
    // git-annex only lets web sources it trusts fetch unverifiable URL keys, unless told.
    const get = await repo.run('git', ['-c', 'annex.security.allow-unverified-downloads=ACKTHPPT', 'annex', '--debug', 'get', 'short.bin']);
    expect(get.code).not.toBe(0);
    const out = get.stdout + get.stderr;
    expect(out).toContain('the transfer was cut short: expected 21000 bytes, got 20000');
    expect(out).toMatch(/retrying download of .*short\.bin after attempt 1/);
    expect(existsSync(join(repo.path, 'short.bin'))).toBe(false);
  });

  it('is read-only: store and drop --from fail with the reason', async () => {
    const { sources } = suite;
    await sources.put('files/ro.bin', randomBytes(300));
    const repo = await AnnexRepo.create(suite.sandbox, 'readonly');
    await initHttpRemote(repo, 'src');
    await repo.ok('git', 'annex', 'addurl', '--file', 'ro.bin', `${sources.web}/files/ro.bin`);
    await repo.write('local.txt', 'local');
    await repo.commitAll();
    for (const args of [['copy', '--to', 'src', 'local.txt'], ['drop', '--from', 'src', 'ro.bin']]) {
      const r = await repo.annex(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stdout + r.stderr).toContain('annexd-http is read-only');
    }
    await repo.ok('git', 'annex', 'checkpresentkey', await repo.key('ro.bin'), 'src');
  });

  it('claims only URLs that match match=; others stay with the web remote', async () => {
    const { sources } = suite;
    await sources.put('files/mine/x.bin', randomBytes(100));
    await sources.put('files/other/y.bin', randomBytes(100));
    const repo = await AnnexRepo.create(suite.sandbox, 'match');
    await initHttpRemote(repo, 'src', [`match=^${sources.web.replace(/\./g, '\\.')}/files/mine/`]);
    await repo.ok('git', 'annex', 'addurl', '--file', 'x.bin', `${sources.web}/files/mine/x.bin`);
    await repo.ok('git', 'annex', 'addurl', '--file', 'y.bin', `${sources.web}/files/other/y.bin`);
    const x = (await repo.ok('git', 'annex', 'whereis', 'x.bin')).stdout;
    expect(x).toContain('[src]');
    expect(x).not.toContain('-- web');
    const y = (await repo.ok('git', 'annex', 'whereis', 'y.bin')).stdout;
    expect(y).toContain('-- web');
    expect(y).not.toContain('[src]');
  });

  it('names what is wrong with a URL: missing, plain http spoken on an https URL, nothing listening', async () => {
    const { sources } = suite;
    const repo = await AnnexRepo.create(suite.sandbox, 'bad-urls');
    await initHttpRemote(repo, 'src', ['retries=0']);
    const cases: Array<[string, string]> = [
      [`${sources.web}/files/missing.bin`, `${sources.web}/files/missing.bin does not exist on the server (HTTP 404)`],
      [`${sources.web.replace('http:', 'https:')}/files/x.bin`, 'the TLS handshake failed (does the server speak https on this port? try http://)'],
      ['http://127.0.0.1:1/x.bin', 'cannot reach http://127.0.0.1:1/x.bin: connection refused'],
    ];
    for (const [url, message] of cases) {
      const r = await repo.annex('addurl', '--file', 'x.bin', url);
      expect(r.code, url).not.toBe(0);
      expect(r.stdout + r.stderr, url).toContain(message);
    }
  });
});

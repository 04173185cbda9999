/**
 * annexd-http credentials: one per host, Basic or Bearer, from the
 * environment or annexd's store; a credential never follows a redirect to
 * another host, and never shows in output.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { initHttpRemote } from '../support/http-remote.js';
import { useWebSources } from '../support/http-sources.js';

const hostOf = (url: string): string => new URL(url).host;

describe('annexd-http credentials', () => {
  const suite = useWebSources();

  it('asks for a credential by host, then uses one defined in the environment', async () => {
    const { sources } = suite;
    await sources.put('private/secret.bin', randomBytes(3000));
    const repo = await AnnexRepo.create(suite.sandbox, 'basic-env');
    await initHttpRemote(repo, 'src');
    const url = `${sources.web}/private/secret.bin`;

    const refused = await repo.annex('addurl', '--file', 'secret.bin', url);
    expect(refused.code).not.toBe(0);
    const host = hostOf(sources.web);
    expect(refused.stdout + refused.stderr).toContain(`needs credentials (HTTP 401, it asks for Basic realm "private data" authentication)`);
    expect(refused.stdout + refused.stderr).toContain(`annexd credentials set NAME user=USER realm=${host}`);

    const env = {
      ANNEXD_CREDENTIAL_DATA_REALM: host,
      ANNEXD_CREDENTIAL_DATA_USER: sources.user,
      ANNEXD_CREDENTIAL_DATA_SECRET: sources.password,
    };
    const added = await repo.run('git', ['annex', '--debug', 'addurl', '--file', 'secret.bin', url], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout + added.stderr).not.toContain(sources.password);
    await repo.ok('git', 'annex', 'drop', '--force', 'secret.bin');
    const got = await repo.run('git', ['annex', '--debug', 'get', 'secret.bin'], env);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout + got.stderr).not.toContain(sources.password);
    expect(got.stdout + got.stderr).not.toContain(Buffer.from(`${sources.user}:${sources.password}`).toString('base64'));
  });

  it('says whose credential was refused when the password is wrong', async () => {
    const { sources } = suite;
    await sources.put('private/wrong.bin', randomBytes(100));
    const repo = await AnnexRepo.create(suite.sandbox, 'basic-wrong');
    await initHttpRemote(repo, 'src');
    const r = await repo.run('git', ['annex', 'addurl', '--file', 'wrong.bin', `${sources.web}/private/wrong.bin`], {
      ANNEXD_CREDENTIAL_DATA_REALM: hostOf(sources.web),
      ANNEXD_CREDENTIAL_DATA_USER: sources.user,
      ANNEXD_CREDENTIAL_DATA_SECRET: 'not-the-password',
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('refused the credentials from credential "data" (environment variables) (HTTP 401');
    expect(r.stdout + r.stderr).not.toContain('not-the-password');
  });

  it('uses a stored token as Bearer, and keeps credential=NAME from a host it redirects to', async () => {
    const { sources } = suite;
    await sources.put('files/away.bin', randomBytes(2000));
    const repo = await AnnexRepo.create(suite.sandbox, 'bearer');
    // A Basic credential named for the remote, sent to the hosts of claimed URLs…
    await repo.okEnv({}, 'sh', '-c', `printf %s '${sources.password}' | annexd credentials set webcred user=${sources.user} --store file`);
    // …and a token for the other host, found by its realm.
    await repo.okEnv({}, 'sh', '-c', `printf %s '${sources.token}' | annexd credentials set oddtoken realm=${hostOf(sources.odd)} --store file`);
    await initHttpRemote(repo, 'src', ['credential=webcred']);

    const before = sources.oddAuthorizations.length;
    // lighttpd redirects /away/ to the odd server's /bearer/, which wants the token.
    const r = await repo.run('git', ['annex', '--debug', 'addurl', '--file', 'away.bin', `${sources.web}/away/away.bin`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const received = sources.oddAuthorizations.slice(before);
    expect(received.length).toBeGreaterThan(0);
    expect(received.every((h) => h === `Bearer ${sources.token}`), received.join(', ')).toBe(true);
    expect(r.stdout + r.stderr).not.toContain(sources.token);
    expect(r.stdout + r.stderr).not.toContain(sources.password);
  });

  it('fails clearly when credential=NAME does not exist', async () => {
    const { sources } = suite;
    await sources.put('files/named.bin', randomBytes(10));
    const repo = await AnnexRepo.create(suite.sandbox, 'named-missing');
    await initHttpRemote(repo, 'src', ['credential=nosuch']);
    const r = await repo.annex('addurl', '--file', 'named.bin', `${sources.web}/files/named.bin`);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('credential "nosuch" not found: create it with "annexd credentials set nosuch');
  });
});

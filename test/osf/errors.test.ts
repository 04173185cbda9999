/**
 * What a user meets when something is wrong: no token, a wrong token, a node
 * that does not exist, an api= that is not OSF, a missing node= — each one
 * line naming the fix. And the token (a random sentinel) is never shown: not
 * in any output (with --debug), .git/config, the git-annex branch, process
 * arguments, or any file but the owner-only one that remembers it.
 */
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { filesContaining } from '../support/files.js';
import { descendants } from '../support/kill.js';
import { initOsfRemote, useOsfSuite } from '../support/osf.js';

const init = (repo: AnnexRepo, params: string[], env: NodeJS.ProcessEnv = {}): ReturnType<AnnexRepo['run']> =>
  repo.run('git', ['annex', 'initremote', 'osf', 'type=external', 'externaltype=annexd-osf', 'encryption=none', ...params], env);

describe('annexd-osf errors and secrets', () => {
  const suite = useOsfSuite();
  let html: Server;
  let htmlUrl: string;

  beforeAll(async () => {
    html = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>a web site</body></html>');
    });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    htmlUrl = `http://127.0.0.1:${(html.address() as { port: number }).port}/v2/`;
  });
  afterAll(() => new Promise<void>((r) => html.close(() => r())));

  it('initremote: no token, a wrong token, no such node, not OSF, no node=: one line each, naming the fix', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'bad');
    const node = await suite.osf.createNode();
    const api = `api=${suite.osf.api}`;
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [[api, `node=${node}`], {}, /no OSF token: create a personal access token at https:\/\/osf\.io\/settings\/tokens \(scope osf\.full_write\) and set OSF_TOKEN, or store it with "annexd credentials set osf realm=127\.0\.0\.1:\d+"/],
      [[api, `node=${node}`], { OSF_TOKEN: 'not-the-token-0123' }, /OSF refused the token from environment \(OSF_TOKEN\) \(HTTP 401: User provided an invalid OAuth2 access token\): it is wrong, expired or revoked; create a personal access token/],
      [[api, 'node=nope9'], suite.osf.credsEnv, /OSF has no node nope9 at http:\/\/127\.0\.0\.1:\d+\/v2\/ \(HTTP 404\): check node= \(the id in https:\/\/osf\.io\/ID\/\)/],
      [[`api=${suite.osf.wb}`, `node=${node}`], suite.osf.credsEnv, /does not look like the OSF API v2 \(GET \S+users\/me\/ answered HTTP 404\); check api=, e\.g\. api=https:\/\/api\.osf\.io\/v2\//],
      [[`api=${htmlUrl}`, `node=${node}`], suite.osf.credsEnv, /does not look like the OSF API v2 \(GET \S+ answered HTTP 200 with an HTML page, not JSON\); check api=/],
      [[api], suite.osf.credsEnv, /node= is required: the id of the OSF project or component, e\.g\. node=ab12c/],
      [[api, 'node=a/b c'], suite.osf.credsEnv, /node= "a\/b c" is not an OSF node id/],
    ];
    for (const [params, env, expected] of cases) {
      const r = await init(repo, params, env);
      const out = r.stdout + r.stderr;
      expect(r.code, out).not.toBe(0);
      expect(out, params.join(' ')).toMatch(expected);
      const line = out.split('\n').find((l) => expected.test(l));
      expect(line).toBeDefined();
    }
  });

  it('a clone without a token enables the remote, and its get fails naming OSF_TOKEN; a revoked token is named as such', async () => {
    const origin = await AnnexRepo.create(suite.sandbox, 'origin');
    await initOsfRemote(origin, suite.osf, 'osf');
    await origin.write('a.txt', 'data\n');
    await origin.commitAll();
    await origin.ok('git', 'annex', 'copy', '--to', 'osf', 'a.txt');
    const clone = await AnnexRepo.clone(suite.sandbox, origin, 'clone');
    const enable = await clone.run('git', ['annex', 'enableremote', 'osf']);
    expect(enable.code, enable.stderr).toBe(0);
    expect(enable.stdout + enable.stderr).toMatch(/enabled without checking the server: no OSF token/);
    const get = await clone.run('git', ['annex', 'get', '--from', 'osf', 'a.txt']);
    expect(get.code).not.toBe(0);
    expect(get.stdout + get.stderr).toMatch(/OSF needs a token for node \w+ \(HTTP 401\): create a personal access token at https:\/\/osf\.io\/settings\/tokens/);
    const wrong = await clone.run('git', ['annex', 'get', '--from', 'osf', 'a.txt'], { OSF_TOKEN: 'revoked-token-4567' });
    expect(wrong.stdout + wrong.stderr).toMatch(/OSF refused the token from environment \(OSF_TOKEN\) \(HTTP 401/);
    const right = await clone.run('git', ['annex', 'get', '--from', 'osf', 'a.txt'], suite.osf.credsEnv);
    expect(right.code, right.stderr).toBe(0);
  });

  it('never shows the token: not in output with --debug, .git/config, the git-annex branch or process arguments; only in the 0600 file that remembers it', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'secret');
    const token = suite.osf.token;
    const node = await initOsfRemote(repo, suite.osf, 'osf');
    for (let i = 0; i < 6; i++) await repo.write(`s/${i}.txt`, `secret test ${i}\n`);
    await repo.commitAll();
    const outputs: string[] = [];
    // While a copy runs, look at every process's arguments below it.
    const { spawn } = await import('node:child_process');
    const child = spawn('git', ['annex', '--debug', 'copy', '-J2', '--to', 'osf', '.'], { cwd: repo.path, env: repo.env });
    let copyOut = '';
    child.stdout.on('data', (d: Buffer) => (copyOut += d.toString()));
    child.stderr.on('data', (d: Buffer) => (copyOut += d.toString()));
    const args: string[] = [];
    const poll = setInterval(() => {
      for (const pid of descendants(child.pid as number, '')) {
        readFile(`/proc/${pid}/cmdline`, 'utf8').then((c) => args.push(c), () => undefined);
      }
    }, 10);
    const code = await new Promise<number | null>((r) => child.on('close', r));
    clearInterval(poll);
    expect(code, copyOut).toBe(0);
    expect(args.some((a) => a.includes('git-annex-remote-annexd-osf'))).toBe(true);
    outputs.push(copyOut);
    for (const cmd of [['drop', '.'], ['get', '.'], ['fsck', '--from', 'osf'], ['info', 'osf'], ['drop', '--from', 'osf', 's/0.txt']]) {
      const r = await repo.run('git', ['annex', '--debug', ...cmd]);
      expect(r.code, r.stderr).toBe(0);
      outputs.push(r.stdout + r.stderr);
    }
    // A wrong token's failure, with --debug, names neither token.
    const bad = await repo.run('git', ['annex', '--debug', 'initremote', 'osf2', 'type=external', 'externaltype=annexd-osf', 'encryption=none', `api=${suite.osf.api}`, `node=${node}`], { OSF_TOKEN: `${token}x` });
    outputs.push(bad.stdout + bad.stderr);
    expect(bad.code).not.toBe(0);
    for (const o of outputs) expect(o).not.toContain(token.slice(0, 20));
    for (const a of args) expect(a).not.toContain(token);
    expect(await readFile(join(repo.path, '.git', 'config'), 'utf8')).not.toContain(token);
    const branch = await repo.ok('git', 'log', '-p', 'git-annex');
    expect(branch.stdout).not.toContain(token);
    const holders = await filesContaining(repo.path, token);
    expect(holders).toHaveLength(1);
    expect(holders[0]).toMatch(/\.git\/annex\/annexd\/creds\/[0-9a-f-]+-annexd-osf\.json$/);
    expect((await stat(holders[0]!)).mode & 0o077).toBe(0);
  });
});

describe('annexd-osf against a full project (quota 100 KB)', () => {
  const suite = useOsfSuite({ ANNEXD_OSF_QUOTA: '100000' });

  it('names the quota when OSF answers 507, and stores nothing', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'full');
    const node = await initOsfRemote(repo, suite.osf, 'osf');
    await repo.write('big.bin', Buffer.alloc(150_000, 1));
    await repo.commitAll();
    const r = await repo.run('git', ['annex', 'copy', '--to', 'osf', 'big.bin']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/store failed: the OSF storage quota of node \w+ is used up \(HTTP 507: The quota on this osfstorage project has been exceeded\): OSF allows 5 GB per private and 50 GB per public project/);
    expect(await suite.osf.rootNames(node)).toEqual([]);
  });
});

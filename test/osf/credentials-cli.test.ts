/**
 * `annexd credentials set NAME type=osf` checks the token with OSF first
 * (GET users/me/), as `datalad osf-credentials` does, against the
 * OSF-compatible server: whose it is on success, nothing stored on refusal.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { startTestOsf, type TestOsf } from '../support/osf.js';
import { closedPort } from '../support/servers.js';
import { BIN_DIR } from '../support/tools.js';

let sandbox: Sandbox;
let osf: TestOsf;

beforeAll(async () => {
  sandbox = await createSandbox({ DBUS_SESSION_BUS_ADDRESS: '' });
  osf = await startTestOsf(join(sandbox.dir, 'osf'));
});
afterAll(async () => {
  await osf?.stop();
  await sandbox?.cleanup();
});

const annexd = (args: string[], input = ''): Promise<ExecResult> => exec(join(BIN_DIR, 'annexd'), args, { env: sandbox.env, input });

describe('annexd credentials set type=osf', () => {
  it('asks OSF whose token it is, says so, and stores it', async () => {
    const r = await annexd(['credentials', 'set', 'myosf', 'type=osf', `api=${osf.api}`], `${osf.token}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^stored credential "myosf" in /);
    expect(r.stdout).toMatch(/OSF authenticated it as \S.*\n$/);
    expect(r.stdout + r.stderr).not.toContain(osf.token);
    const json = await annexd(['credentials', 'set', 'myosf2', 'type=osf', `api=${osf.api}`, '--json'], `${osf.token}\n`);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'myosf2', osfUser: expect.any(String) });
  });

  it('refuses a token OSF refuses, and stores nothing', async () => {
    const r = await annexd(['credentials', 'set', 'badosf', 'type=osf', `api=${osf.api}`], 'not-a-valid-token\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/OSF at \S+ refused this token \(HTTP 401\): it is wrong, expired or revoked; nothing was stored/);
    expect((await annexd(['credentials', 'get', 'badosf'])).code).toBe(1);
  });

  it('says what is wrong when OSF cannot be reached, and --no-check stores without asking', async () => {
    const api = `http://127.0.0.1:${await closedPort()}/v2/`;
    const r = await annexd(['credentials', 'set', 'offline', 'type=osf', `api=${api}`], 'some-token\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach \S+: connection refused .*; nothing was stored \(--no-check stores it without asking OSF\)/);
    const stored = await annexd(['credentials', 'set', 'offline', 'type=osf', `api=${api}`, '--no-check'], 'some-token\n');
    expect(stored.code, stored.stderr).toBe(0);
    expect(stored.stdout).not.toMatch(/OSF authenticated/);
  });
});

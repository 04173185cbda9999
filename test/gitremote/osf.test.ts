/**
 * git-remote-osf (osf://NODEID) on the OSF-compatible server, and a published
 * dataset whose content `git annex get` finds after nothing but `git clone`.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { useOsfSuite } from '../support/osf.js';
import { exec } from '../../src/util/exec.js';
import { requireTool } from '../support/tools.js';
import { git, gitOk } from './helpers.js';
import { cloneFetchPush, twoWriters, type Ctx } from './scenarios.js';

const suite = useOsfSuite();
const ctx = (): Ctx => ({ dir: suite.sandbox.dir, env: { ...suite.sandbox.env, ...suite.osf.credsEnv } });
const osfUrl = (node: string): string => `osf://${node}?api=${suite.osf.api}`;

describe('git-remote-osf on the OSF-compatible server', () => {
  it('clone, push, fetch, non-fast-forward refused, --force; the deposit is flat at the storage root as datalad-osf keeps it', async () => {
    const node = await suite.osf.createNode('story');
    await cloneFetchPush(ctx(), osfUrl(node), 'git-remote-osf');
    expect(await suite.osf.rootNames(node)).toEqual(['XDLRA--refs', 'XDLRA--repo-export']);
  });

  it('the API from git config annexd.osf.api, so the URL is plain osf://NODEID', async () => {
    const node = await suite.osf.createNode('config-api');
    const home = suite.sandbox.env.HOME!;
    const env = { ...ctx().env, GIT_CONFIG_GLOBAL: join(suite.sandbox.dir, 'osf-gitconfig') };
    await gitOk({ env }, home, 'config', '--global', 'annexd.osf.api', suite.osf.api);
    await gitOk({ env }, home, 'config', '--global', 'init.defaultBranch', 'main');
    const cl = join(suite.sandbox.dir, 'config-api');
    const r = await git({ env }, suite.sandbox.dir, 'clone', `osf://${node}`, cl);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`git-remote-osf: no dataset deposited at osf://${node} yet`));
  });

  it('two clones pushing at once: one wins, the other is refused, nothing is lost', async () => {
    await twoWriters(ctx(), osfUrl(await suite.osf.createNode('race')));
  });

  it('git clone osf://ID, then git annex get: the storage remote comes from autoenable', async () => {
    const node = await suite.osf.createNode('published');
    const env = ctx().env;
    const ds = await AnnexRepo.create({ ...suite.sandbox, env }, 'published');
    await ds.ok('git', 'checkout', '-q', '-b', 'main');
    await ds.write('data/big.bin', Buffer.alloc(200_000, 7));
    await ds.write('README', 'a published dataset\n');
    await ds.commitAll();
    await ds.okEnv(env, 'git', 'annex', 'initremote', 'osf-storage', 'type=external', 'externaltype=annexd-osf', 'encryption=none', `node=${node}`, `api=${suite.osf.api}`, 'autoenable=true');
    await ds.ok('git', 'annex', 'copy', '--to', 'osf-storage', '.');
    await ds.ok('git', 'remote', 'add', 'osf', osfUrl(node));
    const p = await ds.run('git', ['push', 'osf', 'main', 'git-annex']);
    expect(p.code, p.stderr).toBe(0);

    const cl = join(suite.sandbox.dir, 'published-clone');
    const c = await git({ env }, suite.sandbox.dir, 'clone', osfUrl(node), cl);
    expect(c.code, c.stderr).toBe(0);
    await gitOk({ env }, cl, 'config', 'annex.security.allowed-ip-addresses', '127.0.0.1');
    const get = await git({ env }, cl, 'annex', 'get', 'data/big.bin');
    expect(get.code, get.stdout + get.stderr).toBe(0);
    expect(get.stdout).toMatch(/from osf-storage/);
    expect(await readFile(join(cl, 'data', 'big.bin'))).toEqual(Buffer.alloc(200_000, 7));
    expect(existsSync(join(cl, '.git', 'annex', 'objects'))).toBe(true);

    // Debian's DataLad (0.18.1, no datalad-next, no datalad-osf) clones and gets through our helpers on PATH
    requireTool('datalad', 'apt-get install -y datalad');
    const dl = join(suite.sandbox.dir, 'published-datalad');
    const d = await exec('/usr/bin/datalad', ['clone', osfUrl(node), dl], { env, cwd: suite.sandbox.dir });
    expect(d.code, d.stdout + d.stderr).toBe(0);
    await gitOk({ env }, dl, 'config', 'annex.security.allowed-ip-addresses', '127.0.0.1');
    const dget = await exec('/usr/bin/datalad', ['get', 'data/big.bin'], { env, cwd: dl });
    expect(dget.code, dget.stdout + dget.stderr).toBe(0);
    expect(await readFile(join(dl, 'data', 'big.bin'))).toEqual(Buffer.alloc(200_000, 7));
  });
});

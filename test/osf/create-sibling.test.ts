/**
 * `annexd create-sibling-osf` against the OSF-compatible server: the project
 * it creates (as datalad-osf creates it), the storage sibling in remote.log,
 * the git sibling's config, each mode, --existing, and refusals that leave
 * nothing behind.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { AnnexRepo } from '../support/annex.js';
import { config, records, remoteLogLine } from '../support/create-sibling.js';
import { useOsfSuite } from '../support/osf.js';
import { BIN_DIR } from '../support/tools.js';

const suite = useOsfSuite();

interface NodeJson {
  id: string;
  attributes: { title: string; category: string; public: boolean; tags: string[]; description: string };
}

async function api<T>(path: string): Promise<T> {
  const r = await fetch(`${suite.osf.api}${path}`, { headers: { authorization: `Bearer ${suite.osf.token}` } });
  if (r.status !== 200) throw new Error(`GET ${path} answered HTTP ${r.status}`);
  return (await r.json()) as T;
}
const nodes = async (): Promise<NodeJson[]> => (await api<{ data: NodeJson[] }>('nodes/?page[size]=100')).data;

/** A dataset with one annexed file and a DataLad dataset id, as `datalad create` leaves one. */
async function dataset(name: string): Promise<AnnexRepo> {
  const repo = await AnnexRepo.create(suite.sandbox, name);
  await repo.write('.datalad/config', `[datalad "dataset"]\n\tid = 0f6c5a1e-${name.padEnd(4, 'x').slice(0, 4)}-4000-8000-000000000000\n`);
  await repo.ok('git', 'add', '.datalad/config');
  await repo.write('data/one.txt', 'one\n');
  await repo.commitAll();
  return repo;
}

/** The git sibling's URL: osf://ID, with ?api= for the test server (not osf.io). */
const osfUrl = (id: string): string => `osf://${id}?api=${encodeURIComponent(suite.osf.api)}`;

const cso = (repo: AnnexRepo, args: string[], env: NodeJS.ProcessEnv = suite.osf.credsEnv): Promise<ExecResult> =>
  repo.run(join(BIN_DIR, 'annexd'), ['create-sibling-osf', '--api', suite.osf.api, ...args], env);


describe('annexd create-sibling-osf', () => {
  it('annex mode: a project as datalad-osf makes it, the storage sibling, the git sibling with its dependency', async () => {
    const repo = await dataset('annexmode');
    const r = await cso(repo, ['--tag', 'mri', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [created, configured] = records(r);
    expect(created).toMatchObject({ action: 'create-sibling-osf', status: 'ok', type: 'dataset', name: 'osf-storage', id: expect.stringMatching(/^[a-z0-9]{5}$/) });
    const id = created!.id as string;
    expect(created!.url).toMatch(new RegExp(`/${id}/$`));
    expect(configured).toMatchObject({ action: 'configure-sibling', status: 'ok', name: 'osf', url: osfUrl(id) });

    const node = (await api<{ data: NodeJson }>(`nodes/${id}/`)).data;
    expect(node.attributes).toMatchObject({ title: 'annexmode', category: 'data', public: false });
    expect(node.attributes.tags).toEqual(['mri', 'DataLad dataset', '0f6c5a1e-anne-4000-8000-000000000000']);
    expect(node.attributes.description).toMatch(/^This component was built from a DataLad dataset using the datalad-osf extension/);
    expect(node.attributes.description).toMatch(new RegExp(`cloned using 'datalad clone osf://${id}'$`));

    const line = await remoteLogLine(repo, 'osf-storage');
    for (const field of ['type=external', 'externaltype=osf', 'encryption=none', 'autoenable=true', `node=${id}`]) expect(line).toContain(` ${field}`);
    expect(line).not.toContain('exporttree=yes');
    expect(await config(repo, 'remote.osf.url')).toEqual([osfUrl(id)]);
    expect(await config(repo, 'remote.osf.fetch')).toEqual(['+refs/heads/*:refs/remotes/osf/*']);
    expect(await config(repo, 'remote.osf.annex-ignore')).toEqual(['true']);
    expect(await config(repo, 'remote.osf.datalad-publish-depends')).toEqual(['osf-storage']);

    // The storage sibling works: the key lands flat at the project's storage root.
    await repo.ok('git', 'annex', 'copy', '--to', 'osf-storage', 'data/one.txt');
    const key = (await repo.ok('git', 'annex', 'lookupkey', 'data/one.txt')).stdout.trim();
    expect(await suite.osf.rootNames(id)).toEqual([key]);
  });

  it('published with annexd push (content to the storage sibling first), cloned from osf://ID, content through autoenable', async () => {
    const repo = await dataset('published');
    const created = await cso(repo, ['--json']);
    expect(created.code, created.stderr).toBe(0);
    const id = records(created)[0]!.id as string;
    const push = await repo.run(join(BIN_DIR, 'annexd'), ['push', '--to', 'osf'], suite.osf.credsEnv);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^copy\(ok\): data\/one\.txt \(file\) \[to osf-storage\.\.\.\]$/m);
    expect(push.stdout).toMatch(/^publish\(ok\): \. \(dataset\) \[refs\/heads\/main->osf:refs\/heads\/main \[new branch\]\]$/m);
    // The deposit sits beside the content, flat at the storage root, as datalad-osf lays it out.
    const key = (await repo.ok('git', 'annex', 'lookupkey', 'data/one.txt')).stdout.trim();
    expect(await suite.osf.rootNames(id)).toEqual([key, 'XDLRA--refs', 'XDLRA--repo-export'].sort());

    const clonePath = join(suite.sandbox.dir, 'published-clone');
    const clone = await exec('git', ['clone', '-q', osfUrl(id), clonePath], { env: { ...suite.sandbox.env, ...suite.osf.credsEnv } });
    expect(clone.code, clone.stderr).toBe(0);
    const cloned = new AnnexRepo(clonePath, { ...suite.sandbox.env, ...suite.osf.credsEnv });
    await cloned.ok('git', 'config', 'annex.security.allowed-ip-addresses', '127.0.0.1');
    await cloned.ok('git', 'annex', 'init', '-q');
    await cloned.ok('git', 'annex', 'get', 'data/one.txt');
    expect((await cloned.ok('cat', 'data/one.txt')).stdout).toBe('one\n');

    // Nothing new: a second push has nothing to do.
    const again = await repo.run(join(BIN_DIR, 'annexd'), ['push', '--to', 'osf'], suite.osf.credsEnv);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/^copy\(ok\)/m);
  });

  it('renders results as DataLad does, and --title, --public, --category, --description, -s, --storage-name, --trust-level', async () => {
    const repo = await dataset('options');
    const r = await cso(repo, ['-s', 'pub', '--storage-name', 'pubstore', '--title', 'My study', '--public', '--category', 'software', '--description', 'Hand-written.', '--trust-level', 'trust']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^create-sibling-osf\(ok\): http:\/\/127\.0\.0\.1:\d+\/[a-z0-9]{5}\/$/);
    const id = /\/([a-z0-9]{5})\/$/.exec(lines[0]!)![1]!;
    expect(lines[1]).toBe(`configure-sibling(ok): ${osfUrl(id)}`);
    const node = (await api<{ data: NodeJson }>(`nodes/${id}/`)).data;
    expect(node.attributes).toMatchObject({ title: 'My study', category: 'software', public: true });
    expect(node.attributes.description).toBe(`Hand-written.This particular project can be cloned using 'datalad clone osf://${id}'`);
    expect(await config(repo, 'remote.pub.datalad-publish-depends')).toEqual(['pubstore']);
    expect((await repo.ok('git', 'annex', 'info', 'pubstore')).stdout).toMatch(/^trust: trusted$/m);
  });

  it('export mode stores the tree; exportonly makes no git sibling; gitonly no storage sibling', async () => {
    const exp = await dataset('exportmode');
    const e = await cso(exp, ['--mode', 'export', '--json']);
    expect(e.code, e.stderr).toBe(0);
    const id = records(e)[0]!.id as string;
    expect(await remoteLogLine(exp, 'osf-storage')).toContain(' exporttree=yes');
    await exp.ok('git', 'annex', 'export', 'HEAD', '--to', 'osf-storage');
    expect(await suite.osf.tree(id)).toEqual(['.datalad/', '.datalad/config', 'data/', 'data/one.txt']);

    const only = await dataset('exportonly');
    const o = await cso(only, ['--mode', 'exportonly', '--json']);
    expect(o.code, o.stderr).toBe(0);
    expect(records(o).map((x) => x.action)).toEqual(['create-sibling-osf']);
    const onlyNode = (await api<{ data: NodeJson }>(`nodes/${records(o)[0]!.id as string}/`)).data;
    expect(onlyNode.attributes.description).not.toMatch(/osf:\/\//);
    expect((await only.run('git', ['remote'])).stdout.trim()).toBe('osf-storage');

    const git = await dataset('gitonly');
    const before = (await nodes()).length;
    const g = await cso(git, ['--mode', 'gitonly', '--json']);
    expect(g.code, g.stderr).toBe(0);
    expect(records(g).map((x) => x.action)).toEqual(['configure-sibling']);
    expect((await nodes()).length).toBe(before + 1);
    expect(await remoteLogLine(git, 'osf-storage')).toBe('');
    expect(await config(git, 'remote.osf.datalad-publish-depends')).toEqual([]);
    expect(await config(git, 'remote.osf.annex-ignore')).toEqual(['true']);
  });

  it('--existing error refuses and --existing skip skips, creating no second project', async () => {
    const repo = await dataset('existing');
    expect((await cso(repo, [])).code).toBe(0);
    const before = (await nodes()).length;
    const again = await cso(repo, []);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(`create-sibling-osf(error): osf [a sibling 'osf' is already configured in dataset ${repo.path}]`);
    const skip = await cso(repo, ['--existing', 'skip', '--json']);
    expect(skip.code, skip.stderr).toBe(0);
    expect(records(skip).map((x) => [x.name, x.status])).toEqual([
      ['osf', 'notneeded'],
      ['osf-storage', 'notneeded'],
    ]);
    expect((await nodes()).length).toBe(before);
  });

  it('a wrong token, no token, or a non-annex repository: one clear line, nothing created', async () => {
    const repo = await dataset('refused');
    const before = (await nodes()).length;
    const wrong = await cso(repo, [], { OSF_TOKEN: 'wrong-token' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^annexd: creating the OSF project failed: OSF refused the token from environment \(OSF_TOKEN\) \(HTTP 401[^\n]*\n$/);
    expect(wrong.stderr).not.toContain('wrong-token');
    const none = await cso(repo, [], { OSF_TOKEN: '' });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^annexd: no OSF token: create a personal access token at https:\/\/osf\.io\/settings\/tokens/);
    expect((await nodes()).length).toBe(before);
    expect((await repo.run('git', ['remote'])).stdout).toBe('');

    const plain = join(suite.sandbox.dir, 'plain-git');
    await exec('git', ['init', '-q', plain], { env: suite.sandbox.env });
    const p = await exec(join(BIN_DIR, 'annexd'), ['create-sibling-osf', '--api', suite.osf.api, '-d', plain], { env: { ...suite.sandbox.env, ...suite.osf.credsEnv } });
    expect(p.code).toBe(1);
    expect(p.stdout).toBe(`create-sibling-osf(impossible): ${plain} [dataset has no annex]\n`);
    const bad = await cso(repo, ['--mode', 'tree']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mode must be one of "annex", "export", "exportonly", "gitonly", not "tree"/);
  });
});

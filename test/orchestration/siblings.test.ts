/** annexd's siblings API against real git and git-annex repositories. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { addSibling, configureSibling, listSiblings, removeSibling, splitDepends } from '../../src/orchestration/siblings.js';

let sandbox: Sandbox;
let ds: AnnexRepo;
let counter = 0;

async function bare(name: string): Promise<string> {
  const path = join(sandbox.dir, `${name}-${++counter}.git`);
  await ds.ok('git', 'init', '-q', '--bare', path);
  await ds.ok('git', '-C', path, 'annex', 'init', '-q', name);
  return path;
}

const local = async (key: string): Promise<string[]> => {
  const r = await ds.run('git', ['config', '--local', '--get-all', key]);
  return r.code === 0 ? r.stdout.trim().split('\n') : [];
};

beforeAll(async () => {
  sandbox = await createSandbox();
  // The API runs git with this process's environment: the sandbox's HOME, identity and PATH.
  Object.assign(process.env, sandbox.env);
  ds = await AnnexRepo.create(sandbox, 'ds');
  await ds.write('a.txt', 'a');
  await ds.commitAll();
  await ds.ok('git', 'annex', 'initremote', 'store1', 'type=directory', `directory=${sandbox.dir}`, 'encryption=none');
  await ds.ok('git', 'annex', 'initremote', 'store2', 'type=directory', `directory=${sandbox.dir}`, 'encryption=none', 'exporttree=yes');
});
afterAll(() => sandbox?.cleanup());

describe('siblings', () => {
  it('adds a git sibling with the keys DataLad writes', async () => {
    const url = await bare('pub');
    const rec = await addSibling(ds.path, { name: 'pub', url, publishDepends: ['store1 store2'], annexWanted: 'include=*.txt' });
    expect(rec).toMatchObject({ action: 'add-sibling', status: 'ok', name: 'pub', url, 'datalad-publish-depends': ['store1', 'store2'] });
    expect(await local('remote.pub.url')).toEqual([url]);
    expect(await local('remote.pub.fetch')).toEqual(['+refs/heads/*:refs/remotes/pub/*']);
    // One value per dependency, as `datalad siblings --publish-depends A --publish-depends B` writes them.
    expect(await local('remote.pub.datalad-publish-depends')).toEqual(['store1', 'store2']);
    expect((await ds.ok('git', 'annex', 'wanted', 'pub')).stdout.trim()).toBe('include=*.txt');
    // enableremote learnt the bare repository's annex UUID.
    expect(rec['annex-uuid']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('lists siblings with url, uuid, export, wanted and every dependency value whitespace-split', async () => {
    await ds.ok('git', 'config', '--add', 'remote.pub.datalad-publish-depends', 'store1  store2\tstore1');
    const all = await listSiblings(ds.path);
    const pub = all.find((s) => s.name === 'pub');
    expect(pub).toMatchObject({ special: false, annexIgnore: false, wanted: 'include=*.txt', publishDepends: ['store1', 'store2'] });
    const s2 = all.find((s) => s.name === 'store2');
    expect(s2).toMatchObject({ special: true, exportTree: true });
    expect(s2?.url).toBeUndefined();
    expect(all.find((s) => s.name === 'store1')).toMatchObject({ special: true, exportTree: false });
    expect(splitDepends(['a b', ' c ', 'a'])).toEqual(['a', 'b', 'c']);
  });

  it('refuses an unknown dependency and writes nothing', async () => {
    const url = await bare('x');
    await expect(addSibling(ds.path, { name: 'x', url, publishDepends: ['ghost'] })).rejects.toThrow(
      'unknown sibling(s) specified as publication dependency: ghost',
    );
    expect(await local('remote.x.url')).toEqual([]);
  });

  it('refuses a dependency that would make a cycle, naming its path, and keeps the old value', async () => {
    const url = await bare('mid');
    await addSibling(ds.path, { name: 'mid', url, publishDepends: ['pub'] });
    await expect(configureSibling(ds.path, { name: 'store1', publishDepends: ['mid'] })).rejects.toThrow(
      /cycle store1 -> mid -> pub -> store1/,
    );
    expect(await local('remote.store1.datalad-publish-depends')).toEqual([]);
    await expect(configureSibling(ds.path, { name: 'pub', publishDepends: ['pub'] })).rejects.toThrow(/cannot depend on itself/);
  });

  it('configures: replaces every dependency value, sets pushurl and annex-ignore stays honoured', async () => {
    const push = await bare('pushurl');
    const rec = await configureSibling(ds.path, { name: 'pub', publishDepends: ['store2'], pushurl: push });
    expect(rec).toMatchObject({ action: 'configure-sibling', pushurl: push, 'datalad-publish-depends': ['store2'] });
    expect(await local('remote.pub.datalad-publish-depends')).toEqual(['store2']);
    await expect(configureSibling(ds.path, { name: 'nosuch' })).rejects.toThrow(/unknown sibling "nosuch"/);
  });

  it('annexIgnore marks a git sibling whose content goes elsewhere (as create-sibling-* does)', async () => {
    const url = await bare('ign');
    const rec = await addSibling(ds.path, { name: 'ign', url, annexIgnore: true, publishDepends: ['store1'] });
    expect(rec).toMatchObject({ 'annex-ignore': true, 'datalad-publish-depends': ['store1'] });
    expect(await local('remote.ign.annex-ignore')).toEqual(['true']);
    // No enableremote: git-annex has not learnt its UUID.
    expect(await local('remote.ign.annex-uuid')).toEqual([]);
    await configureSibling(ds.path, { name: 'ign', annexIgnore: false });
    expect(await local('remote.ign.annex-ignore')).toEqual(['false']);
    await removeSibling(ds.path, 'ign');
  });

  it('an existing name is refused with DataLad\'s words', async () => {
    await expect(addSibling(ds.path, { name: 'pub', url: '/x' })).rejects.toThrow('sibling is already known: pub, use `configure` instead?');
  });

  it('removes; refuses to remove a dependency in use; notneeded when absent', async () => {
    await expect(removeSibling(ds.path, 'pub')).rejects.toThrow(/"mid" depends on it/);
    expect((await removeSibling(ds.path, 'mid')).status).toBe('ok');
    expect((await removeSibling(ds.path, 'mid')).status).toBe('notneeded');
    expect(await local('remote.mid.url')).toEqual([]);
  });
});

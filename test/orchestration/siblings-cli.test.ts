/** `annexd siblings` as a user runs it: DataLad's list lines, --json records, errors and exit codes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { annexd, bareSibling, dataset, directoryRemote } from '../support/push.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await createSandbox();
});
afterAll(() => sandbox?.cleanup());

describe('annexd siblings', () => {
  it('lists, adds, configures and removes, with DataLad\'s lines and records', async () => {
    const ds = await dataset(sandbox, 'cli', { 'a.dat': 'a\n' });
    await directoryRemote(ds, sandbox, 'store');
    const origin = await bareSibling(sandbox, 'origin');
    const add = await annexd(ds, ['siblings', 'add', '--name', 'origin', '--url', origin, '--publish-depends', 'store']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe(`.: origin(+) [${origin} (git)] depends on: store\n`);
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    const list = await annexd(ds, ['siblings']);
    expect(list.stdout.split('\n').filter(Boolean).sort()).toEqual([`.: origin(+) [${origin} (git)] depends on: store`, '.: store(+) [directory]']);
    const json = await annexd(ds, ['siblings', 'list', '--json']);
    const records = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => r.name === 'origin')).toMatchObject({
      action: 'query-sibling',
      status: 'ok',
      type: 'sibling',
      url: origin,
      'annex-ignore': true,
      'datalad-publish-depends': ['store'],
      'annex-uuid': expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(records.find((r) => r.name === 'store')).toMatchObject({ 'annex-type': 'directory' });
    const conf = await annexd(ds, ['siblings', 'configure', '--name', 'origin', '--no-publish-depends', '--json']);
    expect(conf.code, conf.stderr).toBe(0);
    expect(JSON.parse(conf.stdout)).not.toHaveProperty('datalad-publish-depends');
    expect((await ds.run('git', ['config', '--get-all', 'remote.origin.datalad-publish-depends'])).stdout).toBe('');
    expect((await annexd(ds, ['siblings', 'remove', '--name', 'origin'])).stdout).toBe('remove-sibling(ok): origin\n');
    expect((await annexd(ds, ['siblings', 'remove', '--name', 'origin'])).stdout).toBe('remove-sibling(notneeded): origin [no sibling "origin"]\n');
  });

  it('bad input: one line each, exit 2 for usage and 1 for a refusal, JSON errors on stdout', async () => {
    const ds = await dataset(sandbox, 'clibad', { 'b.dat': 'b\n' });
    const noUrl = await annexd(ds, ['siblings', 'add', '--name', 'x']);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toBe('annexd: siblings add needs --url URL (see annexd siblings --help)\n');
    expect((await annexd(ds, ['siblings', 'frob'])).code).toBe(2);
    const unknown = await annexd(ds, ['siblings', 'add', '--name', 'x', '--url', '/x', '--publish-depends', 'ghost', '--json']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^annexd: unknown sibling\(s\) specified as publication dependency: ghost \(known: none\)\n$/);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ exitCode: 1, error: expect.stringMatching(/ghost/) });
    expect((await ds.run('git', ['config', '--get', 'remote.x.url'])).code).toBe(1);
    const bad = await annexd(ds, ['siblings', 'add', '--name', 'a b', '--url', '/x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/"a b" cannot be a sibling name/);
  });
});

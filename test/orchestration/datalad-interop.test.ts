/**
 * Interop with Debian's real DataLad (0.18.1, no datalad-next): a dataset
 * configured by `annexd siblings add --publish-depends` and pushed by
 * `datalad push`, and one configured by `datalad siblings add
 * --publish-depends` and pushed by `annexd push`, reach the same state: the
 * same configuration keys, refs, `git annex whereis` (here and in a fresh
 * clone of the published repository), and records with the same fields.
 * Storage siblings: annexd-s3 on the embedded S3 server, annexd-webdav on lighttpd.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { annexd, bareSibling, dataset, FIXED_DATES, pushJson, refOf, useStorageServers, whereis, type Rec } from '../support/push.js';
import { initS3Remote } from '../support/s3.js';
import { requireTool } from '../support/tools.js';
import { initDavRemote } from '../support/webdav.js';

const servers = useStorageServers();
beforeAll(() => {
  requireTool('datalad', 'apt-get install -y datalad');
});

const FILES = { 'data/one.dat': 'one\n', 'two.dat': 'two two\n', 'same.dat': 'one\n' };
const NAMES = ['data/one.dat', 'same.dat', 'two.dat'];

interface Side {
  ds: AnnexRepo;
  origin: string;
  bucket: string;
}

async function side(name: string): Promise<Side> {
  const ds = await dataset(servers.sandbox, name, FILES, 'a dataset\n');
  const bucket = await initS3Remote(ds, servers.s3, 's3');
  await initDavRemote(ds, servers.dav, 'dav');
  return { ds, origin: await bareSibling(servers.sandbox, `${name}-origin`), bucket };
}

/** Debian's datalad (#!/usr/bin/python3), in the dataset. */
const datalad = (ds: AnnexRepo, args: string[]) => ds.run('/usr/bin/datalad', args);

/** remote.origin.* as written, the UUID's value aside. */
async function originConfig(ds: AnnexRepo): Promise<string[]> {
  const r = await ds.ok('git', 'config', '--local', '--get-regexp', '^remote\\.origin\\.');
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => l.replace(/^(remote\.origin\.annex-uuid) .*/, '$1 UUID').replace(/ \/.*-origin-\d+\.git$/, ' URL'))
    .sort();
}

async function cloneWhereis(origin: string, name: string): Promise<Record<string, string[]>> {
  const clone = await AnnexRepo.clone(servers.sandbox, new AnnexRepo(origin, servers.sandbox.env), name);
  const out: Record<string, string[]> = {};
  // The storage siblings, and how many copies in all (the source dataset and origin are named differently on each side).
  for (const f of NAMES) {
    const where = await whereis(clone, f);
    out[f] = [...where.filter((d) => d === 's3' || d === 'dav'), `${where.length} copies`];
  }
  return out;
}

const publishLines = (text: string): string[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('publish(') && l.includes('refs/heads/main'))
    .sort();

const fieldsOf = (records: Rec[], action: string): string[] => [...new Set(records.filter((r) => r.action === action).map((r) => Object.keys(r).sort().join(',')))];

describe('DataLad interop: publish-depends written by one, pushed by the other', () => {
  let a: Side;
  let b: Side;

  it('annexd siblings add --publish-depends, then datalad push', async () => {
    a = await side('by-annexd');
    const add = await annexd(a.ds, ['siblings', 'add', '--name', 'origin', '--url', a.origin, '--publish-depends', 's3', '--publish-depends', 'dav']);
    expect(add.code, add.stderr).toBe(0);
    const r = await datalad(a.ds, ['push', '--to', 'origin']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^copy\(ok\): two\.dat \(file\) \[to s3\.\.\.\]$/m);
    expect(r.stdout).toMatch(/^copy\(ok\): two\.dat \(file\) \[to dav\.\.\.\]$/m);
    a.ds = Object.assign(a.ds, { lastOutput: r.stdout });
  });

  it('datalad siblings add --publish-depends, then annexd push', async () => {
    b = await side('by-datalad');
    const add = await datalad(b.ds, ['siblings', 'add', '-s', 'origin', '--url', b.origin, '--publish-depends', 's3', '--publish-depends', 'dav']);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const r = await annexd(b.ds, ['push', '--to', 'origin']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // The same lines DataLad printed for the branch.
    expect(publishLines(r.stdout)).toEqual(publishLines((a.ds as AnnexRepo & { lastOutput: string }).lastOutput));
    expect(publishLines(r.stdout)).toEqual(['publish(ok): . (dataset) [refs/heads/main->origin:refs/heads/main [new branch]]']);
  });

  it('both reach the same state', async () => {
    expect(await originConfig(a.ds)).toEqual(await originConfig(b.ds));
    expect(await originConfig(b.ds)).toEqual(
      expect.arrayContaining(['remote.origin.datalad-publish-depends dav', 'remote.origin.datalad-publish-depends s3', 'remote.origin.fetch +refs/heads/*:refs/remotes/origin/*']),
    );
    // Same steps, fixed dates: the same commit, published to both bare siblings.
    const head = await refOf(a.ds.path, 'HEAD', servers.sandbox.env);
    expect(await refOf(b.ds.path, 'HEAD', servers.sandbox.env)).toBe(head);
    expect(await refOf(a.origin, 'refs/heads/main', servers.sandbox.env)).toBe(head);
    expect(await refOf(b.origin, 'refs/heads/main', servers.sandbox.env)).toBe(head);
    for (const s of [a, b]) {
      expect(await refOf(s.origin, 'refs/heads/git-annex', servers.sandbox.env)).toBe(await refOf(s.ds.path, 'refs/heads/git-annex', servers.sandbox.env));
      for (const f of NAMES) expect(await whereis(s.ds, f)).toEqual(['dav', 'origin', 's3']);
      expect(await servers.s3.list(s.bucket)).toEqual([...new Set(await Promise.all(NAMES.map((f) => s.ds.key(f))))].sort());
    }
    // What a clone of each published repository learns from its git-annex branch.
    const ca = await cloneWhereis(a.origin, 'clone-a');
    expect(ca).toEqual(await cloneWhereis(b.origin, 'clone-b'));
    for (const f of NAMES) expect(ca[f]).toEqual(['dav', 's3', '4 copies']);
  });

  it('the next push: the same records, with the same fields, from both', async () => {
    for (const s of [a, b]) {
      await s.ds.write('three.dat', 'three\n');
      await s.ds.ok('git', 'annex', 'add', '--quiet', 'three.dat');
      await s.ds.okEnv(FIXED_DATES, 'git', 'commit', '-q', '-m', 'three');
    }
    const dl = await datalad(a.ds, ['-f', 'json', 'push', '--to', 'origin']);
    expect(dl.code, dl.stderr).toBe(0);
    const dlRecords = dl.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Rec);
    const ours = await pushJson(b.ds, ['--to', 'origin']);
    expect(ours.r.code, ours.r.stderr).toBe(0);
    for (const action of ['copy', 'publish']) expect(fieldsOf(ours.records, action)).toEqual(fieldsOf(dlRecords, action));
    const summary = (rs: Rec[]) => rs.map((r) => `${r.action} ${r.status} ${r.target} ${r.path.replace(/.*by-(annexd|datalad)/, '')} ${r.message?.replace(/[0-9a-f]{7}\.\.[0-9a-f]{7}/, 'X..Y')}`).sort();
    expect(summary(ours.records)).toEqual(summary(dlRecords));
    expect(await refOf(a.origin, 'refs/heads/main', servers.sandbox.env)).toBe(await refOf(b.origin, 'refs/heads/main', servers.sandbox.env));
    // And each pushes what the other configured, now with nothing left to do.
    const dlAgain = await datalad(b.ds, ['push', '--to', 'origin']);
    expect(dlAgain.code, dlAgain.stderr).toBe(0);
    expect(dlAgain.stdout).not.toMatch(/copy\(ok\)/);
    const oursAgain = await annexd(a.ds, ['push', '--to', 'origin']);
    expect(oursAgain.code, oursAgain.stderr).toBe(0);
    expect(oursAgain.stdout).toMatch(/^Everything is up to date$/m);
    expect(join(a.ds.path)).not.toBe(join(b.ds.path));
  });
});

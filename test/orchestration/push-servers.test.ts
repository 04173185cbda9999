/**
 * annexd push to storage siblings on real servers: annexd's S3 remote on the
 * embedded S3 server and its WebDAV remote on lighttpd, as two independent
 * publication dependencies of a bare git sibling; then the S3 server stopped.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AnnexRepo } from '../support/annex.js';
import { annexd, bareSibling, dataset, pushJson, recordPushes, refOf, useStorageServers, whereis } from '../support/push.js';
import { initS3Remote } from '../support/s3.js';
import { initDavRemote } from '../support/webdav.js';

const servers = useStorageServers();

async function davFiles(url: string): Promise<string[]> {
  const dir = join(servers.dav.root, new URL(url).pathname.replace(/^\/dav\//, ''));
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(e.name);
  return out.filter((n) => !n.startsWith('.')).sort();
}

describe('annexd push to S3 and WebDAV siblings', () => {
  let ds: AnnexRepo;
  let bucket: string;
  let davUrl: string;
  let origin: string;

  it('pushes content to both at once, then the refs; a no-op push after it', async () => {
    ds = await dataset(servers.sandbox, 'servers', { 'small.dat': 'small\n', 'big.bin': 'x'.repeat(3 * 1024 * 1024), 'nested/n.dat': 'n\n' });
    bucket = await initS3Remote(ds, servers.s3, 's3');
    davUrl = await initDavRemote(ds, servers.dav, 'dav');
    origin = await bareSibling(servers.sandbox, 'origin');
    const log = join(servers.sandbox.dir, 'servers.log');
    await recordPushes(origin, log, `find ${servers.dav.root} -type f -not -path '*/.annexd-tmp/*' | wc -l`);
    const add = await annexd(ds, ['siblings', 'add', '--name', 'origin', '--url', origin, '--publish-depends', 's3 dav', '--json']);
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ action: 'add-sibling', status: 'ok', 'datalad-publish-depends': ['s3', 'dav'] });
    await ds.ok('git', 'config', 'remote.origin.annex-ignore', 'true');

    const { r, records } = await pushJson(ds, ['--to', 'origin', '-J', '2']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const copies = records.filter((x) => x.action === 'copy' && x.status === 'ok');
    expect(copies.map((x) => `${x.target} ${x.path.slice(ds.path.length + 1)}`).sort()).toEqual([
      'dav big.bin',
      'dav nested/n.dat',
      'dav small.dat',
      's3 big.bin',
      's3 nested/n.dat',
      's3 small.dat',
    ]);
    for (const x of copies) expect(x).toMatchObject({ type: 'file', refds: ds.path, annexkey: expect.stringMatching(/^SHA256E-s\d+--/) });
    const keys = await Promise.all(['big.bin', 'nested/n.dat', 'small.dat'].map((f) => ds.key(f)));
    expect(await servers.s3.list(bucket)).toEqual([...keys].sort());
    expect(await davFiles(davUrl)).toEqual([...keys].sort());
    for (const f of ['big.bin', 'nested/n.dat', 'small.dat']) expect(await whereis(ds, f)).toEqual(['dav', 's3']);
    expect((await import('node:fs/promises').then((fs) => fs.readFile(log, 'utf8'))).trim()).toMatch(/^push 3 /);
    const pub = records.filter((x) => x.action === 'publish');
    expect(pub.map((x) => x.refspec).sort()).toEqual(['refs/heads/git-annex:refs/heads/git-annex', 'refs/heads/main:refs/heads/main']);
    expect(await refOf(origin, 'refs/heads/main', ds.env)).toBe(await refOf(ds.path, 'HEAD', ds.env));

    const again = await annexd(ds, ['push', '--to', 'origin']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Everything is up to date$/m);
  });

  it('an S3 export remote (exporttree=yes) gets the tree by path, before the refs', async () => {
    const ex = await dataset(servers.sandbox, 'export-s3', { 'top.dat': 'top\n', 'dir/in.dat': 'in\n' });
    const exBucket = await initS3Remote(ex, servers.s3, 's3x', ['exporttree=yes']);
    const exOrigin = await bareSibling(servers.sandbox, 'exorigin');
    await annexd(ex, ['siblings', 'add', '--name', 'origin', '--url', exOrigin, '--publish-depends', 's3x']);
    await ex.ok('git', 'config', 'remote.origin.annex-ignore', 'true');
    const { r, records } = await pushJson(ex, ['--to', 'origin']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await servers.s3.list(exBucket)).toEqual(['README.md', 'dir/in.dat', 'top.dat']);
    expect(records.filter((x) => x.target === 's3x').every((x) => x.action === 'copy' && x.status === 'ok')).toBe(true);
    expect(await refOf(exOrigin, 'refs/heads/main', ex.env)).toBe(await refOf(ex.path, 'HEAD', ex.env));
  });

  it('a stopped S3 server fails its copies and stops the git push; WebDAV still gets the content', async () => {
    await ds.write('later.dat', 'later\n');
    await ds.commitAll('later');
    await servers.s3.stop();
    const { r, records } = await pushJson(ds, ['--to', 'origin']);
    expect(r.code).toBe(1);
    expect(records.find((x) => x.target === 'dav' && x.action === 'copy')).toMatchObject({ status: 'ok', path: join(ds.path, 'later.dat') });
    const failed = records.find((x) => x.target === 's3' && x.action === 'copy');
    expect(failed?.status).toBe('error');
    expect(`${failed?.error_message ?? ''}${failed?.message ?? ''}`).toMatch(/connection refused|cannot reach/);
    expect(records.find((x) => x.action === 'publish')).toMatchObject({
      status: 'error',
      target: 'origin',
      message: expect.stringMatching(/^not pushed to 'origin': publication dependency 's3' failed/),
    });
    // origin still has the commit before.
    expect(await refOf(origin, 'refs/heads/main', ds.env)).toBe(await refOf(ds.path, 'HEAD~1', ds.env));
    const text = await annexd(ds, ['push', '--to', 'origin']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^copy\(error\): later\.dat \(file\) \[store failed: cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/m);
    expect(text.stdout).toMatch(/^publish\(error\): \. \(dataset\) \[not pushed to 'origin': publication dependency 's3' failed\]$/m);
  });
});

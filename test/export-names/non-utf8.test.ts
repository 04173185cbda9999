/**
 * Export names that are not valid UTF-8 (issue 14.5): Latin-1 names of old
 * datasets are exported byte for byte to WebDAV (a URL path can carry any
 * byte) and under a reversible, collision-free encoding to S3 and OSF, then
 * got back.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WireName } from '../../src/protocol/wire.js';
import { encodePathBytes, exportNameBytes, NON_UTF8_DIR, utf8ExportName } from '../../src/remotes/core/export-names.js';
import { AnnexRepo, createSandbox, initExternalRemote, type Sandbox } from '../support/annex.js';
import { initOsfRemote, startTestOsf, type TestOsf } from '../support/osf.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { DAV_KINDS, startTestDav, type TestDav } from '../support/webdav.js';

/** WebDAV servers that store any bytes; lighttpd's mod_webdav refuses names that are not UTF-8. */
const BYTE_SERVERS = DAV_KINDS.filter((k) => k !== 'lighttpd');

const name = (bytes: Buffer): WireName => new WireName(bytes.toString('latin1'));
const exportObjectName = (n: WireName): string => utf8ExportName(n, 'annexd-s3');
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The tree: two Latin-1 names one byte apart, the UTF-8 spelling of one, a name that looks like an encoding, a folder. */
const FILES: Array<[Buffer, Buffer]> = [
  [latin1('caf\xe9.txt'), Buffer.from('latin-1 e acute\n')],
  [latin1('caf\xe8.txt'), Buffer.from('latin-1 e grave\n')],
  [Buffer.from('café.txt', 'utf8'), Buffer.from('utf-8 e acute\n')],
  [Buffer.from('caf%E9.txt', 'utf8'), Buffer.from('a percent sign\n')],
  [latin1('d\xefr/\xff\xfe 100%.bin'), Buffer.from([0, 1, 2, 255])],
];

describe('name encodings', () => {
  it('WebDAV paths: byte-wise percent-encoding equals encodeURIComponent for UTF-8 names', () => {
    for (const text of ['README.md', 'raw/sub 1/scan ü.bin', "derived/100% [x] #1.txt", "a!b~c*d'e(f)g", 'snow ☃/日本.csv']) {
      expect(encodePathBytes(Buffer.from(text, 'utf8'))).toBe(text.split('/').map(encodeURIComponent).join('/'));
    }
    expect(encodePathBytes(latin1('caf\xe9/x y'))).toBe('caf%E9/x%20y');
  });

  it('S3 object names: UTF-8 as it is, other bytes under the reserved folder, reversible and collision-free', () => {
    const objects = FILES.map(([bytes]) => exportObjectName(name(bytes)));
    expect(objects).toEqual([
      `${NON_UTF8_DIR}/caf%E9.txt`,
      `${NON_UTF8_DIR}/caf%E8.txt`,
      'café.txt',
      'caf%E9.txt',
      `${NON_UTF8_DIR}/d%EFr/%FF%FE 100%25.bin`,
    ]);
    expect(new Set(objects).size).toBe(FILES.length);
    for (const [bytes] of FILES) expect(exportNameBytes(exportObjectName(name(bytes)))).toEqual(bytes);
    expect(() => exportObjectName(name(Buffer.from(`${NON_UTF8_DIR}/x`)))).toThrow(/keeps names that are not UTF-8 in \.annexd-non-utf8\//);
    expect(() => exportObjectName(name(latin1('../\xe9')))).toThrow(/must not contain "\." or "\.\." segments/);
  });
});

let sandbox: Sandbox;
let s3: TestS3;
let osf: TestOsf;
const davs: TestDav[] = [];

beforeAll(async () => {
  sandbox = await createSandbox();
  s3 = await startTestS3(sandbox.dir);
  osf = await startTestOsf(sandbox.dir);
  for (const kind of DAV_KINDS) davs.push(await startTestDav(kind, sandbox.dir));
});
afterAll(async () => {
  await s3?.stop();
  await osf?.stop();
  for (const d of davs) await d.stop();
  await sandbox?.cleanup();
});

/** A repository whose tree has FILES, under byte-exact names. */
async function repoWithFiles(label: string): Promise<AnnexRepo> {
  const repo = await AnnexRepo.create(sandbox, label);
  for (const [bytes, content] of FILES) {
    const path = Buffer.concat([Buffer.from(`${repo.path}/`), bytes]);
    const slash = path.lastIndexOf(0x2f);
    mkdirSync(path.subarray(0, slash), { recursive: true });
    writeFileSync(path, content);
  }
  await repo.commitAll();
  return repo;
}

/** Drops every file, gets it back from the export, and compares the bytes under the byte-exact names. */
async function getBackByteForByte(repo: AnnexRepo, remote: string): Promise<void> {
  await repo.ok('git', 'annex', 'drop', '--force', '.');
  await repo.ok('git', 'annex', 'get', '--from', remote, '.');
  for (const [bytes, content] of FILES) expect(readFileSync(Buffer.concat([Buffer.from(`${repo.path}/`), bytes]))).toEqual(content);
  const fsck = await repo.ok('git', 'annex', 'fsck', '--from', remote, '.');
  expect(fsck.stdout + fsck.stderr).not.toMatch(/fail/i);
}

describe('export trees with names that are not UTF-8', () => {
  it('annexd-s3: each name its own object, and back byte for byte', async () => {
    const repo = await repoWithFiles('s3names');
    const bucket = s3.bucket('names');
    await initExternalRemote(repo, 'annexd-s3', 'xs3', [`bucket=${bucket}`, `endpoint=${s3.endpoint}`, 'exporttree=yes', 'prefix=ds/'], s3.credsEnv);
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'xs3');
    expect(await s3.list(bucket)).toEqual(FILES.map(([b]) => `ds/${exportObjectName(name(b))}`).sort());
    await getBackByteForByte(repo, 'xs3');
  });

  it('annexd-osf: the same encoding as S3 (OSF names are JSON strings), folders removed with their encoded twins', async () => {
    const repo = await repoWithFiles('osfnames');
    const node = await initOsfRemote(repo, osf, 'xosf', ['exporttree=yes']);
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'xosf');
    const files = FILES.map(([b]) => exportObjectName(name(b)));
    const folders = ['.annexd-non-utf8/', '.annexd-non-utf8/d%EFr/'];
    expect(await osf.tree(node)).toEqual([...files, ...folders].sort());
    await getBackByteForByte(repo, 'xosf');
    // Removing the tree removes its folders, the encoded ones too; the reserved folder itself stays
    // (empty): removing it while another job may be uploading into it could lose that upload.
    await repo.ok('git', 'rm', '-q', '-r', '.');
    await repo.ok('git', 'commit', '-q', '-m', 'empty');
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'xosf');
    expect(await osf.tree(node)).toEqual(['.annexd-non-utf8/']);
  });

  it.each(BYTE_SERVERS)('annexd-webdav on %s: the server holds the exact bytes, and gives them back', async (kind) => {
    const dav = davs[DAV_KINDS.indexOf(kind)] as TestDav;
    const repo = await repoWithFiles(`dav-${kind}`);
    const url = dav.collection('names');
    await initExternalRemote(repo, 'annexd-webdav', 'xdav', [`url=${url}`, 'exporttree=yes'], dav.credsEnv);
    await repo.ok('git', 'annex', 'export', 'main', '--to', 'xdav');
    const dir = join(dav.root, new URL(url).pathname.replace(/^\/dav\//, ''));
    const top = readdirSync(dir, { encoding: 'buffer' }).map((b) => b.toString('latin1')).filter((n) => n !== '.annexd-tmp').sort();
    expect(top).toEqual(['caf%E9.txt', 'caf\xe8.txt', 'caf\xe9.txt', Buffer.from('café.txt').toString('latin1'), 'd\xefr'].sort());
    expect(readdirSync(Buffer.concat([Buffer.from(`${dir}/`), latin1('d\xefr')]), { encoding: 'buffer' }).map((b) => b.toString('latin1'))).toEqual(['\xff\xfe 100%.bin']);
    await getBackByteForByte(repo, 'xdav');
  });

  it('annexd-webdav on lighttpd (which refuses names that are not UTF-8): says so per file, exports the rest', async () => {
    const dav = davs[DAV_KINDS.indexOf('lighttpd')] as TestDav;
    const repo = await repoWithFiles('dav-lighttpd');
    await initExternalRemote(repo, 'annexd-webdav', 'xdav', [`url=${dav.collection('names')}`, 'exporttree=yes'], dav.credsEnv);
    const r = await repo.run('git', ['annex', 'export', 'main', '--to', 'xdav']);
    const out = r.stdout + r.stderr;
    expect(r.code).not.toBe(0);
    expect(out.match(/the server refuses the name \S+ \(HTTP 40[04]\): it does not take file names that are not valid UTF-8; rename the file to UTF-8, or use a WebDAV server that stores any bytes/g)?.length).toBeGreaterThanOrEqual(3);
    expect(out).not.toMatch(/not a WebDAV server/);
    // The UTF-8 names are there.
    const where = await repo.ok('git', 'annex', 'find', '--in', 'xdav');
    expect(where.stdout.split('\n').filter(Boolean).sort()).toEqual(['caf%E9.txt', 'café.txt']);
  });
});

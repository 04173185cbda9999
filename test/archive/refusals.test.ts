/**
 * Every refused case, through real git-annex: unsafe member paths (in the URL
 * and in the archive), links leaving the archive (tar symlinks and hard links,
 * zip symlinks), sizes that differ from size= or the key, decompression bombs
 * (ratio and total, tar and zip, and a bzip2 bomb stopped by the defaults),
 * malformed URLs, an archive key no remote has, corrupt and truncated
 * archives, unsupported formats. Each is one clear line naming the member or
 * what to fix, and leaves neither the file nor a partial download.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, truncate, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { annexArchive, expectRefused, fileFromUrl, initArchiveRemote, makeArchive, memberUrl, python, writeTree } from '../support/archive.js';
import { requireTool } from '../support/tools.js';

let sandbox: Sandbox;
let repo: AnnexRepo;
let n = 0;
const next = (): string => `f${n++}.txt`;

beforeAll(async () => {
  sandbox = await createSandbox();
  repo = await AnnexRepo.create(sandbox, 'refusals');
  await initArchiveRemote(repo);
});
afterAll(async () => sandbox?.cleanup());

/** Annexes an archive written by a Python program (tarfile / zipfile) that makes what no archiver makes on purpose. */
async function craft(name: string, program: string): Promise<string> {
  await python(repo.path, program.replace(/OUT/g, JSON.stringify(join(repo.path, name))));
  return annexArchive(repo, name);
}

const EVIL_TAR = `
import io, tarfile
def add(t, name, data=b'', kind=tarfile.REGTYPE, link=''):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open(OUT, 'w:gz', format=tarfile.GNU_FORMAT) as t:
    add(t, 'top/ok.txt', b'fine\\n')
    add(t, '/abs/evil.txt', b'evil\\n')
    add(t, 'top/passwd', kind=tarfile.SYMTYPE, link='/etc/passwd')
    add(t, 'top/up', kind=tarfile.SYMTYPE, link='../../outside.txt')
    add(t, 'top/hard', kind=tarfile.LNKTYPE, link='../outside.txt')
    add(t, 'top/loop1', kind=tarfile.SYMTYPE, link='loop2')
    add(t, 'top/loop2', kind=tarfile.SYMTYPE, link='loop1')
    add(t, 'top/dangling', kind=tarfile.SYMTYPE, link='nothing-here')
    add(t, 'top/dir', kind=tarfile.DIRTYPE)
`;

const EVIL_ZIP = `
import zipfile
with zipfile.ZipFile(OUT, 'w') as z:
    z.writestr('top/ok.txt', 'fine\\n')
    z.writestr('/abs/evil.txt', 'evil\\n')
    i = zipfile.ZipInfo('top/passwd'); i.create_system = 3; i.external_attr = 0o120777 << 16
    z.writestr(i, '/etc/passwd')
    i = zipfile.ZipInfo('top/up'); i.create_system = 3; i.external_attr = 0o120777 << 16
    z.writestr(i, '../../outside.txt')
`;

describe('unsafe paths and links', () => {
  for (const [format, program] of [
    ['tar.gz', EVIL_TAR],
    ['zip', EVIL_ZIP],
  ] as const) {
    it(`${format}: refuses absolute members and links that leave the archive, serves the rest`, async () => {
      const akey = await craft(`evil.${format}`, program);
      const ok = next();
      await fileFromUrl(repo, ok, 'fine\n', memberUrl(akey, 'top/ok.txt', 5));
      await repo.ok('git', 'annex', 'get', ok);
      expect(await readFile(join(repo.path, ok), 'utf8')).toBe('fine\n');

      const abs = next();
      const absKey = await fileFromUrl(repo, abs, `evil ${format}\n`, memberUrl(akey, 'abs/evil.txt'));
      await expectRefused(repo, abs, `refused member "/abs/evil.txt" of archive ${akey}: its path is absolute`, absKey);

      const passwd = next();
      const pk = await fileFromUrl(repo, passwd, `root:${format}\n`, memberUrl(akey, 'top/passwd'));
      await expectRefused(repo, passwd, `refused member "top/passwd" of archive ${akey}: it is a symbolic link to "/etc/passwd", which leaves the archive`, pk);

      const up = next();
      const uk = await fileFromUrl(repo, up, `outside ${format}\n`, memberUrl(akey, 'top/up'));
      await expectRefused(repo, up, `refused member "top/up" of archive ${akey}: it is a symbolic link to "../../outside.txt", which leaves the archive`, uk);
      // Nothing was written where the links point, nor where the absolute member names.
      for (const p of [join(repo.path, '..', 'outside.txt'), join(repo.path, 'outside.txt'), '/abs/evil.txt']) expect(existsSync(p), p).toBe(false);
    });
  }

  it('tar: refuses hard links leaving the archive, link loops, dangling links and directories', async () => {
    const akey = await craft('evil2.tar.gz', EVIL_TAR);
    const cases: Array<[string, string]> = [
      ['top/hard', 'it is a hard link to "../outside.txt", which leaves the archive'],
      ['top/loop1', 'links lead on through more than 16 members'],
      ['top/dangling', 'it is a link to "top/nothing-here", which is not in the archive'],
      ['top/dir', 'it is a directory, not a file'],
    ];
    for (const [member, why] of cases) {
      const f = next();
      const key = await fileFromUrl(repo, f, `content of ${f}\n`, memberUrl(akey, member));
      await expectRefused(repo, f, why, key);
    }
  });

  it('refuses URLs whose member path is absolute or has "..", before reading anything', async () => {
    const work = join(sandbox.dir, 'plain');
    await writeTree(work, { 'top/a.txt': 'aaa' });
    await makeArchive('tar', work, 'top', join(repo.path, 'plain.tar'));
    const akey = await annexArchive(repo, 'plain.tar');
    for (const path of ['/top/a.txt', 'top/../../a.txt']) {
      const f = next();
      const key = await fileFromUrl(repo, f, 'aaa', `dl+archive:${akey}#path=${path}&size=3`);
      await expectRefused(repo, f, `malformed archive URL dl+archive:${akey}#path=${path}&size=3: the member path "${path}" ${path.startsWith('/') ? 'is absolute' : 'contains ".."'}`, key);
    }
  });
});

describe('sizes', () => {
  it('refuses a member whose size differs from size= or from the key', async () => {
    const work = join(sandbox.dir, 'sizes');
    await writeTree(work, { 'top/ten.txt': '0123456789' });
    await makeArchive('tar.gz', work, 'top', join(repo.path, 'sizes.tar.gz'));
    const akey = await annexArchive(repo, 'sizes.tar.gz');
    const f1 = next();
    const k1 = await fileFromUrl(repo, f1, '01234', memberUrl(akey, 'top/ten.txt', 5));
    await expectRefused(repo, f1, `refused member "top/ten.txt" of archive ${akey}: it has 10 bytes but the URL (size=) says 5`, k1);
    const f2 = next();
    const k2 = await fileFromUrl(repo, f2, '0123456789a', memberUrl(akey, 'top/ten.txt', 10));
    await expectRefused(repo, f2, `refused member "top/ten.txt" of archive ${akey}: it has 10 bytes but the key ${k2} says 11`, k2);
  });
});

describe('decompression bombs', () => {
  it('refuses past maxratio= and maxtotal=, in tar.gz and zip, naming the member', async () => {
    const work = join(sandbox.dir, 'bomb');
    await writeTree(work, { 'top/small.txt': 'small\n', 'top/zeros.bin': Buffer.alloc(8 * 1024 * 1024) });
    await makeArchive('tar.gz', work, 'top', join(repo.path, 'bomb.tar.gz'));
    await makeArchive('zip', work, 'top', join(repo.path, 'bomb.zip'));
    const tkey = await annexArchive(repo, 'bomb.tar.gz');
    const zkey = await annexArchive(repo, 'bomb.zip');
    const zeros = Buffer.alloc(8 * 1024 * 1024);

    await repo.ok('git', 'annex', 'enableremote', 'arch', 'maxratio=10');
    const t = next();
    const tk = await fileFromUrl(repo, t, zeros, memberUrl(tkey, 'top/zeros.bin', zeros.length));
    await expectRefused(repo, t, new RegExp(`refused member "top/zeros.bin" of archive ${tkey}: the archive expands to more than [\\d.]+ (KiB|MiB) from [\\d.]+ KiB, over 10 times its compressed size \\(maxratio=10\\).*git annex enableremote REMOTE maxratio=`), tk);
    const z = next();
    const zk = await fileFromUrl(repo, z, zeros, memberUrl(zkey, 'top/zeros.bin', zeros.length));
    await expectRefused(repo, z, new RegExp(`refused member "top/zeros.bin" of zip archive ${zkey}: it expands from [\\d.]+ KiB to 8 MiB, over 10 times its compressed size \\(maxratio=10\\)`), zk);
    // The zip's small member is still served: the limit is per zip member.
    const zs = next();
    await fileFromUrl(repo, zs, 'small\n', memberUrl(zkey, 'top/small.txt', 6));
    await repo.ok('git', 'annex', 'get', zs);

    await repo.ok('git', 'annex', 'enableremote', 'arch', 'maxratio=2000', 'maxtotal=2MiB');
    await expectRefused(repo, t, 'more than maxtotal=2 MiB', tk);
    await expectRefused(repo, z, `refused member "top/zeros.bin" of zip archive ${zkey}: it expands from`, zk);
    await repo.ok('git', 'annex', 'enableremote', 'arch', 'maxtotal=100GiB');
    // Within the limits again, the same files are served.
    await repo.ok('git', 'annex', 'get', t, z);
    expect((await readFile(join(repo.path, t))).equals(zeros)).toBe(true);
  });

  it('stops a bzip2 bomb with the default limits', async () => {
    requireTool('truncate', 'apt-get install -y coreutils');
    const work = join(sandbox.dir, 'bz');
    await writeTree(work, { 'top/a.txt': 'a\n' });
    await repo.ok('truncate', '-s', '256M', join(work, 'top/zeros.bin'));
    await makeArchive('tar.bz2', work, 'top', join(repo.path, 'bomb.tar.bz2'));
    const akey = await annexArchive(repo, 'bomb.tar.bz2');
    const f = next();
    // The key claims a small file: git annex never has to hold 256 MiB for the test.
    const key = await fileFromUrl(repo, f, 'z', memberUrl(akey, 'top/zeros.bin', 256 * 1024 * 1024));
    await expectRefused(repo, f, new RegExp(`refused member "top/zeros.bin" of archive ${akey}: the archive expands to more than [\\d.]+ (KiB|MiB) from \\d+ B, over 2000 times`), key);
  });
});

describe('bad input', () => {
  it('names a malformed URL, an archive no remote has, and a member that is not there', async () => {
    const f1 = next();
    const k1 = await fileFromUrl(repo, f1, 'x', 'dl+archive:not-a-key#path=a&size=1');
    await expectRefused(repo, f1, 'malformed archive URL dl+archive:not-a-key#path=a&size=1: "not-a-key" is not a git-annex key', k1);
    const f2 = next();
    const k2 = await fileFromUrl(repo, f2, 'x', 'dl+archive:MD5E-s10--0123456789abcdef0123456789abcdef.tar#size=1');
    await expectRefused(repo, f2, 'it names no member: there is no path= and no KEY/MEMBER', k2);

    const ghost = 'MD5E-s1000--0123456789abcdef0123456789abcdef.tar.gz';
    const f3 = next();
    const k3 = await fileFromUrl(repo, f3, 'x', memberUrl(ghost, 'a.txt', 1));
    const out = await expectRefused(repo, f3, `cannot get archive ${ghost}, which holds "a.txt": git-annex says: not available`, k3);
    expect(out).toContain('no repository or remote is known to have it');

    const work = join(sandbox.dir, 'missing');
    await writeTree(work, { 'top/a.txt': 'a' });
    await makeArchive('tar.xz', work, 'top', join(repo.path, 'missing.tar.xz'));
    const akey = await annexArchive(repo, 'missing.tar.xz');
    const f4 = next();
    const k4 = await fileFromUrl(repo, f4, 'b', memberUrl(akey, 'top/b.txt', 1));
    await expectRefused(repo, f4, `archive ${akey} has no member "top/b.txt"`, k4);
  });

  /** Replaces the annexed content of a WORM-keyed archive (no checksum to stop it) in place. */
  async function damage(rel: string, how: (path: string) => Promise<void>): Promise<string> {
    await repo.ok('git', '-c', 'annex.backend=WORM', 'annex', 'add', '--quiet', rel);
    await repo.ok('git', 'commit', '-q', '-m', `add ${rel}`);
    const key = await repo.key(rel);
    const object = resolve(repo.path, (await repo.ok('git', 'annex', 'contentlocation', key)).stdout.trim());
    await chmod(join(object, '..'), 0o755);
    await chmod(object, 0o644);
    await how(object);
    return key;
  }

  it('names corrupt and truncated archives and formats it does not read', async () => {
    const work = join(sandbox.dir, 'damaged');
    await writeTree(work, { 'top/first.txt': 'first\n', 'top/random.bin': randomBytes(400_000) });
    for (const format of ['tar', 'tar.gz', 'tar.bz2', 'tar.xz'] as const) {
      await makeArchive(format, work, 'top', join(repo.path, `cut.${format}`));
      const cut = await damage(`cut.${format}`, async (p) => truncate(p, 3000));
      const f1 = next();
      const k1 = await fileFromUrl(repo, f1, `first ${format}\n`, memberUrl(cut, 'top/first.txt'));
      await expectRefused(repo, f1, `archive ${cut} is corrupt or truncated (`, k1);
    }

    await makeArchive('zip', work, 'top', join(repo.path, 'bad.zip'));
    const bad = await damage('bad.zip', async (p) => {
      const st = (await readFile(p)).length;
      const fh = await open(p, 'r+');
      await fh.write(Buffer.alloc(64, 0x41), 0, 64, st - 64);
      await fh.close();
    });
    const f2 = next();
    const k2 = await fileFromUrl(repo, f2, 'first\n', memberUrl(bad, 'top/first.txt', 6));
    await expectRefused(repo, f2, `archive ${bad} is corrupt or truncated (`, k2);

    requireTool('7z', 'apt-get install -y p7zip-full');
    await repo.ok('7z', 'a', '-bd', '-y', join(repo.path, 'x.7z'), join(work, 'top'));
    const seven = await annexArchive(repo, 'x.7z');
    const f3 = next();
    const k3 = await fileFromUrl(repo, f3, 'first\n', memberUrl(seven, 'top/first.txt', 6));
    await expectRefused(repo, f3, `archive ${seven} is a 7z archive: annexd reads tar, tar.gz, tar.bz2, tar.xz or zip`, k3);

    await writeFile(join(repo.path, 'notes.txt'), 'just some text, not an archive\n'.repeat(40));
    const text = await annexArchive(repo, 'notes.txt');
    const f4 = next();
    const k4 = await fileFromUrl(repo, f4, 'j', memberUrl(text, 'a', 1));
    await expectRefused(repo, f4, `archive ${text} is not an archive annexd reads: annexd reads tar, tar.gz, tar.bz2, tar.xz or zip`, k4);

    await repo.ok('sh', '-c', `printf 'hello world' | gzip > ${JSON.stringify(join(repo.path, 'plain.gz'))}`);
    const gz = await annexArchive(repo, 'plain.gz');
    const f5 = next();
    const k5 = await fileFromUrl(repo, f5, 'h', memberUrl(gz, 'a', 1));
    await expectRefused(repo, f5, `archive ${gz} is a gzip-compressed file that does not hold a tar archive`, k5);
  });
});

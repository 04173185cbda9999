/**
 * annexd-archive with real git-annex on archives made by the real tools, in
 * every format: addurl (CHECKURL + RETRIEVE), drop, get -J2, fsck, links
 * inside the archive, odd names, an empty member, keys without an extension
 * (the format comes from the bytes), and the legacy and atype= URL forms.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';
import { annexArchive, FORMATS, initArchiveRemote, makeArchive, memberUrl, writeTree } from '../support/archive.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await createSandbox();
});
afterAll(async () => sandbox?.cleanup());

const big = randomBytes(1536 * 1024 + 7);
const files: Record<string, string | Buffer> = {
  'top/one.txt': 'one one 1\n',
  'top/sub dir/two é+%.txt': 'two\n',
  'top/empty': '',
  'top/big.bin': big,
};

describe.each(FORMATS)('annexd-archive reads %s', (format) => {
  it('adds members by URL, drops them, gets them back with -J2 and fscks them', async () => {
    const work = join(sandbox.dir, `src-${format}`);
    await writeTree(work, { ...files, 'top/link': { link: 'one.txt' }, 'top/sub dir/up': { link: '../big.bin' } });
    if (format !== 'zip') await link(join(work, 'top/one.txt'), join(work, 'top/hard'));
    const repo = await AnnexRepo.create(sandbox, `repo-${format}`);
    await makeArchive(format, work, 'top', join(repo.path, 'archive.bin'));
    // A key without an extension: the remote must tell the format from the bytes.
    await repo.ok('git', 'config', 'annex.backend', 'SHA256');
    const akey = await annexArchive(repo, 'archive.bin');
    await repo.ok('git', 'config', 'annex.backend', 'SHA256E');
    await initArchiveRemote(repo);

    const members: Record<string, Buffer> = {
      ...Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])),
      'top/link': Buffer.from(files['top/one.txt'] as string),
      'top/sub dir/up': big,
    };
    if (format !== 'zip') members['top/hard'] = Buffer.from(files['top/one.txt'] as string);
    let n = 0;
    const names = new Map<string, string>();
    for (const [member, content] of Object.entries(members)) {
      const rel = `out/f${n++}`;
      names.set(rel, member);
      await repo.ok('git', 'annex', 'addurl', '--file', rel, memberUrl(akey, member, content.length));
      expect((await readFile(join(repo.path, rel))).equals(content), `${member} from addurl`).toBe(true);
    }
    await repo.ok('git', 'commit', '-q', '-m', 'members');
    const whereis = (await repo.ok('git', 'annex', 'whereis', 'out/f0')).stdout;
    expect(whereis).toContain('[arch]');
    expect(whereis).toContain(`arch: dl+archive:${akey}#path=top/one.txt&size=10`);

    await repo.ok('git', 'annex', 'drop', 'out');
    await repo.ok('git', 'annex', 'get', '-J2', 'out');
    for (const [rel, member] of names) {
      expect((await readFile(join(repo.path, rel))).equals(members[member] as Buffer), `${member} from get`).toBe(true);
    }
    await repo.ok('git', 'annex', 'fsck', '--from', 'arch', 'out');
  });
});

describe('URL forms', () => {
  it('reads the legacy KEY/path form and atype=, and answers CHECKURL without size= from the archive', async () => {
    const work = join(sandbox.dir, 'src-forms');
    await writeTree(work, files);
    const repo = await AnnexRepo.create(sandbox, 'repo-forms');
    await makeArchive('tar.gz', work, 'top', join(repo.path, 'a.tar.gz'));
    const akey = await annexArchive(repo, 'a.tar.gz');
    await initArchiveRemote(repo);
    await repo.ok('git', 'annex', 'addurl', '--file', 'legacy.txt', `dl+archive:${akey}/top/one.txt#size=10`);
    await repo.ok('git', 'annex', 'addurl', '--file', 'atype.txt', `dl+archive:${akey}#path=top/one.txt&size=10&atype=tar`);
    // No size=: CHECKURL reads the size from the archive, which is here.
    await repo.ok('git', 'annex', 'addurl', '--file', 'nosize.bin', `dl+archive:${akey}#path=top/big.bin`);
    // Python's quote_plus spelling of a name with a space, é, + and %.
    await repo.ok('git', 'annex', 'addurl', '--file', 'quoted.txt', `dl+archive:${akey}#path=top/sub+dir/two+%C3%A9%2B%25.txt&size=4`);
    expect(await readFile(join(repo.path, 'legacy.txt'), 'utf8')).toBe('one one 1\n');
    expect(await readFile(join(repo.path, 'atype.txt'), 'utf8')).toBe('one one 1\n');
    expect((await readFile(join(repo.path, 'nosize.bin'))).equals(big)).toBe(true);
    expect(await readFile(join(repo.path, 'quoted.txt'), 'utf8')).toBe('two\n');
    // Without --file, the file is named after the member.
    await repo.ok('git', 'annex', 'addurl', `dl+archive:${akey}#path=top/one.txt&size=10`);
    expect(await readFile(join(repo.path, 'one.txt'), 'utf8')).toBe('one one 1\n');
  });
});

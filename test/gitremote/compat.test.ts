/**
 * The deposit format against an independent implementation (test/gitremote/deposit.py,
 * Python's zipfile + LZMA as datalad-next uses them), and every bad input, on a
 * git-annex directory special remote.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { runLighttpd } from '../support/servers.js';
import { requireTool } from '../support/tools.js';
import { exec } from '../../src/util/exec.js';
import { commit, expectOneLine, git, gitOk, log, newRepo, python } from './helpers.js';

let sb: Sandbox;
beforeAll(async () => {
  sb = await createSandbox();
});
afterAll(async () => sb?.cleanup());

let n = 0;
async function store(): Promise<{ dir: string; url: string }> {
  const dir = join(sb.dir, `store-${++n}`);
  await mkdir(dir);
  return { dir, url: `datalad-annex::?type=directory&directory=${dir}&encryption=none` };
}

describe('deposits as datalad-next makes them', () => {
  it('clones a deposit written by Python (LZMA members), with every ref and HEAD', async () => {
    const src = await newRepo(sb, 'py-src', 'one', 'two');
    await gitOk(sb, src, 'tag', 'v1');
    await gitOk(sb, src, 'branch', 'side', 'HEAD~1');
    const bare = join(sb.dir, 'py-src.git');
    await gitOk(sb, sb.dir, 'clone', '-q', '--bare', src, bare);
    const s = await store();
    const w = await python(['write', bare, s.dir], sb.env);
    expect(w.code, w.stderr).toBe(0);
    const cl = join(sb.dir, 'py-clone');
    const r = await git(sb, sb.dir, 'clone', s.url, cl);
    expect(r.code, r.stderr).toBe(0);
    expect(await log(sb, cl)).toEqual(['two', 'one']);
    expect((await gitOk(sb, cl, 'rev-parse', 'origin/side', 'v1')).trim().split('\n')).toEqual([
      (await gitOk(sb, src, 'rev-parse', 'side')).trim(),
      (await gitOk(sb, src, 'rev-parse', 'v1')).trim(),
    ]);
    // and pushes on top of it, which Python then reads back
    await commit(sb, cl, 'three');
    const p = await git(sb, cl, 'push', 'origin', 'main');
    expect(p.code, p.stderr).toBe(0);
    const back = await python(['read', s.dir, join(sb.dir, 'py-read-1')], sb.env);
    expect(back.code, back.stderr).toBe(0);
    const j = JSON.parse(back.stdout) as { refs: string; mirror_refs: string; fsck: number };
    expect(j.refs).toContain(`${(await gitOk(sb, cl, 'rev-parse', 'HEAD')).trim()} refs/heads/main\n`);
    expect(j.refs.endsWith('@refs/heads/main HEAD\n')).toBe(true);
    expect(j.fsck).toBe(0);
  });

  it("annexd's own deposit is read back by the Python reader: refs file = the archive's refs, fsck clean", async () => {
    const s = await store();
    const src = await newRepo(sb, 'an-src', 'a', 'b');
    await gitOk(sb, src, 'remote', 'add', 'dep', s.url);
    const p = await git(sb, src, 'push', 'dep', 'main');
    expect(p.code, p.stderr).toBe(0);
    expect(existsSync(join(s.dir, '3f7', '4a3', 'XDLRA--refs', 'XDLRA--refs'))).toBe(true);
    expect(existsSync(join(s.dir, 'eb3', 'ca0', 'XDLRA--repo-export', 'XDLRA--repo-export'))).toBe(true);
    const r = await python(['read', s.dir, join(sb.dir, 'py-read-2')], sb.env);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { refs: string; mirror_refs: string; methods: number[]; names: string[]; fsck: number };
    expect(j.refs).toBe(`${(await gitOk(sb, src, 'rev-parse', 'main')).trim()} refs/heads/main\n@refs/heads/main HEAD\n`);
    expect(j.mirror_refs).toBe(j.refs);
    expect(j.methods).toContain(8);
    expect(j.names).toContain('HEAD');
    expect(j.names.some((x) => x.startsWith('hooks'))).toBe(false);
    expect(j.fsck).toBe(0);
  });
});

describe("Debian's DataLad (0.18.1, without datalad-next) through annexd's helper", () => {
  it('datalad push --to a datalad-annex sibling twice (the first and the second push datalad-osf users hit), then datalad clone', async () => {
    requireTool('datalad', 'apt-get install -y datalad');
    const s = await store();
    const ds = join(sb.dir, 'dl-ds');
    const dl = (cwd: string, ...args: string[]) => exec('/usr/bin/datalad', args, { cwd, env: sb.env });
    expect((await dl(sb.dir, 'create', ds)).code).toBe(0);
    await writeFile(join(ds, 'f.txt'), 'hello\n');
    expect((await dl(ds, 'save', '-m', 'first')).code).toBe(0);
    await gitOk(sb, ds, 'remote', 'add', 'dep', s.url);
    const p1 = await dl(ds, 'push', '--to', 'dep');
    expect(p1.code, p1.stdout + p1.stderr).toBe(0);
    expect(p1.stderr + p1.stdout).not.toMatch(/couldn't find remote refs|fatal/);
    await writeFile(join(ds, 'g.txt'), 'again\n');
    expect((await dl(ds, 'save', '-m', 'second')).code).toBe(0);
    const p2 = await dl(ds, 'push', '--to', 'dep');
    expect(p2.code, p2.stdout + p2.stderr).toBe(0);
    expect(p2.stderr + p2.stdout).not.toMatch(/fetch first|rejected/);
    const cl = join(sb.dir, 'dl-clone');
    const c = await dl(sb.dir, 'clone', s.url, cl);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect((await log(sb, cl))[0]).toBe('second');
    expect(await gitOk(sb, cl, 'branch', '-r')).toMatch(/origin\/git-annex/);
  });
});

describe('export-mode deposits (exporttree=yes) and plain HTTP, as datalad-next writes them: read', () => {
  let dir: string;
  beforeAll(async () => {
    const src = await newRepo(sb, 'ex-src', 'e1', 'e2');
    const bare = join(sb.dir, 'ex-src.git');
    await gitOk(sb, sb.dir, 'clone', '-q', '--bare', src, bare);
    dir = join(sb.dir, 'www', 'ds');
    await mkdir(dir, { recursive: true });
    const w = await python(['write', bare, dir, 'export'], sb.env);
    expect(w.code, w.stderr).toBe(0);
  });

  it('clones from a directory remote in export mode, and refuses to push there in one line', async () => {
    const url = `datalad-annex::?type=directory&directory=${dir}&encryption=none&exporttree=yes`;
    const cl = join(sb.dir, 'ex-clone');
    const r = await git(sb, sb.dir, 'clone', url, cl);
    expect(r.code, r.stderr).toBe(0);
    expect(await log(sb, cl)).toEqual(['e2', 'e1']);
    await commit(sb, cl, 'e3');
    const p = await git(sb, cl, 'push');
    expectOneLine(p, 'git-remote-datalad-annex', /does not push to export-mode deposits/);
    expect(await log(sb, cl)).toEqual(['e3', 'e2', 'e1']);
  });

  it('clones datalad-annex::http://… (type=web, read-only) from a plain web server (lighttpd)', async () => {
    const pid = join(sb.dir, 'web.pid');
    const www = join(sb.dir, 'www');
    const server = await runLighttpd(
      sb.dir,
      pid,
      (port) => `server.document-root = "${www}"\nserver.bind = "127.0.0.1"\nserver.port = ${port}\nserver.pid-file = "${pid}"\nserver.errorlog = "${sb.dir}/web-error.log"\n`,
      '/ds/.datalad/dotgit/refs',
    );
    try {
      const cl = join(sb.dir, 'web-clone');
      const r = await git({ env: { ...sb.env } }, sb.dir, 'clone', `datalad-annex::http://127.0.0.1:${server.port}/ds`, cl);
      expect(r.code, r.stderr).toBe(0);
      expect(await log(sb, cl)).toEqual(['e2', 'e1']);
      await commit(sb, cl, 'w3');
      expectOneLine(await git(sb, cl, 'push'), 'git-remote-datalad-annex', /read-only \(type=web/);
      const missing = await git(sb, sb.dir, 'clone', `datalad-annex::http://127.0.0.1:${server.port}/nothing-here`, join(sb.dir, 'web-none'));
      expect(missing.stderr).toMatch(/no dataset deposited at datalad-annex::http:\/\/127\.0\.0\.1:\d+\/nothing-here yet/);
    } finally {
      await server.stop();
    }
  });
});

describe('bad deposits and URLs: one line, nothing half made', () => {
  let good: { dir: string; url: string };
  beforeAll(async () => {
    good = await store();
    const src = await newRepo(sb, 'bad-src', 'x');
    const bare = join(sb.dir, 'bad-src.git');
    await gitOk(sb, sb.dir, 'clone', '-q', '--bare', src, bare);
    expect((await python(['write', bare, good.dir], sb.env)).code).toBe(0);
  });

  async function copyStore(): Promise<{ dir: string; url: string }> {
    const s = await store();
    await gitOk(sb, sb.dir, 'init', '-q', 'unused');
    await (await import('node:fs/promises')).cp(good.dir, s.dir, { recursive: true });
    return s;
  }

  for (const [kind, what] of [
    ['dotdot', /member "objects\/\.\.\/\.\.\/escaped" would escape/],
    ['absolute', /member "\/tmp\/annexd-escaped" is an absolute path/],
    ['symlink', /member "refs\/heads\/link" is a symbolic link/],
  ] as const) {
    it(`refuses a ZIP member that would escape (${kind}); no clone is left`, async () => {
      const s = await copyStore();
      expect((await python(['hostile', s.dir, kind], sb.env)).code).toBe(0);
      const cl = join(sb.dir, `hostile-${kind}`);
      const r = await git(sb, sb.dir, 'clone', s.url, cl);
      expectOneLine(r, 'git-remote-datalad-annex', what);
      expect(existsSync(cl)).toBe(false);
      expect(existsSync('/tmp/annexd-escaped')).toBe(false);
      expect(existsSync(join(sb.dir, 'escaped'))).toBe(false);
    });
  }

  it('never extracts hooks from a deposit, so none runs on the next push', async () => {
    const s = await copyStore();
    expect((await python(['hostile', s.dir, 'hook'], sb.env)).code).toBe(0);
    const cl = join(sb.dir, 'hostile-hook');
    const r = await git(sb, sb.dir, 'clone', s.url, cl);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(cl, '.git', 'annexd-gitremote', 'origin', 'mirror', 'hooks', 'pre-receive'))).toBe(false);
    await commit(sb, cl, 'after-hook');
    const p = await git(sb, cl, 'push');
    expect(p.code, p.stderr).toBe(0);
    expect(existsSync(join(sb.env.HOME!, 'hook-ran'))).toBe(false);
  });

  it('a truncated archive is "corrupt or truncated"; a fetch keeps the repository as it was', async () => {
    const s = await copyStore();
    const cl = join(sb.dir, 'trunc-clone');
    expect((await git(sb, sb.dir, 'clone', s.url, cl)).code).toBe(0);
    const before = await gitOk(sb, cl, 'for-each-ref');
    // a new deposit whose archive is cut
    const src2 = await newRepo(sb, 'trunc-src2', 'x', 'y');
    const bare2 = join(sb.dir, 'trunc-src2.git');
    await gitOk(sb, sb.dir, 'clone', '-q', '--bare', src2, bare2);
    expect((await python(['write', bare2, s.dir], sb.env)).code).toBe(0);
    const zip = join(s.dir, 'eb3', 'ca0', 'XDLRA--repo-export', 'XDLRA--repo-export');
    const size = (await readFile(zip)).length;
    await truncate(zip, Math.floor(size / 2));
    const r = await git(sb, cl, 'fetch');
    expectOneLine(r, 'git-remote-datalad-annex', /corrupt or truncated/);
    expect(await gitOk(sb, cl, 'for-each-ref')).toBe(before);
    // and the mirror is untouched too: the old state is still served
    expect((await git(sb, sb.dir, 'clone', good.url, join(sb.dir, 'trunc-again'))).code).toBe(0);
  });

  it('a truncated refs file is refused in one line', async () => {
    const s = await copyStore();
    const refs = join(s.dir, '3f7', '4a3', 'XDLRA--refs', 'XDLRA--refs');
    const text = await readFile(refs, 'utf8');
    await writeFile(refs, text.slice(0, 30));
    const r = await git(sb, sb.dir, 'clone', s.url, join(sb.dir, 'trunc-refs'));
    expectOneLine(r, 'git-remote-datalad-annex', /XDLRA--refs on the storage is corrupt or truncated|refs file .* (corrupt|truncated)/);
  });

  it('an empty deposit: clone says "no dataset deposited … yet"; the first push works', async () => {
    const s = await store();
    const cl = join(sb.dir, 'empty-clone');
    const r = await git(sb, sb.dir, 'clone', s.url, cl);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/git-remote-datalad-annex: no dataset deposited at datalad-annex::\?type=directory.* yet/);
    expect(r.stderr).toMatch(/cloned an empty repository/);
    await commit(sb, cl, 'first');
    const p = await git(sb, cl, 'push', 'origin', 'main');
    expect(p.code, p.stderr).toBe(0);
    expect(await log(sb, join(sb.dir, 'empty-reclone'), 'HEAD').catch(() => [])).toEqual([]);
    const again = await git(sb, sb.dir, 'clone', s.url, join(sb.dir, 'empty-reclone'));
    expect(again.code, again.stderr).toBe(0);
    expect(await log(sb, join(sb.dir, 'empty-reclone'))).toEqual(['first']);
  });

  it('--help for each program; run by hand without git: one line saying so', async () => {
    for (const [prog, text] of [
      ['git-remote-datalad-annex', /datalad-annex::\?type=/],
      ['git-remote-osf', /osf:\/\/ab12c/],
    ] as const) {
      const h = await exec(prog, ['--help'], { env: sb.env });
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(text);
      const bare = await exec(prog, ['origin', 'osf://ab12c'], { env: sb.env });
      expect(bare.code).toBe(1);
      expect(bare.stderr.trim()).toMatch(new RegExp(`^${prog}: GIT_DIR is not set: this program is run by git`));
    }
  });

  it('an unknown type, a missing parameter and storage that is not there: one line each', async () => {
    const a = await git(sb, sb.dir, 'clone', 'datalad-annex::?type=nosuchtype&encryption=none', join(sb.dir, 'u1'));
    expectOneLine(a, 'git-remote-datalad-annex', /initremote refused.*nosuchtype|[Uu]nknown .*type/);
    const b = await git(sb, sb.dir, 'clone', 'datalad-annex::?type=directory&encryption=none', join(sb.dir, 'u2'));
    expectOneLine(b, 'git-remote-datalad-annex', /initremote refused: Specify directory=/);
    const c = await git(sb, sb.dir, 'clone', `datalad-annex::?type=directory&directory=${join(sb.dir, 'nowhere')}&encryption=none`, join(sb.dir, 'u3'));
    expectOneLine(c, 'git-remote-datalad-annex', /nowhere/);
    const d = await git(sb, sb.dir, 'clone', 'osf://ab12c/sub', join(sb.dir, 'u4'));
    expectOneLine(d, 'git-remote-osf', /osf:\/\/ URLs name a whole node/);
    const e = await git(sb, sb.dir, 'clone', 'datalad-annex::?type={nope}', join(sb.dir, 'u5'));
    expectOneLine(e, 'git-remote-datalad-annex', /unknown placeholder \{nope\}/);
    for (const d2 of ['u1', 'u2', 'u3', 'u4', 'u5']) expect(existsSync(join(sb.dir, d2))).toBe(false);
  });
});

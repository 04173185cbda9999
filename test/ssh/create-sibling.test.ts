/**
 * annexd create-sibling against a real OpenSSH server on a loopback port:
 * the bare repository and git-annex on the host, the local sibling, then
 * git's own push and git-annex's own copy to it over OpenSSH's ssh; the
 * --existing modes; ~/.ssh/config; IPv6; paths the shell must not split.
 * (annexd push to such siblings: push.test.ts.)
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { useSshScene } from '../support/sshd.js';
import { BIN_DIR } from '../support/tools.js';

const scene = useSshScene({ 'big.dat': Buffer.alloc(300_000, 7), 'notes.txt': 'hello\n' });
const { annexd, gitIn, config, url } = scene;

describe('create-sibling over SSH', () => {
  it('creates a bare git-annex repository on the host and the sibling; git push and git annex copy then reach it', async () => {
    const remote = join(scene.sandbox.dir, 'srv', 'datasets', 'ds.git');
    const r = await annexd('create-sibling', url(remote), '-s', 'pub', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as Record<string, string>;
    expect(rec).toMatchObject({ action: 'create-sibling', status: 'ok', type: 'dataset', sibling_name: 'pub', operation: 'created', url: url(remote), path: scene.repo.path, git_reachable: true });
    // On the host: bare, initialised for git-annex, HEAD naming the local branch.
    expect(await gitIn(remote, 'config', '--bool', 'core.bare')).toBe('true');
    const uuid = await gitIn(remote, 'config', 'annex.uuid');
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(rec.annex_uuid).toBe(uuid);
    expect(await gitIn(remote, 'symbolic-ref', 'HEAD')).toBe('refs/heads/main');
    // Here: the sibling DataLad would write.
    expect(await config('remote.pub.url')).toBe(url(remote));
    expect(await config('remote.pub.fetch')).toBe('+refs/heads/*:refs/remotes/pub/*');
    expect(await config('remote.pub.annex-uuid')).toBe(uuid);
    expect(await config('remote.pub.annex-ignore')).not.toBe('true');

    // git's own ssh and git-annex's own ssh use it.
    await scene.repo.ok('git', 'push', '-q', 'pub', 'main');
    await scene.repo.ok('git', 'annex', 'copy', '--quiet', '--to', 'pub', 'big.dat', 'notes.txt');
    expect(await gitIn(remote, 'rev-parse', 'main')).toBe(await gitIn(scene.repo.path, 'rev-parse', 'main'));
    const key = await scene.repo.key('big.dat');
    const stored = await gitIn(remote, 'annex', 'contentlocation', key);
    expect((await readFile(join(remote, stored))).equals(Buffer.alloc(300_000, 7))).toBe(true);
    // And back: the content comes from the sibling after a drop.
    await scene.repo.ok('git', 'annex', 'drop', '--quiet', 'big.dat');
    await scene.repo.ok('git', 'annex', 'get', '--quiet', '--from', 'pub', 'big.dat');
    expect((await readFile(join(scene.repo.path, 'big.dat'))).equals(Buffer.alloc(300_000, 7))).toBe(true);
  });

  it('--existing error (default) refuses an existing sibling name and an existing path, changing nothing', async () => {
    const remote = join(scene.sandbox.dir, 'srv', 'exists.git');
    expect((await annexd('create-sibling', url(remote), '-s', 'twice')).code).toBe(0);
    const uuid = await gitIn(remote, 'config', 'annex.uuid');

    // Same name again: DataLad's message, before the host is asked.
    const again = await annexd('create-sibling', url(`${remote}-other`), '-s', 'twice');
    expect(again.code).toBe(1);
    expect(again.stdout).toContain("create-sibling(error): . (dataset) [sibling 'twice' already configured (specify alternative name, or force reconfiguration via --existing)]");
    expect(await config('remote.twice.url')).toBe(url(remote));
    expect(existsSync(`${remote}-other`)).toBe(false);

    // Another name, same path: the path exists.
    const path = await annexd('create-sibling', url(remote), '-s', 'other', '--json');
    expect(path.code).toBe(1);
    expect(JSON.parse(path.stdout)).toMatchObject({ status: 'error', operation: 'refused', sibling_name: 'other' });
    expect(JSON.parse(path.stdout).message).toContain(`Target path ${remote} already exists.`);
    expect(await config('remote.other.url')).toBeUndefined();
    expect(await gitIn(remote, 'config', 'annex.uuid')).toBe(uuid);
  });

  it('--existing skip leaves an existing sibling and an existing path alone (notneeded, exit 0)', async () => {
    const remote = join(scene.sandbox.dir, 'srv', 'skip.git');
    expect((await annexd('create-sibling', url(remote), '-s', 'skipme')).code).toBe(0);
    const name = await annexd('create-sibling', url(`${remote}-new`), '-s', 'skipme', '--existing', 'skip', '--json');
    expect(name.code).toBe(0);
    expect(JSON.parse(name.stdout)).toMatchObject({ status: 'notneeded', operation: 'skipped' });
    expect(existsSync(`${remote}-new`)).toBe(false);
    expect(await config('remote.skipme.url')).toBe(url(remote));

    const path = await annexd('create-sibling', url(remote), '-s', 'skip2', '--existing', 'skip');
    expect(path.code).toBe(0);
    expect(path.stdout).toMatch(/create-sibling\(notneeded\).*already exists\. Skipping/);
    expect(await config('remote.skip2.url')).toBeUndefined();
  });

  it('--existing reconfigure makes an existing repository the sibling (git-annex initialised if it was not), and refuses a path that is no repository', async () => {
    // A bare repository made by someone else, without git-annex.
    const remote = join(scene.sandbox.dir, 'srv', 'plain.git');
    await mkdir(remote, { recursive: true });
    await gitIn(remote, 'init', '--bare', '-q');
    const r = await annexd('create-sibling', url(remote), '-s', 'reconf', '--existing', 'reconfigure', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as Record<string, string>;
    expect(rec).toMatchObject({ status: 'ok', operation: 'reconfigured' });
    const uuid = await gitIn(remote, 'config', 'annex.uuid');
    expect(rec.annex_uuid).toBe(uuid);
    expect(await config('remote.reconf.annex-uuid')).toBe(uuid);

    // The sibling name exists now: reconfigure points it at another existing repository.
    const moved = join(scene.sandbox.dir, 'srv', 'moved.git');
    expect((await annexd('create-sibling', url(moved), '-s', 'elsewhere')).code).toBe(0);
    const again = await annexd('create-sibling', url(moved), '-s', 'reconf', '--existing', 'reconfigure');
    expect(again.code, again.stderr).toBe(0);
    expect(await config('remote.reconf.url')).toBe(url(moved));
    await scene.repo.ok('git', 'annex', 'copy', '--quiet', '--to', 'reconf', 'notes.txt');

    // A directory with files but no repository: never turned into one.
    const junk = join(scene.sandbox.dir, 'srv', 'junk');
    await mkdir(junk, { recursive: true });
    await writeFile(join(junk, 'keep.txt'), 'mine\n');
    const refused = await annexd('create-sibling', url(junk), '-s', 'junk', '--existing', 'reconfigure');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/already exists\. It is a directory with other files, not a git repository: nothing was changed/);
    expect(existsSync(join(junk, 'HEAD'))).toBe(false);
    expect(await readFile(join(junk, 'keep.txt'), 'utf8')).toBe('mine\n');
    expect(await config('remote.junk.url')).toBeUndefined();
  });

  it('--existing reconfigure initialises git-annex at the top of a work tree repository', async () => {
    const remote = join(scene.sandbox.dir, 'srv', 'worktree');
    await mkdir(remote, { recursive: true });
    await gitIn(remote, 'init', '-q');
    const r = await annexd('create-sibling', url(remote), '-s', 'wt', '--existing', 'reconfigure');
    expect(r.code, r.stderr).toBe(0);
    expect(await gitIn(remote, 'config', 'annex.uuid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(existsSync(join(remote, '.git', 'annex'))).toBe(true);
    expect(existsSync(join(remote, '.git', '.git'))).toBe(false);
    expect(await config('remote.wt.annex-uuid')).toBe(await gitIn(remote, 'config', 'annex.uuid'));
  });

  it('says how to finish when the repository was made but configuring the sibling fails', async () => {
    const remote = join(scene.sandbox.dir, 'srv', 'half.git');
    const r = await annexd('create-sibling', url(remote), '-s', 'half', '--annex-wanted', 'frobnicate');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`${remote.replace(/[.]/g, '\\.')} was created on .*, but configuring the sibling half failed: .*; after fixing that, run again with --existing reconfigure`));
    expect(await config('remote.half.url')).toBeUndefined();
    const again = await annexd('create-sibling', url(remote), '-s', 'half', '--existing', 'reconfigure', '--annex-wanted', 'include=*.dat');
    expect(again.code, again.stderr).toBe(0);
    expect((await scene.repo.ok('git', 'annex', 'wanted', 'half')).stdout.trim()).toBe('include=*.dat');
  });

  it('reads ~/.ssh/config for host:path (HostName, Port, User, HostKeyAlias, UserKnownHostsFile) and puts ~/ paths in the home directory', async () => {
    // The key is known only under the alias, in a file only the config names: both must be honoured.
    // ssh files a HostKeyAlias without the port.
    const aliasLine = scene.sshd.knownHostsLine.replace(`[127.0.0.1]:${scene.sshd.port}`, 'sshtest-key');
    const aliasFile = join(scene.client.sshDir, 'known_hosts_alias');
    await writeFile(aliasFile, `${aliasLine}\n`);
    await appendFile(scene.client.knownHosts, `${aliasLine}\n`); // for git's ssh, whose wrapper names this file
    await writeFile(
      join(scene.client.sshDir, 'config'),
      `Host sshtest\n  HostName 127.0.0.1\n  Port ${scene.sshd.port}\n  User ${scene.sshd.user}\n  HostKeyAlias sshtest-key\n  UserKnownHostsFile ${aliasFile}\n`,
    );
    // git's ssh reads the same config file (the last -F wins over the wrapper's -F /dev/null; OpenSSH ignores $HOME).
    const env = { GIT_SSH_COMMAND: `${scene.repo.env.GIT_SSH_COMMAND as string} -F '${join(scene.client.sshDir, 'config')}'` };
    // From a subdirectory: the dataset is the repository around it.
    await mkdir(join(scene.repo.path, 'sub'), { recursive: true });
    const r = await exec(join(BIN_DIR, 'annexd'), ['create-sibling', 'sshtest:~/home-ds.git', '--json'], { cwd: join(scene.repo.path, 'sub'), env: { ...scene.repo.env, ...env } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sibling_name: 'sshtest', url: 'sshtest:~/home-ds.git', host: `${scene.sshd.user}@127.0.0.1 port ${scene.sshd.port}`, path: scene.repo.path });
    const remote = join(scene.sshd.remoteHome, 'home-ds.git');
    expect(await gitIn(remote, 'config', '--bool', 'core.bare')).toBe('true');
    await scene.repo.okEnv(env, 'git', 'push', '-q', 'sshtest', 'main');
    expect(await gitIn(remote, 'rev-parse', 'main')).toBe(await gitIn(scene.repo.path, 'rev-parse', 'main'));
  });

  it('says when git\'s own ssh cannot reach the new sibling yet, and the sibling works once it can', async () => {
    const remote = join(scene.sandbox.dir, 'srv', 'ssh-differs.git');
    // OpenSSH as git runs it here knows no host key: it fails where annexd's connection worked.
    const blind = { GIT_SSH_COMMAND: 'ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null' };
    const r = await exec(join(BIN_DIR, 'annexd'), ['create-sibling', url(remote), '-s', 'blind', '--json'], { cwd: scene.repo.path, env: { ...scene.repo.env, ...blind } });
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as Record<string, string>;
    expect(rec.message).toContain(`; but git's ssh cannot reach it yet (Host key verification failed.): make "ssh -p ${scene.sshd.port} ${scene.sshd.user}@127.0.0.1 true" work`);
    expect(rec.git_reachable).toBe(false);
    expect(await config('remote.blind.annex-ignore')).not.toBe('true');
    expect(await config('remote.blind.annex-uuid')).toBe(await gitIn(remote, 'config', 'annex.uuid'));
    // With a working ssh, the sibling takes content without any further setup.
    await scene.repo.ok('git', 'annex', 'copy', '--quiet', '--to', 'blind', 'notes.txt');
  });

  it('reaches a host over IPv6 (ssh://[::1]:PORT/path, known_hosts [::1]:PORT)', async () => {
    await appendFile(scene.client.knownHosts, `${scene.sshd.knownHostsLine.replace('[127.0.0.1]', '[::1]')}\n`);
    const remote = join(scene.sandbox.dir, 'srv', 'v6.git');
    const v6 = `ssh://${scene.sshd.user}@[::1]:${scene.sshd.port}${remote}`;
    const r = await annexd('create-sibling', v6, '-s', 'v6', '--json');
    expect(r.code, `${r.stderr} (does this machine have an IPv6 loopback?)`).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ host: `${scene.sshd.user}@::1 port ${scene.sshd.port}`, git_reachable: true });
    await scene.repo.ok('git', 'push', '-q', 'v6', 'main');
    expect(await gitIn(remote, 'rev-parse', 'main')).toBe(await gitIn(scene.repo.path, 'rev-parse', 'main'));
  });

  it('creates a path with spaces, quotes and shell characters exactly where named', async () => {
    const remote = join(scene.sandbox.dir, 'srv', `it's a "dir" $HOME; touch pwned`, 'ds.git');
    const description = `it's "ours"; $HOME \`id\``;
    const r = await annexd('create-sibling', url(remote), '-s', 'odd', '--description', description);
    expect(r.code, r.stderr).toBe(0);
    expect(await gitIn(remote, 'config', '--bool', 'core.bare')).toBe('true');
    expect(await gitIn(remote, 'cat-file', '-p', 'git-annex:uuid.log')).toContain(`${await gitIn(remote, 'config', 'annex.uuid')} ${description} timestamp=`);
    expect(existsSync(join(scene.sshd.remoteHome, 'pwned'))).toBe(false);
    expect(existsSync(join(scene.sandbox.dir, 'srv', 'pwned'))).toBe(false);
  });
});

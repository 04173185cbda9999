/**
 * annexd push to siblings that annexd create-sibling made on a real OpenSSH
 * server: content to the SSH storage dependency first, then the git sibling;
 * and nothing pushed when git's ssh refuses the host or the host the key.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { useSshScene } from '../support/sshd.js';
import { BIN_DIR } from '../support/tools.js';

const scene = useSshScene({ 'big.dat': Buffer.alloc(300_000, 7), 'notes.txt': 'hello\n' });
const { annexd, gitIn, config, url } = scene;

describe('annexd push to SSH siblings', () => {
  it('annexd push publishes to siblings it made: the SSH storage dependency first, then the git sibling, content before refs', async () => {
    const storage = join(scene.sandbox.dir, 'srv', 'push-storage.git');
    const pub = join(scene.sandbox.dir, 'srv', 'push-pub.git');
    expect((await annexd('create-sibling', url(storage), '-s', 'p-storage')).code).toBe(0);
    const made = await annexd('create-sibling', url(pub), '-s', 'p-pub', '--publish-depends', 'p-storage');
    expect(made.code, made.stderr).toBe(0);
    expect(await config('remote.p-pub.datalad-publish-depends')).toBe('p-storage');

    const push = await annexd('push', '--to', 'p-pub', '--json');
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const records = push.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const key = await scene.repo.key('big.dat');
    for (const [name, remote] of [['p-storage', storage], ['p-pub', pub]] as const) {
      expect(records.some((r) => r.action === 'copy' && r.status === 'ok' && r.target === name), name).toBe(true);
      expect(records.some((r) => r.action === 'publish' && r.status === 'ok' && r.target === name), name).toBe(true);
      expect(await gitIn(remote, 'rev-parse', 'main')).toBe(await gitIn(scene.repo.path, 'rev-parse', 'main'));
      expect((await readFile(join(remote, await gitIn(remote, 'annex', 'contentlocation', key)))).length).toBe(300_000);
    }
    const at = (pred: (r: Record<string, unknown>) => boolean): number => records.findIndex(pred);
    expect(at((r) => r.action === 'copy' && r.target === 'p-storage')).toBeLessThan(at((r) => r.action === 'publish' && r.target === 'p-pub'));
    // Nothing left to do the second time.
    const again = await annexd('push', '--to', 'p-pub');
    expect(again.code, again.stderr).toBe(0);
  });

  it('annexd push to an SSH sibling whose host key git\'s ssh does not know, or that refuses its key, fails and pushes nothing', async () => {
    const storage = join(scene.sandbox.dir, 'srv', 'bad-storage.git');
    const pub = join(scene.sandbox.dir, 'srv', 'bad-pub.git');
    expect((await annexd('create-sibling', url(storage), '-s', 'b-storage')).code).toBe(0);
    expect((await annexd('create-sibling', url(pub), '-s', 'b-pub', '--publish-depends', 'b-storage')).code).toBe(0);
    const stranger = join(scene.sandbox.dir, 'stranger-key');
    await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const base = ['ssh', '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'GlobalKnownHostsFile=/dev/null'];
    const cases: Array<[string, string]> = [
      ['unknown host key', [...base, '-o', 'UserKnownHostsFile=/dev/null', '-i', scene.sshd.clientKey.path].join(' ')],
      ['wrong key', [...base, '-o', `UserKnownHostsFile=${scene.client.knownHosts}`, '-i', stranger].join(' ')],
    ];
    for (const [what, ssh] of cases) {
      const r = await exec(join(BIN_DIR, 'annexd'), ['push', '--to', 'b-pub'], { cwd: scene.repo.path, env: { ...scene.repo.env, GIT_SSH_COMMAND: ssh } });
      expect(r.code, what).toBe(1);
      // The git push waits for its dependency, which failed; ssh's own reason is named (git annex copy's
      // results say only "Transfer failed").
      expect(r.stdout, what).toMatch(what === 'unknown host key' ? /copy\(error\): .*Host key verification failed\./ : /copy\(error\): .*Permission denied/);
      expect(r.stdout, what).toContain("publish(error): . (dataset) [not pushed to 'b-pub': publication dependency 'b-storage' failed");
      // Nothing arrived anywhere: no refs, no content.
      for (const remote of [storage, pub]) {
        expect((await exec('git', ['rev-parse', '--verify', '-q', 'refs/heads/main'], { cwd: remote })).code, `${what}: ${remote}`).not.toBe(0);
        expect((await exec('git', ['annex', 'contentlocation', await scene.repo.key('big.dat')], { cwd: remote, env: scene.repo.env })).code, `${what}: ${remote}`).not.toBe(0);
      }
    }
  });
});

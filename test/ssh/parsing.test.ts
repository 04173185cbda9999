/**
 * The pieces create-sibling reads without a server: known_hosts (entries
 * written and hashed by the real ssh-keygen), SSH targets as git spells them,
 * ~/.ssh/config resolution, and the quoting of paths for the remote shell
 * (run through a real sh).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveHostConfig } from '../../src/orchestration/ssh/config.js';
import { checkHostKey, fingerprint, knownHostsName, knownKeyTypes, parseKnownHosts } from '../../src/orchestration/ssh/known-hosts.js';
import { shPath, shQuote } from '../../src/orchestration/ssh/quote.js';
import { parseSshTarget } from '../../src/orchestration/ssh/target.js';
import { exec } from '../../src/util/exec.js';
import { generateKey, type KeyPair } from '../support/sshd.js';

let dir: string;
let key: KeyPair;
let other: KeyPair;
const blob = (k: KeyPair): Buffer => Buffer.from(k.publicLine.split(' ')[1] as string, 'base64');
const typeAndKey = (k: KeyPair): string => k.publicLine.split(' ').slice(0, 2).join(' ');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'annexd-ssh-parse-'));
  key = await generateKey(join(dir, 'host'));
  other = await generateKey(join(dir, 'other'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('known_hosts', () => {
  it('computes the fingerprint ssh-keygen -l shows', async () => {
    const r = await exec('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key.path}.pub`]);
    expect(r.stdout).toContain(fingerprint(blob(key)));
  });

  it('matches host lists, wildcards and negations, and the [host]:port form only for its port', () => {
    const text = [
      `# comment`,
      `example.org,192.0.2.7 ${typeAndKey(key)}`,
      `*.lab.example !bad.lab.example ${typeAndKey(key)}`.replace(' !bad', ',!bad'),
      `[git.example]:2222 ${typeAndKey(key)}`,
    ].join('\n');
    const entries = parseKnownHosts(text, 'kh');
    const status = (host: string, port = 22): string => checkHostKey(entries, knownHostsName(host, port), blob(key)).status;
    expect(status('example.org')).toBe('known');
    expect(status('EXAMPLE.org')).toBe('known');
    expect(status('192.0.2.7')).toBe('known');
    expect(status('a.lab.example')).toBe('known');
    expect(status('bad.lab.example')).toBe('unknown');
    expect(status('git.example', 2222)).toBe('known');
    expect(status('git.example')).toBe('unknown');
    expect(status('example.org', 2222)).toBe('unknown');
    expect(knownHostsName('Host', 22)).toBe('host');
    expect(knownHostsName('host', 2222)).toBe('[host]:2222');
  });

  it('tells a changed key from an unknown host, and a host known only by another key type', () => {
    const entries = parseKnownHosts(`example.org ${typeAndKey(other)}\nrsa.example ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7\n`, 'kh');
    const changed = checkHostKey(entries, knownHostsName('example.org', 22), blob(key));
    expect(changed).toMatchObject({ status: 'changed', entries: [{ file: 'kh', line: 1 }] });
    expect(checkHostKey(entries, knownHostsName('rsa.example', 22), blob(key))).toEqual({ status: 'unknown', otherTypes: ['ssh-rsa'] });
    expect(knownKeyTypes(entries, 'rsa.example')).toEqual(['ssh-rsa']);
  });

  it('reads entries hashed by ssh-keygen -H, for port 22 and other ports', async () => {
    const file = join(dir, 'known_hosts');
    await writeFile(file, `example.org ${typeAndKey(key)}\n[example.org]:2200 ${typeAndKey(other)}\n`);
    const r = await exec('ssh-keygen', ['-H', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('example.org');
    const entries = parseKnownHosts(text, file);
    expect(checkHostKey(entries, knownHostsName('example.org', 22), blob(key)).status).toBe('known');
    expect(checkHostKey(entries, knownHostsName('example.org', 2200), blob(other)).status).toBe('known');
    expect(checkHostKey(entries, knownHostsName('example.org', 2200), blob(key)).status).toBe('changed');
    expect(checkHostKey(entries, knownHostsName('example.net', 22), blob(key)).status).toBe('unknown');
  });

  it('refuses @revoked keys whatever else is said, and skips @cert-authority lines', () => {
    const entries = parseKnownHosts(`example.org ${typeAndKey(key)}\n@revoked * ${typeAndKey(key)}\n@cert-authority *.example ${typeAndKey(other)}\n`, 'kh');
    expect(checkHostKey(entries, knownHostsName('example.org', 22), blob(key)).status).toBe('revoked');
    expect(checkHostKey(entries, knownHostsName('a.example', 22), blob(other)).status).toBe('unknown');
  });
});

describe('SSH targets', () => {
  it('reads git\'s two spellings', () => {
    expect(parseSshTarget('ssh://me@host:2222/srv/ds.git')).toMatchObject({ host: 'host', user: 'me', port: 2222, path: '/srv/ds.git' });
    expect(parseSshTarget('ssh://host/~/ds')).toMatchObject({ host: 'host', user: undefined, port: undefined, path: '~/ds' });
    expect(parseSshTarget('ssh://[::1]:22/x')).toMatchObject({ host: '::1', port: 22, path: '/x' });
    expect(parseSshTarget('me@host:datasets/ds.git')).toMatchObject({ host: 'host', user: 'me', port: undefined, path: 'datasets/ds.git' });
    expect(parseSshTarget('host:/abs/path')).toMatchObject({ host: 'host', path: '/abs/path' });
    expect(parseSshTarget('me@[fe80::1]:ds')).toMatchObject({ host: 'fe80::1', path: 'ds' });
    expect(parseSshTarget('host:~/x').url).toBe('host:~/x');
  });

  it('refuses local paths, other schemes and missing paths with the spelling to use', () => {
    expect(() => parseSshTarget('./dir:x')).toThrow(/not an SSH target \(a local path\?\)/);
    expect(() => parseSshTarget('/abs')).toThrow(/use \[user@\]host:path or ssh:\/\/\[user@\]host\[:port\]\/path/);
    expect(() => parseSshTarget('http://host/x')).toThrow(/not an SSH target/);
    expect(() => parseSshTarget('ssh://host')).toThrow(/names no path on host/);
    expect(() => parseSshTarget('host:')).toThrow(/names no path on host/);
  });
});

describe('~/.ssh/config', () => {
  it('takes the first value per setting from every matching Host block, ignoring Match blocks', () => {
    const text = `
IdentityFile ~/.ssh/global
Host *.example !skip.example
  User first
  Port 2200
Host box.example
  HostName 10.0.0.5
  User second
  IdentityFile ~/.ssh/box
  IdentitiesOnly yes
Match host box.example
  Port 9999
Host *
  Port 22
  UserKnownHostsFile ~/.ssh/kh1 ~/.ssh/kh2
`;
    expect(resolveHostConfig(text, 'box.example')).toEqual({
      hostName: '10.0.0.5',
      user: 'first',
      port: 2200,
      identityFiles: ['~/.ssh/global', '~/.ssh/box'],
      identitiesOnly: true,
      userKnownHostsFiles: ['~/.ssh/kh1', '~/.ssh/kh2'],
    });
    const skipped = resolveHostConfig(text, 'skip.example');
    expect(skipped.user).toBeUndefined();
    expect(skipped.port).toBe(22);
    expect(resolveHostConfig('Host=a\n  Port=7\n', 'a').port).toBe(7);
    expect(resolveHostConfig('Host a\n  HostKeyAlias a-key\n  ConnectTimeout 3\n', 'a')).toMatchObject({ hostKeyAlias: 'a-key', connectTimeout: 3 });
    expect(resolveHostConfig('Host a\n  ProxyJump bastion\n', 'a').proxy).toBe('ProxyJump bastion');
    expect(resolveHostConfig('Host a\n  ProxyCommand none\nHost *\n  ProxyJump x\n', 'a').proxy).toBe('');
  });
});

describe('quoting for the remote shell', () => {
  it('keeps every character of a path, and ~ expands only as a prefix', async () => {
    const nasty = [`it's "x" $HOME \`id\` ; rm -rf / & | > <`, '-starts-with-dash', 'tab\there', 'new\nline', 'x~y', 'a/~/b', '/abs/~'];
    for (const p of nasty) {
      const r = await exec('sh', ['-c', `printf %s ${shQuote(p)}`]);
      expect(r.stdout).toBe(p);
      const q = await exec('sh', ['-c', `printf %s ${shPath(p)}`], { env: { ...process.env, HOME: '/home/h' } });
      expect(q.stdout).toBe(p);
    }
    const home = async (p: string): Promise<string> => (await exec('sh', ['-c', `printf %s ${shPath(p)}`], { env: { ...process.env, HOME: '/home/h' } })).stdout;
    expect(await home('~/my dir/$x')).toBe('/home/h/my dir/$x');
    expect(await home('~')).toBe('/home/h/');
    expect(await home('~root/x y')).toBe('/root/x y');
  });
});

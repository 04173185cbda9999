#!/usr/bin/env node
/**
 * `annexd create-sibling` versus Debian's `datalad create-sibling` for the
 * same work: a new sibling on an SSH host (repository, git annex init,
 * local configuration), against one OpenSSH server on a loopback port started
 * here (its own host key, sshd_config and authorized_keys; DataLad's and
 * git's ssh get the same key and known_hosts through a wrapper). Each run
 * makes a fresh path and name for each tool; the order alternates.
 *
 *   node bench/create-sibling.mjs [--repeat N] [--keep]     (--help; bench/README.md)
 *
 * Writes its table also to bench/out/create-sibling-<timestamp>.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as lib from './lib.mjs';

const { BenchError, fmt, log, median } = lib;
const SCRIPT = 'bench/create-sibling.mjs';
const TOOLS = ['annexd', 'datalad'];
const SSHD = '/usr/sbin/sshd';

const { opts } = lib.parseArgs(SCRIPT);
const repeat = Math.max(opts.repeat, 5);

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

async function startSshd(dir, env) {
  mkdirSync(dir, { recursive: true });
  for (const k of ['host_key', 'id_client']) await lib.run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, k)], { env });
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'id_client.pub')));
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${path.join(dir, 'host_key')}`, `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`, 'StrictModes no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
      'UsePAM no', 'PermitRootLogin prohibit-password', `SetEnv HOME=${env.HOME}`, ''].join('\n'),
  );
  const child = spawn(SSHD, ['-D', '-f', config, '-E', path.join(dir, 'sshd.log')], { stdio: 'ignore' });
  lib.trackServer(child);
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('data', (d) => (sock.destroy(), resolve(String(d).startsWith('SSH-'))));
      sock.once('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null) throw new BenchError(`sshd exited: ${readFileSync(path.join(dir, 'sshd.log'), 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const hostKey = readFileSync(path.join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  return { port, hostKey, clientKey: path.join(dir, 'id_client') };
}

async function main() {
  const info = lib.preflight([path.join(lib.ROOT, 'dist', 'orchestration', 'ssh', 'create-sibling.js')], path.join(lib.BIN, 'annexd'));
  if (!existsSync(SSHD)) throw new BenchError(`${SSHD} is missing: apt-get install openssh-server`);
  const d = await lib.run('sh', ['-c', 'command -v datalad'], { allowFail: true });
  if (d.code !== 0) throw new BenchError('datalad is not installed: apt-get install datalad');

  const { scratch, home, repo, env } = lib.makeScratch('create-sibling', ['DATALAD_', 'ANNEXD_', 'SSH_AUTH_SOCK', 'GIT_SSH']);
  const server = await startSshd(path.join(scratch, 'sshd'), env);
  const sshDir = path.join(home, '.ssh');
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  const knownHosts = path.join(sshDir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${server.hostKey}\n`);
  writeFileSync(path.join(sshDir, 'id_ed25519'), readFileSync(server.clientKey), { mode: 0o600 });
  // OpenSSH takes ~ from the password database, not $HOME: one wrapper with the same key and known_hosts for git, git-annex and DataLad.
  const wrapper = path.join(sshDir, 'ssh-bench');
  writeFileSync(wrapper, `#!/bin/sh\nexec ssh -F /dev/null -i ${server.clientKey} -o IdentitiesOnly=yes -o UserKnownHostsFile=${knownHosts} -o BatchMode=yes "$@"\n`, { mode: 0o755 });
  const runEnv = { ...env, GIT_SSH_COMMAND: wrapper, GIT_ANNEX_USE_GIT_SSH: '1', DATALAD_SSH_EXECUTABLE: wrapper };
  const { git } = await lib.initRepo(repo, runEnv);
  writeFileSync(path.join(repo, 'README'), 'bench\n');
  await git(['annex', 'add', '--quiet', 'README']);
  await git(['commit', '-q', '-m', 'bench']);

  const user = os.userInfo().username;
  const url = (name) => `ssh://${user}@127.0.0.1:${server.port}${path.join(scratch, 'srv', name)}`;
  const results = { annexd: [], datalad: [] };
  for (let rep = 0; rep < repeat; rep++) {
    for (const tool of rep % 2 === 0 ? TOOLS : [...TOOLS].reverse()) {
      const name = `${tool}${rep}`;
      log(`run ${rep + 1}/${repeat}: ${tool} create-sibling ${url(name)}`);
      const r =
        tool === 'annexd'
          ? await lib.run(path.join(lib.BIN, 'annexd'), ['create-sibling', url(name), '-s', name], { cwd: repo, env: runEnv })
          : await lib.run('datalad', ['create-sibling', '-s', name, url(name)], { cwd: repo, env: runEnv });
      const uuid = (await git(['config', `remote.${name}.annex-uuid`], { allowFail: true })).stdout.trim();
      if (!uuid && tool === 'annexd') throw new BenchError(`${tool} left no remote.${name}.annex-uuid`);
      if (!existsSync(path.join(scratch, 'srv', name))) throw new BenchError(`${tool} made nothing at ${url(name)}`);
      results[tool].push(r.ms);
    }
  }
  return { info, results };
}

function report({ info, results }) {
  const a = median(results.annexd);
  const d = median(results.datalad);
  const md = [
    `# annexd vs DataLad: create-sibling over SSH — ${new Date().toISOString()}`,
    '',
    `- command: \`node ${SCRIPT}${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}\` (median of ${repeat} runs; order alternates)`,
    `- annexd ${info.revision}; git-annex ${info.gitAnnexVersion}; node ${process.version}; ${os.cpus().length} CPUs`,
    '- one OpenSSH server on 127.0.0.1; each run a new path and sibling name per tool; DataLad makes a non-bare repository, annexd a bare one; both run git annex init there and write the sibling',
    '',
    '| Measurement | annexd | datalad | annexd / datalad |',
    '|---|---|---|---|',
    `| create-sibling, whole command | ${fmt.s(a)} | ${fmt.s(d)} | ${(a / d).toFixed(2)} |`,
    '',
    `Samples (seconds): annexd ${fmt.secs(results.annexd)}; datalad ${fmt.secs(results.datalad)}`,
    '',
  ].join('\n');
  lib.writeReport('create-sibling', new Date(), md);
}

await lib.runBench(SCRIPT, opts, main, report);

#!/usr/bin/env node
/**
 * annexd-s3 versus git-annex's built-in S3 remote, side by side, against ONE
 * embedded s3rver process (two buckets). Plain Node ESM, built-ins only.
 *
 *   node bench/s3.mjs [--quick] [--repeat N] [--extra] [--keep]
 *
 * --quick     256 MiB big file and 200 small files (default 1 GiB and 1000)
 * --repeat N  run every measurement N times and report the median (default 1)
 * --extra     also time the big store with two diagnostic remotes: annexd with
 *             a single PUT (multipartthreshold=100GiB) and the built-in remote
 *             with multipart (partsize=32MiB); shown as context only
 * --keep      keep the scratch directory (for debugging)
 *
 * Prints a table (absolute figures, annexd / built-in ratios, PASS/MISS next to
 * the targets) and writes the same as Markdown to bench/out/s3-<timestamp>.md.
 * See bench/README.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomFillSync } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin');
const REMOTE_PROGRAM = path.join(BIN, 'git-annex-remote-annexd-s3');
const SERVER_MAIN = path.join(ROOT, 'dist', 'demo', 's3-server-main.js');
const REMOTE_MAIN = path.join(ROOT, 'dist', 'remotes', 's3', 'main.js');
const OUT_DIR = path.join(ROOT, 'bench', 'out');
const MiB = 1024 * 1024;
const CMD_TIMEOUT_MS = 30 * 60_000;
const REMOTES = ['annexd', 'builtin'];
/** --extra: diagnostic variants for the big store only. */
const EXTRA_REMOTES = ['annexd-single', 'builtin-mp'];

// ---------------------------------------------------------------- arguments

function usage(code) {
  process.stdout.write(
    'usage: node bench/s3.mjs [--quick] [--repeat N] [--extra] [--keep]\n' +
      '  --quick     256 MiB big file and 200 small files (default: 1 GiB and 1000 x 4 KiB)\n' +
      '  --repeat N  repeat every measurement N times and report the median (default 1)\n' +
      '  --extra     also time the big store with annexd single-PUT and built-in multipart remotes\n' +
      '  --keep      do not delete the scratch directory at the end\n',
  );
  process.exit(code);
}

const opts = { quick: false, repeat: 1, keep: false, extra: false };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--keep') opts.keep = true;
    else if (a === '--extra') opts.extra = true;
    else if (a === '--repeat' || a.startsWith('--repeat=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      opts.repeat = Number(v);
      if (!Number.isInteger(opts.repeat) || opts.repeat < 1) {
        process.stderr.write(`bench/s3.mjs: --repeat needs a positive integer, got "${v}"\n`);
        process.exit(2);
      }
    } else if (a === '--help' || a === '-h') usage(0);
    else {
      process.stderr.write(`bench/s3.mjs: unknown argument "${a}"\n`);
      usage(2);
    }
  }
}
const BIG_BYTES = opts.quick ? 256 * MiB : 1024 * MiB;
const SMALL_COUNT = opts.quick ? 200 : 1000;
const SMALL_BYTES = 4096;
const STARTUP_RUNS = 20;
const bigLabel = BIG_BYTES >= 1024 * MiB ? `${BIG_BYTES / 1024 / MiB} GiB` : `${BIG_BYTES / MiB} MiB`;

// ------------------------------------------------------------------ helpers

class BenchError extends Error {}

function log(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Processes we started and that may still be running: killed on failure. */
const running = new Set();

/**
 * Runs a command, returns { ms, code, stdout, stderr }; wall clock from spawn to
 * exit. `onSpawn(pid)` runs right after spawn (used to start the RSS poller).
 */
function run(cmd, args, { cwd, env, allowFail = false, onSpawn, fullStderr = false, timeoutMs = CMD_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let child;
    try {
      child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      reject(err);
      return;
    }
    running.add(child);
    const hook = onSpawn && child.pid ? onSpawn(child.pid) : undefined;
    const keep = (buf, chunk, all = false) => {
      const b = buf + chunk.toString();
      return !all && b.length > 65536 ? b.slice(-65536) : b;
    };
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout = keep(stdout, c)));
    child.stderr.on('data', (c) => (stderr = keep(stderr, c, fullStderr)));
    const timer = setTimeout(() => {
      stderr += `\n[bench: killed after ${timeoutMs / 1000} s]`;
      child.kill('SIGTERM');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      hook?.stop();
      reject(err.code === 'ENOENT' ? new BenchError(`"${cmd}" not found on PATH`) : err);
    });
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      running.delete(child);
      const extra = hook?.stop();
      const res = { ms, code, signal, stdout, stderr, ...extra };
      if ((code !== 0 || signal) && !allowFail) {
        const tail = (stderr.trim() || stdout.trim()).split('\n').slice(-15).join('\n');
        reject(
          new BenchError(
            `command failed (${signal ?? 'exit ' + code}): ${cmd} ${args.join(' ')}\n  in ${cwd ?? process.cwd()}\n${tail}`,
          ),
        );
      } else resolve(res);
    });
  });
}

// ------------------------------------------------------ peak RSS via /proc

/** Parent pid from /proc/PID/stat (the field after the parenthesised comm). */
function ppidOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function isDescendant(pid, rootPid) {
  let p = pid;
  for (let i = 0; i < 64 && p && p > 1; i++) {
    if (p === rootPid) return true;
    p = ppidOf(p);
  }
  return false;
}

function vmHwmKb(pid) {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Polls /proc every ~50 ms while a command runs, for processes below `rootPid`
 * (so other people's remotes on the same machine are not counted): the max
 * VmHWM of those whose cmdline contains git-annex-remote-annexd-s3, and of
 * git-annex itself (comm "git-annex"), in kB.
 */
function rssPoller(rootPid) {
  const descendant = new Map(); // pid -> boolean
  const peak = { annexdKb: 0, gitAnnexKb: 0, annexdProcs: new Set() };
  const tick = () => {
    let names;
    try {
      names = readdirSync('/proc');
    } catch {
      return;
    }
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      let d = descendant.get(pid);
      if (d === undefined) {
        d = isDescendant(pid, rootPid);
        descendant.set(pid, d);
      }
      if (!d) continue;
      // Read cmdline every time: a process caught between fork and exec still shows its parent's.
      let cmdline;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.includes('git-annex-remote-annexd-s3')) {
        peak.annexdProcs.add(pid);
        peak.annexdKb = Math.max(peak.annexdKb, vmHwmKb(pid));
      } else {
        let comm = '';
        try {
          comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch {
          continue;
        }
        if (comm === 'git-annex') peak.gitAnnexKb = Math.max(peak.gitAnnexKb, vmHwmKb(pid));
      }
    }
  };
  tick();
  const timer = setInterval(tick, 50);
  return {
    stop() {
      clearInterval(timer);
      return { annexdKb: peak.annexdKb, gitAnnexKb: peak.gitAnnexKb, annexdProcs: peak.annexdProcs.size };
    },
  };
}

// ------------------------------------------------------------- scratch, env

function makeWritable(p) {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    try {
      chmodSync(p, 0o755);
    } catch {}
    for (const n of readdirSync(p)) makeWritable(path.join(p, n));
  }
}

function removeTree(p) {
  if (!existsSync(p)) return;
  makeWritable(p); // git-annex makes its object directories read-only
  rmSync(p, { recursive: true, force: true });
}

/** Writes `bytes` random bytes to `file` in 8 MiB blocks. */
function writeRandomFile(file, bytes) {
  const fd = openSync(file, 'w');
  const block = Buffer.allocUnsafe(8 * MiB);
  try {
    for (let left = bytes; left > 0; ) {
      const n = Math.min(left, block.length);
      randomFillSync(block, 0, n);
      writeSync(fd, block, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

// ----------------------------------------------------------------- server

let server; // { child, info }

function startServer(dataDir, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_MAIN, dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new BenchError('the S3 server did not report ready within 30 s')), 30_000);
    const fail = (e) => {
      clearTimeout(timer);
      reject(new BenchError(`${e.message}${err.trim() ? '\n' + err.trim().split('\n').slice(-10).join('\n') : ''}`));
    };
    child.stderr.on('data', (c) => (err += c));
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      running.delete(child);
      if (!server) fail(new BenchError(`the S3 server exited (${signal ?? code}) before it was ready`));
    });
    child.stdout.on('data', (c) => {
      if (server) return;
      out += c;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        const info = JSON.parse(out.slice(0, nl));
        server = { child, info };
        resolve(server);
      } catch {
        reject(new BenchError(`unexpected first line from the S3 server: ${out.slice(0, nl)}`));
      }
    });
  });
}

async function stopServer() {
  if (!server) return;
  const { child } = server;
  server = undefined;
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => {
    const t = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {}
    }, 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    try {
      child.kill('SIGTERM');
    } catch {
      clearTimeout(t);
      resolve();
    }
  });
}

// ---------------------------------------------------------------- start-up

/** Spawn of the remote program (stdin a pipe) to its first stdout line, in ms. */
function startupRemote(env) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(REMOTE_PROGRAM, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(child);
    let buf = '';
    let firstMs;
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.on('data', (c) => {
      if (firstMs !== undefined) return;
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      firstMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const line = buf.slice(0, nl);
      if (line !== 'VERSION 2') {
        child.kill('SIGTERM');
        reject(new BenchError(`git-annex-remote-annexd-s3 said "${line}" first, expected "VERSION 2"`));
        return;
      }
      child.stdin.end(); // git-annex closing stdin: the remote exits
    });
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(child);
      if (firstMs === undefined) {
        reject(new BenchError(`git-annex-remote-annexd-s3 exited (${code}) without a line\n${stderr.trim()}`));
      } else resolve(firstMs);
    });
  });
}

async function startupNode(env) {
  const r = await run(process.execPath, ['-e', '0'], { env });
  return r.ms;
}

/** ms from "<-- TRANSFER RETRIEVE" to "--> TRANSFER-SUCCESS RETRIEVE" in a git-annex --debug trace. */
function transferSpan(trace) {
  const at = (re) => {
    const line = trace.split(/[\r\n]/).find((l) => re.test(l));
    const m = line && /\[(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)?\]/.exec(line);
    if (!m) return undefined;
    return Date.parse(`${m[1]}T${m[2]}Z`) + Number(`0${m[3] ?? ''}`) * 1000;
  };
  const a = at(/<-- (J \d+ )?TRANSFER RETRIEVE /);
  const b = at(/--> (J \d+ )?TRANSFER-SUCCESS RETRIEVE /);
  return a !== undefined && b !== undefined ? b - a : undefined;
}

// ------------------------------------------------------------------- main

const results = {
  store: { annexd: [], builtin: [] },
  retrieve: { annexd: [], builtin: [] },
  retrieveNoVerify: { annexd: [], builtin: [] },
  annexdTransferOnly: [], // TRANSFER RETRIEVE → TRANSFER-SUCCESS in git-annex's debug trace
  storeExtra: { 'annexd-single': [], 'builtin-mp': [] },
  copyJ4: { annexd: [], builtin: [] },
  fsck: { annexd: [], builtin: [] },
  rssStore: [], // annexd remote kB
  rssRetrieve: [],
  gitAnnexRssStore: { annexd: [], builtin: [] },
  gitAnnexRssRetrieve: { annexd: [], builtin: [] },
  curlPut: [],
  curlGet: [],
  startupRemote: [],
  startupNode: [],
  annexdProcsSmall: [],
};

let scratch;
let cleaningUp;

async function cleanup() {
  cleaningUp ??= (async () => {
    for (const child of running) {
      try {
        child.kill('SIGTERM');
      } catch {}
    }
    await stopServer();
    if (scratch && !opts.keep) {
      try {
        removeTree(scratch);
      } catch (err) {
        log(`could not remove ${scratch}: ${err.message}`);
      }
    } else if (scratch) log(`kept scratch directory ${scratch}`);
  })();
  return cleaningUp;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: stopping the server and cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}
process.on('exit', () => {
  // Last resort if something exits without the async cleanup: never leave the server behind.
  if (server) {
    try {
      server.child.kill('SIGTERM');
    } catch {}
  }
});

function preflight() {
  if (!existsSync(SERVER_MAIN) || !existsSync(REMOTE_MAIN)) {
    throw new BenchError(
      `annexd is not built (${path.relative(ROOT, existsSync(SERVER_MAIN) ? REMOTE_MAIN : SERVER_MAIN)} is missing): run npm run build in ${ROOT}`,
    );
  }
  if (!existsSync(REMOTE_PROGRAM)) throw new BenchError(`${REMOTE_PROGRAM} is missing`);
  const ga = spawnSync('git-annex', ['version', '--raw'], { encoding: 'utf8' });
  if (ga.error || ga.status !== 0) {
    throw new BenchError('git-annex is not installed (or not on PATH): apt-get install git-annex');
  }
  const g = spawnSync('git', ['--version'], { encoding: 'utf8' });
  if (g.error || g.status !== 0) throw new BenchError('git is not installed: apt-get install git');
  const curl = spawnSync('curl', ['--version'], { encoding: 'utf8' });
  // Which annexd is measured: the checkout's commit, and whether src/ differs from it.
  const rev = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  let revision = 'unknown (not a git checkout)';
  if (!rev.error && rev.status === 0) {
    const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'package.json'], { encoding: 'utf8' });
    revision = rev.stdout.trim() + (dirty.stdout?.trim() ? ' + uncommitted changes in src/ or package.json' : '');
  }
  return { gitAnnexVersion: ga.stdout.trim(), haveCurl: !curl.error && curl.status === 0, revision };
}

async function main() {
  const { gitAnnexVersion, haveCurl, revision } = preflight();
  const started = new Date();
  scratch = mkdtempSync(path.join(os.tmpdir(), 'annexd-bench-s3-'));
  const home = path.join(scratch, 'home');
  const repo = path.join(scratch, 'repo');
  mkdirSync(home);
  mkdirSync(repo);
  log(`scratch ${scratch}; ${bigLabel} file, ${SMALL_COUNT} x 4 KiB files, repeat ${opts.repeat}`);

  const keyId = 'bench-' + randomBytes(4).toString('hex');
  const secret = randomBytes(18).toString('base64url');
  const baseEnv = { ...process.env };
  for (const k of Object.keys(baseEnv)) {
    if (k.startsWith('GIT_') || k.startsWith('AWS_') || k.startsWith('ANNEXD_')) delete baseEnv[k];
  }
  const env = {
    ...baseEnv,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    PATH: [BIN, path.dirname(process.execPath), process.env.PATH ?? '/usr/bin:/bin'].join(path.delimiter),
    GIT_CONFIG_NOSYSTEM: '1',
    LC_ALL: 'C',
  };

  server = undefined;
  await startServer(path.join(scratch, 's3data'), {
    ...env,
    ANNEXD_S3_ACCESS_KEY_ID: keyId,
    ANNEXD_S3_SECRET_ACCESS_KEY: secret,
  });
  const { endpoint, port, accessKeyId, secretAccessKey } = server.info;
  log(`s3rver at ${endpoint} (pid ${server.child.pid})`);
  const aenv = { ...env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey };

  const git = (args, o = {}) => run('git', args, { cwd: repo, env: aenv, ...o });
  const annex = (args, o = {}) => git(['annex', ...args], o);

  await run('git', ['config', '--global', 'user.name', 'annexd-bench'], { env });
  await run('git', ['config', '--global', 'user.email', 'bench@example.invalid'], { env });
  await run('git', ['config', '--global', 'init.defaultBranch', 'main'], { env });
  await git(['init', '-q']);
  await annex(['init', 'bench']);
  await git(['config', 'annex.security.allowed-ip-addresses', '127.0.0.1']);

  log('initremote annexd + builtin');
  await annex([
    'initremote', 'annexd', 'type=external', 'externaltype=annexd-s3', 'encryption=none',
    'bucket=bench-annexd', `endpoint=${endpoint}`,
  ]);
  await annex([
    'initremote', 'builtin', 'type=S3', 'encryption=none', 'host=127.0.0.1', `port=${port}`,
    'protocol=http', 'requeststyle=path', 'signature=v4', 'bucket=bench-builtin',
  ]);

  if (opts.extra) {
    log('initremote annexd-single + builtin-mp (--extra)');
    await annex([
      'initremote', 'annexd-single', 'type=external', 'externaltype=annexd-s3', 'encryption=none',
      'bucket=bench-annexd-single', `endpoint=${endpoint}`, 'multipartthreshold=100GiB',
    ]);
    await annex([
      'initremote', 'builtin-mp', 'type=S3', 'encryption=none', 'host=127.0.0.1', `port=${port}`,
      'protocol=http', 'requeststyle=path', 'signature=v4', 'bucket=bench-builtin-mp', 'partsize=32MiB',
    ]);
  }

  log(`writing a ${bigLabel} random file and ${SMALL_COUNT} x 4 KiB random files`);
  writeRandomFile(path.join(repo, 'big'), BIG_BYTES);
  mkdirSync(path.join(repo, 'small'));
  for (let i = 0; i < SMALL_COUNT; i++) {
    writeFileSync(path.join(repo, 'small', `f${String(i).padStart(4, '0')}`), randomBytes(SMALL_BYTES));
  }
  log('git annex add (sha256 of the big file takes a few seconds)');
  await annex(['add', 'big']);
  await annex(['add', 'small']);
  await git(['commit', '-q', '-m', 'bench files']);

  let curlUrl;
  if (haveCurl) {
    curlUrl = `${endpoint}/bench-curl/big`;
    // s3rver accepts anonymous requests; a bucket of its own keeps the remotes' buckets clean.
    await run('curl', ['-sS', '-f', '-X', 'PUT', `${endpoint}/bench-curl`, '-o', '/dev/null'], { env });
  }

  for (let r = 0; r < opts.repeat; r++) {
    // Alternate the order: annexd first on even rounds, built-in first on odd ones.
    const order = r % 2 === 0 ? REMOTES : [...REMOTES].reverse();
    const tag = `[${r + 1}/${opts.repeat}]`;
    const extras = opts.extra ? (r % 2 === 0 ? EXTRA_REMOTES : [...EXTRA_REMOTES].reverse()) : [];
    if (r > 0) {
      log(`${tag} removing last round's copies from the remotes (untimed)`);
      for (const R of order) {
        await annex(['drop', '--force', '--from', R, 'big']);
        await annex(['drop', '--force', '-J4', '--from', R, 'small']);
      }
      for (const R of extras) await annex(['drop', '--force', '--from', R, 'big']);
    }

    // 1. big file: store (the two remotes alternate; --extra variants in between)
    const storeOrder = [order[0], ...extras, order[1]];
    for (const R of storeOrder) {
      if (!REMOTES.includes(R)) {
        const res = await annex(['copy', '--to', R, 'big']);
        results.storeExtra[R].push(res.ms);
        log(`${tag} copy --to ${R} ${bigLabel} (--extra): ${(res.ms / 1000).toFixed(2)} s`);
        continue;
      }
      const res = await annex(['copy', '--to', R, 'big'], { onSpawn: rssPoller });
      results.store[R].push(res.ms);
      results.gitAnnexRssStore[R].push(res.gitAnnexKb);
      if (R === 'annexd') {
        if (!res.annexdProcs) throw new BenchError('no git-annex-remote-annexd-s3 process seen during the store');
        results.rssStore.push(res.annexdKb);
      }
      log(`${tag} copy --to ${R} ${bigLabel}: ${(res.ms / 1000).toFixed(2)} s`);
    }
    if (curlUrl) {
      const res = await run('curl', ['-sS', '-f', '-H', 'Expect:', '-T', path.join(repo, 'big'), curlUrl, '-o', '/dev/null'], { env });
      results.curlPut.push(res.ms);
      log(`${tag} curl -T ${bigLabel}: ${(res.ms / 1000).toFixed(2)} s`);
    }

    // 1. big file: retrieve (with and without git-annex's own verification)
    for (const verify of [true, false]) {
      for (const R of order) {
        await annex(['drop', '--force', 'big']);
        const args = ['annex', 'get', '--from', R, 'big'];
        // The no-verify run carries --debug (for both remotes) so the protocol trace gives
        // annexd's own transfer time: git-annex still hashes an external remote's download.
        const res = await git(verify ? args : ['-c', 'annex.verify=false', ...args, '--debug'], {
          onSpawn: verify ? rssPoller : undefined,
          fullStderr: !verify,
        });
        (verify ? results.retrieve : results.retrieveNoVerify)[R].push(res.ms);
        if (!verify && R === 'annexd') {
          const t = transferSpan(res.stderr);
          if (t !== undefined) results.annexdTransferOnly.push(t);
        }
        if (verify) {
          results.gitAnnexRssRetrieve[R].push(res.gitAnnexKb);
          if (R === 'annexd') {
            if (!res.annexdProcs) throw new BenchError('no git-annex-remote-annexd-s3 process seen during the retrieve');
            results.rssRetrieve.push(res.annexdKb);
          }
        }
        log(`${tag} get --from ${R}${verify ? '' : ' (annex.verify=false)'}: ${(res.ms / 1000).toFixed(2)} s`);
      }
    }
    if (curlUrl) {
      const dest = path.join(scratch, 'curl-get');
      const res = await run('curl', ['-sS', '-f', '-o', dest, curlUrl], { env });
      rmSync(dest, { force: true });
      results.curlGet.push(res.ms);
      log(`${tag} curl GET ${bigLabel}: ${(res.ms / 1000).toFixed(2)} s`);
    }

    // 2. small files: copy -J4, then fsck --fast
    for (const R of order) {
      const res = await annex(['copy', '-J4', '--to', R, 'small'], { onSpawn: rssPoller });
      results.copyJ4[R].push(res.ms);
      if (R === 'annexd') results.annexdProcsSmall.push(res.annexdProcs);
      log(`${tag} copy -J4 --to ${R} ${SMALL_COUNT} files: ${(res.ms / 1000).toFixed(2)} s`);
    }
    if (r === 0) {
      for (const R of REMOTES) {
        const found = await annex(['find', '--in', R, 'small']);
        const n = found.stdout.split('\n').filter(Boolean).length;
        if (n !== SMALL_COUNT) throw new BenchError(`expected ${SMALL_COUNT} small files on ${R}, git-annex lists ${n}`);
      }
    }
    for (const R of order) {
      const res = await annex(['fsck', '--fast', '--from', R, 'small']);
      results.fsck[R].push(res.ms);
      log(`${tag} fsck --fast --from ${R} ${SMALL_COUNT} files: ${(res.ms / 1000).toFixed(2)} s`);
    }
  }

  // 4. start-up, alternating remote and bare node
  log(`start-up: ${STARTUP_RUNS} x remote to "VERSION 2", ${STARTUP_RUNS} x node -e 0`);
  await startupNode(env); // warm the file cache for both
  await startupRemote(env);
  for (let i = 0; i < STARTUP_RUNS; i++) {
    results.startupRemote.push(await startupRemote(env));
    results.startupNode.push(await startupNode(env));
  }

  await stopServer();
  return { started, gitAnnexVersion, haveCurl, revision };
}

// ----------------------------------------------------------------- report

function report({ started, gitAnnexVersion, haveCurl, revision }) {
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const mib = (kb) => `${(kb / 1024).toFixed(1)} MiB`;
  const rate = (ms) => `${(BIG_BYTES / MiB / (ms / 1000)).toFixed(0)} MiB/s`;
  const verdict = (ok) => (ok ? 'PASS' : 'MISS');
  const rows = [];
  const pair = (name, key, limit) => {
    const a = median(results[key].annexd);
    const b = median(results[key].builtin);
    const ratio = a / b;
    rows.push([name, s(a), s(b), ratio.toFixed(2), limit === undefined ? '(context)' : `≤ ${limit.toFixed(1)}`,
      limit === undefined ? '' : verdict(ratio <= limit)]);
  };
  pair(`${bigLabel} store: copy --to R`, 'store', 1.0);
  pair(`${bigLabel} retrieve: get --from R (incl. sha256 verify)`, 'retrieve', 1.0);
  pair(`${bigLabel} retrieve, annex.verify=false (†)`, 'retrieveNoVerify');
  pair(`${SMALL_COUNT} × 4 KiB: copy -J4 --to R`, 'copyJ4', 1.2);
  pair(`${SMALL_COUNT} × 4 KiB: fsck --fast --from R`, 'fsck', 1.2);
  const rs = median(results.rssStore);
  const rr = median(results.rssRetrieve);
  rows.push([`peak RSS of annexd remote, ${bigLabel} store`, mib(rs), '(in git-annex)', '', '< 150 MiB', verdict(rs / 1024 < 150)]);
  rows.push([`peak RSS of annexd remote, ${bigLabel} retrieve`, mib(rr), '(in git-annex)', '', '< 150 MiB', verdict(rr / 1024 < 150)]);
  const su = median(results.startupRemote);
  const sn = median(results.startupNode);
  rows.push([
    'start-up: spawn → "VERSION 2" vs node -e 0 (median of 20)',
    `${su.toFixed(1)} ms`,
    `node: ${sn.toFixed(1)} ms`,
    (su / sn).toFixed(2),
    '≤ 3.0',
    verdict(su / sn <= 3.0),
  ]);

  const ctx = [];
  ctx.push([`${bigLabel} store throughput`, rate(median(results.store.annexd)), rate(median(results.store.builtin))]);
  ctx.push([`${bigLabel} retrieve throughput (incl. verify)`, rate(median(results.retrieve.annexd)), rate(median(results.retrieve.builtin))]);
  ctx.push([`${bigLabel} retrieve throughput, annex.verify=false (†)`, rate(median(results.retrieveNoVerify.annexd)), rate(median(results.retrieveNoVerify.builtin))]);
  if (results.annexdTransferOnly.length) {
    const t = median(results.annexdTransferOnly);
    ctx.push([`annexd TRANSFER RETRIEVE alone (protocol trace, no hash)`, `${s(t)} (${rate(t)})`, '—']);
  }
  if (opts.extra) {
    const a = median(results.storeExtra['annexd-single']);
    const b = median(results.storeExtra['builtin-mp']);
    ctx.push([`${bigLabel} store, annexd single PUT (multipartthreshold=100GiB)`, `${s(a)} (${rate(a)})`, '']);
    ctx.push([`${bigLabel} store, built-in multipart (partsize=32MiB)`, '', `${s(b)} (${rate(b)})`]);
  }
  ctx.push([`git-annex process peak RSS, ${bigLabel} store`, mib(median(results.gitAnnexRssStore.annexd)), mib(median(results.gitAnnexRssStore.builtin))]);
  ctx.push([`git-annex process peak RSS, ${bigLabel} retrieve`, mib(median(results.gitAnnexRssRetrieve.annexd)), mib(median(results.gitAnnexRssRetrieve.builtin))]);
  ctx.push(['annexd remote processes seen during copy -J4', String(Math.max(...results.annexdProcsSmall)), '—']);
  if (haveCurl) {
    ctx.push([`raw curl -T single PUT of ${bigLabel} (no git-annex)`, `${s(median(results.curlPut))} (${rate(median(results.curlPut))})`, '']);
    ctx.push([`raw curl GET of ${bigLabel} (no git-annex, no verify)`, `${s(median(results.curlGet))} (${rate(median(results.curlGet))})`, '']);
  }

  const table = (head, body) => {
    const all = [head, ...body];
    const w = head.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
    const line = (r) => '| ' + r.map((c, i) => String(c ?? '').padEnd(w[i])).join(' | ') + ' |';
    return [line(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...body.map(line)].join('\n');
  };

  const runsNote = opts.repeat > 1 ? `median of ${opts.repeat} runs` : 'single run';
  const samples = (key) =>
    REMOTES.map((R) => `${R}: ${results[key][R].map((ms) => (ms / 1000).toFixed(2)).join(', ')}`).join('; ');
  const md = [
    `# annexd-s3 vs git-annex built-in S3 — ${started.toISOString()}`,
    '',
    `- command: \`node bench/s3.mjs${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}\` (${runsNote}; order of the two remotes alternates between runs)`,
    `- annexd ${revision} (${ROOT}); dist/ as built there`,
    `- git-annex ${gitAnnexVersion}, node ${process.version}, ${os.cpus().length} CPUs, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.release()}`,
    `- one s3rver process (dist/demo/s3-server-main.js) on 127.0.0.1, buckets bench-annexd and bench-builtin, files in ${os.tmpdir()}`,
    '- annexd: defaults (multipart from 64 MiB, 32 MiB parts, 4 parts at once); built-in: `signature=v4`, no partsize (one PUT)',
    '- ratio = annexd / built-in; < 1 means annexd is faster. Targets are shown, not asserted.',
    '',
    table(['Measurement', 'annexd', 'built-in', 'ratio', 'target', ''], rows),
    '',
    '## Context',
    '',
    table(['', 'annexd', 'built-in'], ctx),
    '',
    '(†) Verification differs by remote type. With annex.verify on (the default), git-annex hashes the built-in',
    'S3 download as it arrives, and tails the file an external remote writes (inotify) to hash it concurrently.',
    'With annex.verify=false the built-in remote skips the hash, but an external remote\'s download is still',
    'hashed (external remotes are RetrievalVerifiableKeysSecure), now as a separate pass after TRANSFER-SUCCESS:',
    'that row compares annexd + a full sha256 pass with the built-in remote without any hash.',
    '',
    '## Samples (seconds)',
    '',
    `- store: ${samples('store')}`,
    `- retrieve: ${samples('retrieve')}`,
    `- retrieve, annex.verify=false: ${samples('retrieveNoVerify')}`,
    ...(results.annexdTransferOnly.length
      ? [`- annexd TRANSFER RETRIEVE alone: ${results.annexdTransferOnly.map((ms) => (ms / 1000).toFixed(2)).join(', ')}`]
      : []),
    ...(opts.extra
      ? [`- --extra store: ${EXTRA_REMOTES.map((R) => `${R}: ${results.storeExtra[R].map((ms) => (ms / 1000).toFixed(2)).join(', ')}`).join('; ')}`]
      : []),
    `- copy -J4: ${samples('copyJ4')}`,
    `- fsck --fast: ${samples('fsck')}`,
    `- annexd remote peak RSS (MiB): store ${results.rssStore.map((k) => (k / 1024).toFixed(1)).join(', ')}; retrieve ${results.rssRetrieve.map((k) => (k / 1024).toFixed(1)).join(', ')}`,
    `- start-up (ms): remote ${results.startupRemote.map((x) => x.toFixed(0)).join(' ')}; node -e 0 ${results.startupNode.map((x) => x.toFixed(0)).join(' ')}`,
    '',
  ].join('\n');

  mkdirSync(OUT_DIR, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-').replace(/-\d\d\dZ$/, 'Z');
  const outFile = path.join(OUT_DIR, `s3-${stamp}.md`);
  writeFileSync(outFile, md);
  process.stdout.write('\n' + md + '\n');
  log(`written ${path.relative(process.cwd(), outFile) || outFile}`);
}

let exitCode = 0;
try {
  const info = await main();
  report(info);
} catch (err) {
  exitCode = 1;
  process.stderr.write(`\nbench/s3.mjs: ${err instanceof BenchError ? err.message : err?.stack ?? err}\n`);
} finally {
  await cleanup();
}
process.exit(exitCode);

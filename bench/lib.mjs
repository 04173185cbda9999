/**
 * What the benchmarks share: command line, running commands with wall-clock
 * timing, peak RSS from /proc, scratch directory and environment, the
 * git-annex repository with its test files, start-up timing, servers that
 * must not outlive the run, and the Markdown report. Plain Node ESM,
 * built-ins only. Used by bench/s3.mjs, bench/webdav.mjs and bench/wan.mjs.
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
  statfsSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(ROOT, 'bin');
export const OUT_DIR = path.join(ROOT, 'bench', 'out');
export const MiB = 1024 * 1024;
export const SMALL_BYTES = 4096;
export const STARTUP_RUNS = 20;
const CMD_TIMEOUT_MS = 30 * 60_000;

export class BenchError extends Error {}

export function log(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---------------------------------------------------------------- arguments

/**
 * Parses --quick, --repeat N, --keep and the script's own boolean `flags`
 * ({ name: help line }), exits on --help or a bad argument. Returns the
 * options and the sizes they imply.
 */
export function parseArgs(script, flags = {}, sizes = { full: [1024 * MiB, 1000], quick: [256 * MiB, 200] }) {
  const names = Object.keys(flags);
  const usage = (code) => {
    process.stdout.write(
      `usage: node ${script} [--quick] [--repeat N]${names.map((n) => ` [--${n}]`).join('')} [--keep]\n` +
        `  --quick     ${sizeLabel(sizes.quick[0])} big file and ${sizes.quick[1]} small files (default: ${sizeLabel(sizes.full[0])} and ${sizes.full[1]} x 4 KiB)\n` +
        '  --repeat N  repeat every measurement N times and report the median (default 1)\n' +
        names.map((n) => `  ${`--${n}`.padEnd(11)} ${flags[n]}\n`).join('') +
        '  --keep      do not delete the scratch directory at the end\n',
    );
    process.exit(code);
  };
  const opts = { quick: false, repeat: 1, keep: false };
  for (const n of names) opts[n] = false;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--keep') opts.keep = true;
    else if (a.startsWith('--') && names.includes(a.slice(2))) opts[a.slice(2)] = true;
    else if (a === '--repeat' || a.startsWith('--repeat=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      opts.repeat = Number(v);
      if (!Number.isInteger(opts.repeat) || opts.repeat < 1) {
        process.stderr.write(`${script}: --repeat needs a positive integer, got "${v}"\n`);
        process.exit(2);
      }
    } else if (a === '--help' || a === '-h') usage(0);
    else {
      process.stderr.write(`${script}: unknown argument "${a}"\n`);
      usage(2);
    }
  }
  const [bigBytes, smallCount] = opts.quick ? sizes.quick : sizes.full;
  return {
    opts,
    bigBytes,
    smallCount,
    bigLabel: sizeLabel(bigBytes),
  };
}

const sizeLabel = (bytes) => (bytes >= 1024 * MiB ? `${bytes / 1024 / MiB} GiB` : `${bytes / MiB} MiB`);

// ------------------------------------------------------------ running things

/** Processes we started and that may still be running: killed on failure. */
export const running = new Set();

/**
 * Runs a command, returns { ms, code, stdout, stderr }; wall clock from spawn to
 * exit. `onSpawn(pid)` runs right after spawn (used to start the RSS poller).
 */
export function run(cmd, args, { cwd, env, allowFail = false, onSpawn, fullStderr = false, timeoutMs = CMD_TIMEOUT_MS } = {}) {
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
 * An `onSpawn` for run(): polls /proc every ~50 ms while the command runs, for
 * processes below it (so other people's remotes on the same machine are not
 * counted): the max VmHWM of those whose cmdline contains `program` (the
 * remote's name), and of git-annex itself (comm "git-annex"), in kB.
 */
export const rssPoller = (program) => (rootPid) => {
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
      if (cmdline.includes(program)) {
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
};

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

/**
 * Where a scratch directory goes: /dev/shm (tmpfs) when it has room for
 * `bytes`, so that disk write-back (here: ext4 with synchronous discard on a
 * shared virtual disk) does not swamp the differences between the clients;
 * else the system temp dir.
 */
export function scratchBase(bytes) {
  try {
    const st = statfsSync('/dev/shm');
    if (st.bavail * st.bsize > bytes) return '/dev/shm';
  } catch {}
  return os.tmpdir();
}

/** The run's state that cleanup() needs. */
const state = { scratch: undefined, keep: false, servers: new Set() };

/**
 * Creates the scratch directory in `base` (removed by cleanup() unless --keep)
 * with an isolated HOME and an empty repo/, and the environment to run
 * everything in: variables starting with one of `dropPrefixes` are removed,
 * bin/ goes first on PATH.
 */
export function makeScratch(name, dropPrefixes, base = os.tmpdir()) {
  const scratch = mkdtempSync(path.join(base, `annexd-bench-${name}-`));
  state.scratch = scratch;
  const home = path.join(scratch, 'home');
  const repo = path.join(scratch, 'repo');
  mkdirSync(home);
  mkdirSync(repo);
  const baseEnv = { ...process.env };
  for (const k of Object.keys(baseEnv)) {
    if (dropPrefixes.some((p) => k.startsWith(p))) delete baseEnv[k];
  }
  const env = {
    ...baseEnv,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    PATH: [BIN, path.dirname(process.execPath), process.env.PATH ?? '/usr/bin:/bin'].join(path.delimiter),
    GIT_CONFIG_NOSYSTEM: '1',
    LC_ALL: 'C',
  };
  return { scratch, home, repo, env };
}

// ------------------------------------------------------------------ servers

/** Registers a server process: stopped by stopServers(), cleanup(), and at exit whatever happens. */
export function trackServer(child) {
  state.servers.add(child);
  child.once('exit', () => state.servers.delete(child));
}

/** SIGTERM to every tracked server, SIGKILL after 5 s; resolves when they have exited. */
export async function stopServers() {
  const children = [...state.servers];
  state.servers.clear();
  await Promise.all(
    children.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      return new Promise((resolve) => {
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
    }),
  );
}

// ----------------------------------------------------------- preflight, repo

/**
 * Checks that annexd is built (`builtFiles`, paths under ROOT), that git and
 * git-annex are there, whether curl is; and which annexd is measured: the
 * checkout's commit, and whether src/ or package.json differ from it.
 */
export function preflight(builtFiles, program) {
  const missing = builtFiles.find((f) => !existsSync(f));
  if (missing) {
    throw new BenchError(`annexd is not built (${path.relative(ROOT, missing)} is missing): run npm run build in ${ROOT}`);
  }
  if (!existsSync(program)) throw new BenchError(`${program} is missing`);
  const ga = spawnSync('git-annex', ['version', '--raw'], { encoding: 'utf8' });
  if (ga.error || ga.status !== 0) {
    throw new BenchError('git-annex is not installed (or not on PATH): apt-get install git-annex');
  }
  const g = spawnSync('git', ['--version'], { encoding: 'utf8' });
  if (g.error || g.status !== 0) throw new BenchError('git is not installed: apt-get install git');
  const curl = spawnSync('curl', ['--version'], { encoding: 'utf8' });
  const rev = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  let revision = 'unknown (not a git checkout)';
  if (!rev.error && rev.status === 0) {
    const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'package.json'], { encoding: 'utf8' });
    revision = rev.stdout.trim() + (dirty.stdout?.trim() ? ' + uncommitted changes in src/ or package.json' : '');
  }
  return { gitAnnexVersion: ga.stdout.trim(), haveCurl: !curl.error && curl.status === 0, revision };
}

/**
 * `git init` + `git annex init` in `repo` (loopback addresses allowed), with
 * an identity in the isolated HOME. Returns git(args, o) and annex(args, o) runners.
 */
export async function initRepo(repo, env) {
  const git = (args, o = {}) => run('git', args, { cwd: repo, env, ...o });
  const annex = (args, o = {}) => git(['annex', ...args], o);
  await run('git', ['config', '--global', 'user.name', 'annexd-bench'], { env });
  await run('git', ['config', '--global', 'user.email', 'bench@example.invalid'], { env });
  await run('git', ['config', '--global', 'init.defaultBranch', 'main'], { env });
  await git(['init', '-q']);
  await annex(['init', 'bench']);
  await git(['config', 'annex.security.allowed-ip-addresses', '127.0.0.1']);
  return { git, annex };
}

/** Writes and commits the annexed files: `big` (random) and `small/f0000…` (random 4 KiB each). */
export async function addBenchFiles(repo, { git, annex }, { bigBytes, smallCount, bigLabel }) {
  log(`writing a ${bigLabel} random file and ${smallCount} x 4 KiB random files`);
  writeRandomFile(path.join(repo, 'big'), bigBytes);
  mkdirSync(path.join(repo, 'small'));
  for (let i = 0; i < smallCount; i++) {
    writeFileSync(path.join(repo, 'small', `f${String(i).padStart(4, '0')}`), randomBytes(SMALL_BYTES));
  }
  log('git annex add (sha256 of the big file takes a few seconds)');
  await annex(['add', 'big']);
  await annex(['add', 'small']);
  await git(['commit', '-q', '-m', 'bench files']);
}

// ----------------------------------------------------- the null remotes

/**
 * An external special remote that answers every request at once and stores
 * nothing: what git-annex itself spends per key on an external remote, the
 * floor under any external remote's small-file figures. Installed under two
 * names: `…-null` is one process per job (no ASYNC: -J4 starts four), and
 * `…-null-async` answers EXTENSIONS with ASYNC and serves every job in one
 * process (`J n` lines), as annexd does by default.
 */
const NULL_REMOTE = `#!/usr/bin/env node
const async = process.argv[1].endsWith('-async');
// With ANNEXD_BENCH_NULL_PRESENT set (fsck), every key is there; else none (copy).
const present = process.env.ANNEXD_BENCH_NULL_PRESENT ? 'CHECKPRESENT-SUCCESS ' : 'CHECKPRESENT-FAILURE ';
const out = (s) => process.stdout.write(s + '\\n');
const answer = (c, a, b) =>
  c === 'INITREMOTE' ? 'INITREMOTE-SUCCESS' : c === 'PREPARE' ? 'PREPARE-SUCCESS'
    : c === 'CHECKPRESENT' ? present + a : c === 'TRANSFER' ? 'TRANSFER-SUCCESS ' + a + ' ' + b
    : c === 'REMOVE' ? 'REMOVE-SUCCESS ' + a : 'UNSUPPORTED-REQUEST';
out('VERSION 2');
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const w = line.split(' ');
  if (w[0] === 'EXTENSIONS') out(async && w.includes('ASYNC') ? 'EXTENSIONS ASYNC' : 'EXTENSIONS');
  else if (async && w[0] === 'J') out('J ' + w[1] + ' ' + answer(w[2], w[3], w[4]));
  else out(answer(w[0], w[1], w[2]));
});
`;

/** The two null remotes' external types (initremote … externaltype=X). */
export const NULL_TYPES = { perJob: 'annexd-bench-null', async: 'annexd-bench-null-async' };

/** Writes both null remotes into `<scratch>/bin`; returns that directory (to go first on PATH). */
export function installNullRemotes(scratch) {
  const dir = path.join(scratch, 'bin');
  mkdirSync(dir, { recursive: true });
  for (const t of Object.values(NULL_TYPES)) writeFileSync(path.join(dir, `git-annex-remote-${t}`), NULL_REMOTE, { mode: 0o755 });
  return dir;
}

/**
 * initremote of both null remotes in the repository of `annex` (initRepo):
 * `null` (one process per job) and `null-async` (one ASYNC process).
 */
export async function initNullRemotes(annex) {
  await annex(['initremote', 'null', 'type=external', `externaltype=${NULL_TYPES.perJob}`, 'encryption=none']);
  await annex(['initremote', 'null-async', 'type=external', `externaltype=${NULL_TYPES.async}`, 'encryption=none']);
}

/**
 * The small-file floor and annexd's process models, for the loopback
 * benches: `copy -J<jobs>` and `fsck --fast -J<jobs>` of the small files to
 * the two null remotes (initNullRemotes) and to `perJob`, an annexd remote
 * run with ANNEXD_NO_ASYNC=1 (one process per job). Records into
 * results.models[remote] = { copy: [ms], fsck: [ms] }.
 */
export function processModels({ annex, env, results, perJob, jobs = 4, smallCount }) {
  const names = ['null', 'null-async', perJob];
  results.models = Object.fromEntries(names.map((n) => [n, { copy: [], fsck: [] }]));
  const envOf = (n) => (n === perJob ? { ...env, ANNEXD_NO_ASYNC: '1' } : env);
  return {
    names,
    /** Round r: the copies to all three (order alternating), then their fsck; last round's copies dropped first. */
    async run(r, tag) {
      const order = r % 2 === 0 ? names : [...names].reverse();
      if (r > 0) for (const n of order) await annex(['drop', '--force', `-J${jobs}`, '--from', n, 'small'], { env: envOf(n) });
      for (const n of order) {
        const res = await annex(['copy', `-J${jobs}`, '--to', n, 'small'], { env: envOf(n) });
        results.models[n].copy.push(res.ms);
        log(`${tag} copy -J${jobs} --to ${n} ${smallCount} files: ${fmt.s(res.ms)}`);
      }
      for (const n of order) {
        const e = n === perJob ? envOf(n) : { ...env, ANNEXD_BENCH_NULL_PRESENT: '1' };
        const res = await annex(['fsck', '--fast', `-J${jobs}`, '--from', n, 'small'], { env: e });
        results.models[n].fsck.push(res.ms);
        log(`${tag} fsck --fast -J${jobs} --from ${n} ${smallCount} files: ${fmt.s(res.ms)}`);
      }
    },
    /**
     * Rows: the floor both ways, annexd one process per job, and each of
     * annexd's and the built-in's small-file figures as a ratio to the
     * faster floor. `measured` = { label: { annexd: [ms], builtin: [ms] } } with labels 'copy', 'fsck'.
     */
    rows(measured) {
      const m = results.models;
      const out = [];
      for (const op of ['copy', 'fsck']) {
        const what = op === 'copy' ? `copy -J${jobs} --to R` : `fsck --fast -J${jobs} --from R`;
        const { annexd, builtin } = measured[op];
        const floor = Math.min(median(m.null[op]), median(m['null-async'][op]));
        const of = (mss) => `${(median(mss) / floor).toFixed(2)} × floor`;
        out.push([`${smallCount} × 4 KiB ${what}: do-nothing external remote, one process per job`, fmt.s(median(m.null[op])), '', '', '', '']);
        out.push([`${smallCount} × 4 KiB ${what}: do-nothing external remote, one ASYNC process`, fmt.s(median(m['null-async'][op])), '', '', '', '']);
        out.push([`${smallCount} × 4 KiB ${what}: annexd default (ASYNC), built-in / the faster floor`, of(annexd), of(builtin), '', '', '']);
        out.push([`${smallCount} × 4 KiB ${what}: annexd one process per job (ANNEXD_NO_ASYNC=1) / floor, / built-in`,
          of(m[perJob][op]), '', (median(m[perJob][op]) / median(builtin)).toFixed(2), '(context)', '']);
      }
      return out;
    },
    samples() {
      return names.flatMap((n) => [`- copy -J${jobs} --to ${n}: ${fmt.secs(results.models[n].copy)}`, `- fsck --fast -J${jobs} --from ${n}: ${fmt.secs(results.models[n].fsck)}`]);
    },
  };
}

// ------------------------------------------------------- request counting

/**
 * Requests a shaping proxy (src/demo/fault-proxy.ts) forwarded during `fn`,
 * by method: resolves with { res: what fn resolved with, byMethod, total }.
 */
export async function countRequests(proxy, fn) {
  const before = proxy.requests.length;
  const res = await fn();
  const byMethod = {};
  const reqs = proxy.requests.slice(before);
  for (const r of reqs) byMethod[r.method] = (byMethod[r.method] ?? 0) + 1;
  return { res, byMethod, total: reqs.length };
}

/** "HEAD 1.00, PUT 1.00" for counts over `keys` keys. */
export const perKey = (byMethod, keys) =>
  Object.entries(byMethod)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([m, n]) => `${m} ${(n / keys).toFixed(2)}`)
    .join(', ') || 'none';

// ------------------------------------------------------------ measurements

/** Sample lists of the measurements both benchmarks take, per remote where there are two. */
export function newResults(remotes) {
  const per = () => Object.fromEntries(remotes.map((R) => [R, []]));
  return {
    store: per(),
    retrieve: per(),
    copyJ4: per(),
    fsckJ4: per(),
    rssStore: [], // annexd remote kB
    rssRetrieve: [],
    gitAnnexRssStore: per(),
    gitAnnexRssRetrieve: per(),
    curlPut: [],
    curlGet: [],
    startup: { remote: [], node: [] },
    annexdProcsSmall: [],
  };
}

/**
 * The measurements both benchmarks take, recorded into `results` (newResults):
 * `remotes` are the two compared remotes ("annexd" runs `program`), `repoRun`
 * the runners of initRepo(), `curl(args)` runs curl with its credentials.
 */
export function measurements({ remotes, program, results, repo, repoRun: { annex }, scratch, curl, sizes: { bigLabel, smallCount } }) {
  const name = path.basename(program);
  const onSpawn = rssPoller(name);
  const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
  /** Runs a big-file transfer (`what`: "store" or "retrieve") with peak RSS; records time and RSS. */
  const bigTransfer = async (what, R, args) => {
    const res = await annex(args, { onSpawn });
    const What = what[0].toUpperCase() + what.slice(1);
    results[what][R].push(res.ms);
    results[`gitAnnexRss${What}`][R].push(res.gitAnnexKb);
    if (R === 'annexd') {
      if (!res.annexdProcs) throw new BenchError(`no ${name} process seen during the ${what}`);
      results[`rss${What}`].push(res.annexdKb);
    }
    return res;
  };
  return {
    /** Round r (from 0): the remotes' order (swapped on odd rounds), its log tag; last round's copies removed. */
    async round(r, repeat) {
      const order = r % 2 === 0 ? remotes : [...remotes].reverse();
      const tag = `[${r + 1}/${repeat}]`;
      if (r > 0) {
        log(`${tag} removing last round's copies from the remotes (untimed)`);
        for (const R of order) {
          await annex(['drop', '--force', '--from', R, 'big']);
          await annex(['drop', '--force', '-J4', '--from', R, 'small']);
        }
      }
      return { order, tag };
    },
    /** git annex copy --to R big, with peak RSS. */
    async store(R, tag) {
      const res = await bigTransfer('store', R, ['copy', '--to', R, 'big']);
      log(`${tag} copy --to ${R} ${bigLabel}: ${secs(res.ms)}`);
    },
    /** git annex get --from R big after dropping it here (git-annex verifies the sha256), with peak RSS. */
    async retrieve(R, tag) {
      await annex(['drop', '--force', 'big']);
      const res = await bigTransfer('retrieve', R, ['get', '--from', R, 'big']);
      log(`${tag} get --from ${R}: ${secs(res.ms)}`);
    },
    /** One curl -T PUT of the big file to `url`. */
    async curlPut(url, tag) {
      const res = await curl(['-H', 'Expect:', '-T', path.join(repo, 'big'), url, '-o', '/dev/null']);
      results.curlPut.push(res.ms);
      log(`${tag} curl -T ${bigLabel}: ${secs(res.ms)}`);
    },
    /** One curl GET of `url` into the scratch directory. */
    async curlGet(url, tag) {
      const dest = path.join(scratch, 'curl-get');
      const res = await curl(['-o', dest, url]);
      rmSync(dest, { force: true });
      results.curlGet.push(res.ms);
      log(`${tag} curl GET ${bigLabel}: ${secs(res.ms)}`);
    },
    /** git annex copy -J4 --to R small, counting annexd remote processes; on the first round, checks all arrived. */
    async copySmall(order, tag, first) {
      for (const R of order) {
        const res = await annex(['copy', '-J4', '--to', R, 'small'], { onSpawn });
        results.copyJ4[R].push(res.ms);
        if (R === 'annexd') results.annexdProcsSmall.push(res.annexdProcs);
        log(`${tag} copy -J4 --to ${R} ${smallCount} files: ${secs(res.ms)}`);
      }
      if (!first) return;
      for (const R of remotes) {
        const found = await annex(['find', '--in', R, 'small']);
        const n = found.stdout.split('\n').filter(Boolean).length;
        if (n !== smallCount) throw new BenchError(`expected ${smallCount} small files on ${R}, git-annex lists ${n}`);
      }
    },
    /** git annex fsck --fast -J4 --from R small, for each remote of `order`. */
    async fsckSmall(order, tag) {
      for (const R of order) {
        const res = await annex(['fsck', '--fast', '-J4', '--from', R, 'small']);
        results.fsckJ4[R].push(res.ms);
        log(`${tag} fsck --fast -J4 --from ${R} ${smallCount} files: ${secs(res.ms)}`);
      }
    },
    /** The end of a run: the remote's start-up (measureStartup), then the servers stopped. */
    async finish(env) {
      results.startup = await measureStartup(program, env);
      await stopServers();
    },
  };
}

// ---------------------------------------------------------------- start-up

/** Spawn of the remote program (stdin a pipe) to its first stdout line, in ms. */
function startupRemote(program, env) {
  const name = path.basename(program);
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(program, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
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
        reject(new BenchError(`${name} said "${line}" first, expected "VERSION 2"`));
        return;
      }
      child.stdin.end(); // git-annex closing stdin: the remote exits
    });
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(child);
      if (firstMs === undefined) {
        reject(new BenchError(`${name} exited (${code}) without a line\n${stderr.trim()}`));
      } else resolve(firstMs);
    });
  });
}

async function startupNode(env) {
  const r = await run(process.execPath, ['-e', '0'], { env });
  return r.ms;
}

/** STARTUP_RUNS × (remote spawn → "VERSION 2", node -e 0), alternating, after one warm-up of each; ms. */
export async function measureStartup(program, env) {
  log(`start-up: ${STARTUP_RUNS} x remote to "VERSION 2", ${STARTUP_RUNS} x node -e 0`);
  await startupNode(env); // warm the file cache for both
  await startupRemote(program, env);
  const remote = [];
  const node = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    remote.push(await startupRemote(program, env));
    node.push(await startupNode(env));
  }
  return { remote, node };
}

/** ms from "<-- TRANSFER RETRIEVE" to "--> TRANSFER-SUCCESS RETRIEVE" in a git-annex --debug trace. */
export function transferSpan(trace) {
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

// ----------------------------------------------------------------- report

export const fmt = {
  s: (ms) => `${(ms / 1000).toFixed(2)} s`,
  mib: (kb) => `${(kb / 1024).toFixed(1)} MiB`,
  rate: (bytes, ms) => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`,
  verdict: (ok) => (ok ? 'PASS' : 'MISS'),
  /** A target ratio: 1.0, 0.5, 1.25 */
  limit: (x) => x.toFixed(Number.isInteger(x * 10) ? 1 : 2),
  secs: (mss) => mss.map((ms) => (ms / 1000).toFixed(2)).join(', '),
  /** { remote: [ms, …] } → "remote: 1.23, 1.30; other: …" */
  samples: (byRemote) => Object.entries(byRemote).map(([R, mss]) => `${R}: ${fmt.secs(mss)}`).join('; '),
};

/**
 * A row comparing the medians of two sample lists; `limit` is the target ratio
 * (none: context); `bLabel` names what `b` is when it is not the built-in remote.
 */
export function ratioRow(name, a, b, limit, bLabel = '') {
  const ratio = median(a) / median(b);
  return [name, fmt.s(median(a)), `${bLabel}${fmt.s(median(b))}`, ratio.toFixed(2), limit === undefined ? '(context)' : `≤ ${fmt.limit(limit)}`,
    limit === undefined ? '' : fmt.verdict(ratio <= limit)];
}

/** Peak RSS rows (target < 150 MiB) for the annexd remote during the big store and retrieve, and the start-up row. */
export function remoteRows(bigLabel, rssStoreKb, rssRetrieveKb, startup) {
  const rs = median(rssStoreKb);
  const rr = median(rssRetrieveKb);
  const su = median(startup.remote);
  const sn = median(startup.node);
  return [
    [`peak RSS of annexd remote, ${bigLabel} store`, fmt.mib(rs), '(in git-annex)', '', '< 150 MiB', fmt.verdict(rs / 1024 < 150)],
    [`peak RSS of annexd remote, ${bigLabel} retrieve`, fmt.mib(rr), '(in git-annex)', '', '< 150 MiB', fmt.verdict(rr / 1024 < 150)],
    [
      `start-up: spawn → "VERSION 2" vs node -e 0 (median of ${STARTUP_RUNS})`,
      `${su.toFixed(1)} ms`,
      `node: ${sn.toFixed(1)} ms`,
      (su / sn).toFixed(2),
      '≤ 3.0',
      fmt.verdict(su / sn <= 3.0),
    ],
  ];
}

/** Sample lines for the RSS and start-up figures. */
export function remoteSamples(rssStoreKb, rssRetrieveKb, startup) {
  const m = (kbs) => kbs.map((k) => (k / 1024).toFixed(1)).join(', ');
  return [
    `- annexd remote peak RSS (MiB): store ${m(rssStoreKb)}; retrieve ${m(rssRetrieveKb)}`,
    `- start-up (ms): remote ${startup.remote.map((x) => x.toFixed(0)).join(' ')}; node -e 0 ${startup.node.map((x) => x.toFixed(0)).join(' ')}`,
  ];
}

/** Context rows: git-annex's own peak RSS, annexd processes during copy -J4, and (with curl) the raw transfers. */
export function commonContext(results, bigBytes, bigLabel, haveCurl) {
  const mib = (kb) => fmt.mib(median(kb));
  const timed = (mss) => `${fmt.s(median(mss))} (${fmt.rate(bigBytes, median(mss))})`;
  return [
    [`git-annex process peak RSS, ${bigLabel} store`, mib(results.gitAnnexRssStore.annexd), mib(results.gitAnnexRssStore.builtin)],
    [`git-annex process peak RSS, ${bigLabel} retrieve`, mib(results.gitAnnexRssRetrieve.annexd), mib(results.gitAnnexRssRetrieve.builtin)],
    ['annexd remote processes seen during copy -J4', String(Math.max(...results.annexdProcsSmall)), '—'],
    ...(haveCurl
      ? [
          [`raw curl -T single PUT of ${bigLabel} (no git-annex)`, timed(results.curlPut), ''],
          [`raw curl GET of ${bigLabel} (no git-annex, no verify)`, timed(results.curlGet), ''],
        ]
      : []),
  ];
}

/** A Markdown table, columns padded. */
function table(head, body) {
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  const line = (r) => '| ' + r.map((c, i) => String(c ?? '').padEnd(w[i])).join(' | ') + ' |';
  return [line(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/**
 * The report: title, what was run where with what (`about`: the benchmark's
 * own lines), the table of `rows` (PASS/MISS), the `context` table, `notes`
 * under it, and the `samples` lines; `against` heads the column annexd is
 * compared with.
 */
export function markdown({
  title, script, info: { started, gitAnnexVersion, revision }, repeat, about, rows, context, notes, samples, against = 'built-in',
  contextTitle = 'Context', contextHead = ['', 'annexd', against],
}) {
  const args = process.argv.slice(2);
  const runsNote = repeat > 1 ? `median of ${repeat} runs` : 'single run';
  return [
    `# ${title} — ${started.toISOString()}`,
    '',
    `- command: \`node ${script}${args.length ? ' ' + args.join(' ') : ''}\` (${runsNote}; order of the two remotes alternates between runs)`,
    `- annexd ${revision} (${ROOT}); dist/ as built there`,
    `- git-annex ${gitAnnexVersion}, node ${process.version}, ${os.cpus().length} CPUs, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.release()}`,
    `- load average at the end (1, 5, 15 min; the machine may be shared): ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`,
    ...about,
    '',
    table(['Measurement', 'annexd', against, 'ratio', 'target', ''], rows),
    '',
    `## ${contextTitle}`,
    '',
    table(contextHead, context),
    '',
    ...notes,
    '',
    '## Samples (seconds)',
    '',
    ...samples,
    '',
  ].join('\n');
}

/** Writes the report to bench/out/<name>-<timestamp>.md and prints it. */
export function writeReport(name, started, md) {
  mkdirSync(OUT_DIR, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-').replace(/-\d\d\dZ$/, 'Z');
  const outFile = path.join(OUT_DIR, `${name}-${stamp}.md`);
  writeFileSync(outFile, md);
  process.stdout.write('\n' + md + '\n');
  log(`written ${path.relative(process.cwd(), outFile) || outFile}`);
}

// ------------------------------------------------------------------ run it

let cleaningUp;

/** Kills what still runs, stops the servers, removes the scratch directory (unless --keep). */
function cleanup() {
  cleaningUp ??= (async () => {
    for (const child of running) {
      try {
        child.kill('SIGTERM');
      } catch {}
    }
    await stopServers();
    const { scratch } = state;
    if (scratch && !state.keep) {
      try {
        removeTree(scratch);
      } catch (err) {
        log(`could not remove ${scratch}: ${err.message}`);
      }
    } else if (scratch) log(`kept scratch directory ${scratch}`);
  })();
  return cleaningUp;
}

/**
 * Runs `main()` then `report(itsResult)`, and cleans up whatever happens
 * (failure, Ctrl-C, SIGTERM): exits 0, or 1 after printing what failed.
 */
export async function runBench(script, opts, main, report) {
  state.keep = opts.keep;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      log(`${sig}: stopping the server and cleaning up`);
      cleanup().finally(() => process.exit(130));
    });
  }
  process.on('exit', () => {
    // Last resort if something exits without the async cleanup: never leave a server behind.
    for (const child of state.servers) {
      try {
        child.kill('SIGTERM');
      } catch {}
    }
  });
  let exitCode = 0;
  try {
    report(await main());
  } catch (err) {
    exitCode = 1;
    process.stderr.write(`\n${script}: ${err instanceof BenchError ? err.message : err?.stack ?? err}\n`);
  } finally {
    await cleanup();
  }
  process.exit(exitCode);
}

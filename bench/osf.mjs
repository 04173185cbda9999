#!/usr/bin/env node
/**
 * annexd-osf against the floor that osfclient's 1 request per second puts on
 * the same work (datalad-osf talks to OSF through osfclient), on ONE embedded
 * OSF-compatible server (dist/demo/osf-server-main.js) answering every request
 * 200 ms late: N files of 100 KiB (200; --quick: 50) `git annex copy -J8 --to`,
 * `git annex drop` (which checks the remote has them), `git annex get -J8`.
 * The server counts every request: requests per phase, peak requests in any
 * one second against the remote's budget, 429s answered and 429s left
 * unhandled (a 429 whose request was never sent again). Plain Node ESM.
 *
 *   node bench/osf.mjs [--quick] [--repeat N] [--rates 5,10] [--keep]   (--help; bench/README.md)
 *
 * Writes its table also to bench/out/osf-<timestamp>.md.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import * as lib from './lib.mjs';

const { BenchError, fmt, log, median } = lib;
const SCRIPT = 'bench/osf.mjs';
const PROGRAM = path.join(lib.BIN, 'git-annex-remote-annexd-osf');
const SERVER_MAIN = path.join(lib.ROOT, 'dist', 'demo', 'osf-server-main.js');
const REMOTE_MAIN = path.join(lib.ROOT, 'dist', 'remotes', 'osf', 'main.js');
const CONFIG_MAIN = path.join(lib.ROOT, 'dist', 'remotes', 'osf', 'config.js');
const LATENCY_MS = 200;
/** The server answers 429 past this many requests per second per client: OSF's documented burst throttle (osf-api.md §3.2). */
const SERVER_RATE_LIMIT = 10;
const FILE_BYTES = 100 * 1024;
const JOBS = 8;
/** osfclient: at least 1 s between consecutive GET/PUT calls of one session (osf-api.md §3.4). */
const OSFCLIENT_S_PER_REQUEST = 1;
/** osfclient's page size: the API's default (it never asks for page[size]). */
const OSFCLIENT_PAGE = 10;
/** RequestBudget's burst (src/remotes/osf/budget.ts DEFAULT_BURST): at most rate + burst taken in any second. */
const BURST = 1;
const TARGET = 0.2;

// ---------------------------------------------------------------- arguments

function parseArgs() {
  const usage = (code) => {
    process.stdout.write(
      `usage: node ${SCRIPT} [--quick] [--repeat N] [--rates R,R…] [--keep]\n` +
        `  --quick       50 files of 100 KiB (default 200)\n` +
        '  --repeat N    repeat every measurement N times and report the median (default 1)\n' +
        '  --rates R,…   measure with these requestrate= values, one remote each (default: the remote\'s default only)\n' +
        '  --keep        do not delete the scratch directory at the end\n',
    );
    process.exit(code);
  };
  const opts = { quick: false, repeat: 1, keep: false, rates: [undefined] };
  const argv = process.argv.slice(2);
  const value = (a, i) => (a.includes('=') ? [a.slice(a.indexOf('=') + 1), i] : [argv[i + 1], i + 1]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--keep') opts.keep = true;
    else if (a === '--help' || a === '-h') usage(0);
    else if (a === '--repeat' || a.startsWith('--repeat=')) {
      let v;
      [v, i] = value(a, i);
      opts.repeat = Number(v);
      if (!Number.isInteger(opts.repeat) || opts.repeat < 1) {
        process.stderr.write(`${SCRIPT}: --repeat needs a positive integer, got "${v}"\n`);
        process.exit(2);
      }
    } else if (a === '--rates' || a.startsWith('--rates=')) {
      let v;
      [v, i] = value(a, i);
      const rates = String(v ?? '').split(',').map(Number);
      if (!rates.length || rates.some((r) => !Number.isInteger(r) || r < 1 || r > 100)) {
        process.stderr.write(`${SCRIPT}: --rates needs whole numbers from 1 to 100, e.g. --rates 5,10 (got "${v}")\n`);
        process.exit(2);
      }
      opts.rates = rates;
    } else {
      process.stderr.write(`${SCRIPT}: unknown argument "${a}"\n`);
      usage(2);
    }
  }
  return opts;
}

const opts = parseArgs();
const FILES = opts.quick ? 50 : 200;

// ----------------------------------------------------------------- server

/** Starts the OSF-compatible server; resolves with { info, stats() } once it printed its JSON line. */
function startServer(dataDir, env, token) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_MAIN, dataDir], {
      // The token goes in the environment, never in the arguments.
      env: { ...env, ANNEXD_OSF_TOKEN: token, ANNEXD_OSF_LATENCY_MS: String(LATENCY_MS), ANNEXD_OSF_RATE_LIMIT: String(SERVER_RATE_LIMIT) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    lib.trackServer(child);
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const waiting = [];
    let info;
    const timer = setTimeout(() => reject(new BenchError('the OSF server did not report ready within 30 s')), 30_000);
    child.on('exit', (code, signal) => {
      if (!info) reject(new BenchError(`the OSF server exited (${signal ?? code}) before it was ready\n${err.trim()}`));
      for (const w of waiting.splice(0)) w.reject(new BenchError(`the OSF server exited (${signal ?? code})\n${err.trim()}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!info) {
        clearTimeout(timer);
        try {
          info = JSON.parse(line);
        } catch {
          reject(new BenchError(`unexpected first line from the OSF server: ${line}`));
          return;
        }
        resolve({
          child,
          info,
          /** { stats, requests }: every request the server saw so far (arrival order). */
          stats: () =>
            new Promise((res, rej) => {
              waiting.push({ resolve: res, reject: rej });
              child.stdin.write('stats\n');
            }),
        });
        return;
      }
      const w = waiting.shift();
      if (w) w.resolve(JSON.parse(line));
    });
  });
}

// ------------------------------------------------------------- the floor

/**
 * The seconds osfclient's throttle costs datalad-osf for the same work, one
 * session (as COS asked, ~1 request/s), counting every throttled GET/PUT it
 * sends, as osf-api.md §7-§8 describe them:
 * - every process opens the node: GET guids/<id>, GET nodes/<id>, GET nodes/<id>/files/ (3);
 * - copy: git-annex asks CHECKPRESENT of each key first; the first one loads the
 *   index of the (empty) root, 1 page; a key not in it is absent without a request;
 *   then 1 PUT per file (no 409: the names are new);
 * - drop: git-annex checks the remote has each key: the index of N files, ⌈N/10⌉ pages;
 * - get: the first RETRIEVE loads the index, ⌈N/10⌉ pages, then 1 GET per file.
 * DELETE/POST are not throttled and not used here.
 */
function floorRequests(n) {
  const open = 3;
  const pages = Math.max(1, Math.ceil(n / OSFCLIENT_PAGE));
  return {
    copy: { open, pages: 1, transfers: n },
    drop: { open, pages, transfers: 0 },
    get: { open, pages, transfers: n },
  };
}
const floorTotal = (f) => f.open + f.pages + f.transfers;

/**
 * Context: with -J8 git-annex starts up to 8 datalad-osf processes (it has no
 * ASYNC), each its own osfclient session with its own 1 s throttle, its own
 * node opening and its own full index: 8 requests per second together, 8
 * times what COS asked for. The keys split evenly.
 */
function floorEightSessions(n) {
  const f = floorRequests(n);
  const per = Math.ceil(n / JOBS);
  return {
    copy: f.copy.open + f.copy.pages + per,
    drop: floorTotal(f.drop), // drop runs without -J
    get: f.get.open + f.get.pages + per,
  };
}

// ------------------------------------------------------------------ main

/** Peak number of records within any sliding second (as the server computes maxPerSecond). */
function peakPerSecond(records) {
  let peak = 0;
  let lo = 0;
  records.forEach((r, i) => {
    while (records[lo].at <= r.at - 1000) lo++;
    peak = Math.max(peak, i - lo + 1);
  });
  return peak;
}

/** 429s after which the same request (method and path) was never answered otherwise. */
function unhandled429(records) {
  let n = 0;
  records.forEach((r, i) => {
    if (r.status !== 429) return;
    if (!records.slice(i + 1).some((s) => s.method === r.method && s.path === r.path && s.status !== 429)) n++;
  });
  return n;
}

async function main() {
  const info = lib.preflight([SERVER_MAIN, REMOTE_MAIN, CONFIG_MAIN], PROGRAM);
  const started = new Date();
  const { scratch, repo, env } = lib.makeScratch('osf', ['GIT_', 'OSF_', 'ANNEXD_', 'DATALAD_']);
  log(`scratch ${scratch}; ${FILES} x 100 KiB files, -J${JOBS}, ${LATENCY_MS} ms latency, repeat ${opts.repeat}`);
  const token = `osf${randomBytes(24).toString('hex')}`;
  const server = await startServer(path.join(scratch, 'osf-data'), env, token);
  const { api } = server.info;
  log(`OSF-compatible server at ${api} (pid ${server.child.pid}), ${LATENCY_MS} ms per request, 429 past ${SERVER_RATE_LIMIT}/s`);
  const aenv = { ...env, OSF_TOKEN: token };

  const createNode = async (title) => {
    const res = await fetch(`${api}nodes/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.api+json' },
      body: JSON.stringify({ data: { type: 'nodes', attributes: { title, category: 'data' } } }),
    });
    if (res.status !== 201) throw new BenchError(`creating a project on the OSF server answered HTTP ${res.status}`);
    return (await res.json()).data.id;
  };

  const repoRun = await lib.initRepo(repo, aenv);
  const { git, annex } = repoRun;
  log(`writing ${FILES} random files of 100 KiB`);
  mkdirSync(path.join(repo, 'files'));
  for (let i = 0; i < FILES; i++) writeFileSync(path.join(repo, 'files', `f${String(i).padStart(4, '0')}.bin`), randomBytes(FILE_BYTES));
  await annex(['add', '--quiet', 'files']);
  await git(['commit', '-q', '-m', 'bench files']);

  const remotes = [];
  for (const rate of opts.rates) {
    const name = rate === undefined ? 'osf' : `osf-r${rate}`;
    const node = await createNode(`bench ${name}`);
    await annex(['initremote', name, 'type=external', 'externaltype=annexd-osf', 'encryption=none', `api=${api}`, `node=${node}`,
      ...(rate === undefined ? [] : [`requestrate=${rate}`])]);
    remotes.push({ name, rate, results: { copy: [], drop: [], get: [], phases: [] } });
  }
  // The remote's default, from the build that runs.
  const defaultRate = (await import(CONFIG_MAIN)).DEFAULT_REQUEST_RATE;
  // What each remote runs with, as it reports it (git annex info shows "request rate: N/s").
  for (const R of remotes) {
    const shown = Number(/request rate: (\d+)\/s/.exec((await annex(['info', R.name])).stdout)?.[1]);
    if (shown !== (R.rate ?? defaultRate)) throw new BenchError(`git annex info ${R.name} shows request rate ${shown}, expected ${R.rate ?? defaultRate}: is dist/ current? (npm run build)`);
  }

  const countIn = async (args) => (await annex(['find', ...args, 'files'])).stdout.split('\n').filter(Boolean).length;
  for (let r = 0; r < opts.repeat; r++) {
    const order = r % 2 === 0 ? remotes : [...remotes].reverse();
    for (const R of order) {
      const rate = R.rate ?? defaultRate;
      const tag = `[${r + 1}/${opts.repeat} ${R.name}]`;
      const phase = async (what, args) => {
        const before = (await server.stats()).requests.length;
        const res = await annex(args, { onSpawn: lib.rssPoller('git-annex-remote-annexd-osf') });
        const records = (await server.stats()).requests.slice(before);
        R.results[what].push(res.ms);
        const p = {
          what, round: r, ms: res.ms, requests: records.length, peak: peakPerSecond(records),
          throttled: records.filter((x) => x.status === 429).length, unhandled: unhandled429(records),
          failed: records.filter((x) => x.status >= 500 || x.status < 0).length, procs: res.annexdProcs, rate,
        };
        R.results.phases.push(p);
        log(`${tag} ${args.join(' ')}: ${fmt.s(res.ms)}, ${p.requests} requests, peak ${p.peak} in 1 s, ${p.throttled} x 429`);
        return p;
      };
      await phase('copy', ['copy', `-J${JOBS}`, '--to', R.name, 'files']);
      const there = await countIn(['--in', R.name]);
      if (there !== FILES) throw new BenchError(`${R.name}: git-annex lists ${there} of ${FILES} files on the remote after copy`);
      await phase('drop', ['drop', 'files']);
      if ((await countIn([])) !== 0) throw new BenchError(`${R.name}: files still present here after drop`);
      await phase('get', ['get', `-J${JOBS}`, '--from', R.name, 'files']);
      const here = await countIn([]);
      if (here !== FILES) throw new BenchError(`${R.name}: ${here} of ${FILES} files present here after get`);
      // Next round starts from an empty remote (untimed).
      if (r + 1 < opts.repeat) await annex(['drop', '--force', `-J${JOBS}`, '--from', R.name, 'files']);
    }
  }
  const total = await server.stats();
  await lib.stopServers();
  return { ...info, started, defaultRate, remotes, serverTotal: total.stats };
}

// ---------------------------------------------------------------- report

function report(res) {
  const f = floorRequests(FILES);
  const floorS = { copy: floorTotal(f.copy), drop: floorTotal(f.drop), get: floorTotal(f.get) };
  const floorAll = floorS.copy + floorS.drop + floorS.get;
  const eight = floorEightSessions(FILES);
  const eightAll = eight.copy + eight.drop + eight.get;
  const rows = [];
  const ctx = [];
  const samples = [];
  for (const R of res.remotes) {
    const rate = R.rate ?? res.defaultRate;
    const label = `requestrate=${rate}${rate === res.defaultRate ? ' (default)' : ''}`;
    const m = { copy: median(R.results.copy), drop: median(R.results.drop), get: median(R.results.get) };
    const all = m.copy + m.drop + m.get;
    const ph = (what) => R.results.phases.filter((p) => p.what === what);
    const medOf = (what, k) => median(ph(what).map((p) => p[k]));
    const allPh = R.results.phases;
    const peak = Math.max(...allPh.map((p) => p.peak));
    const throttled = allPh.reduce((s, p) => s + p.throttled, 0);
    const unhandled = allPh.reduce((s, p) => s + p.unhandled, 0);
    const bound = rate + BURST;
    const row = (name, ms, floor, target) => {
      const ratio = ms / (floor * 1000);
      return [`${label}: ${name}`, fmt.s(ms), `${floor} s`, ratio.toFixed(3), target ? `≤ ${TARGET}` : '(context)', target ? fmt.verdict(ratio <= TARGET) : ''];
    };
    rows.push(row(`${FILES} × 100 KiB copy -J${JOBS} --to`, m.copy, floorS.copy, true));
    rows.push(row(`drop (checks the remote)`, m.drop, floorS.drop, false));
    rows.push(row(`get -J${JOBS} --from`, m.get, floorS.get, true));
    rows.push(row('copy + drop + get', all, floorAll, true));
    rows.push([`${label}: peak requests in any 1 s (server's count)`, String(peak), '', '', `≤ ${bound} (${rate}/s + burst ${BURST})`, fmt.verdict(peak <= bound)]);
    rows.push([`${label}: 429s left unhandled`, String(unhandled), '', '', '0', fmt.verdict(unhandled === 0)]);
    ctx.push([`${label}: requests (copy / drop / get, median)`, `${medOf('copy', 'requests')} / ${medOf('drop', 'requests')} / ${medOf('get', 'requests')}`,
      `${floorS.copy} / ${floorS.drop} / ${floorS.get}`]);
    ctx.push([`${label}: mean requests per second (copy / get)`, `${(medOf('copy', 'requests') / (m.copy / 1000)).toFixed(2)} / ${(medOf('get', 'requests') / (m.get / 1000)).toFixed(2)}`, '1 (osfclient)']);
    ctx.push([`${label}: 429s answered by the server (all handled: sent again)`, String(throttled), '']);
    ctx.push([`${label}: remote processes started per command (max)`, String(Math.max(...allPh.map((p) => p.procs))), `up to ${JOBS} (no ASYNC)`]);
    ctx.push([`${label}: requests per run, all phases`, String(allPh.reduce((s, p) => s + p.requests, 0) / opts.repeat), `${floorAll} (throttled GET/PUT)`]);
    samples.push(`- ${label}: copy ${fmt.secs(R.results.copy)}; drop ${fmt.secs(R.results.drop)}; get ${fmt.secs(R.results.get)}; ` +
      `requests ${allPh.map((p) => `${p.what} ${p.requests}`).join(', ')}; peaks ${allPh.map((p) => p.peak).join(', ')}`);
  }
  ctx.push([`context: osfclient floor if each of ${JOBS} datalad-osf processes kept its own 1 s (copy / drop / get)`, '', `${eight.copy} / ${eight.drop} / ${eight.get} s (total ${eightAll} s; ${JOBS} req/s)`]);

  const md = lib.markdown({
    title: "annexd-osf vs osfclient's 1 request/s floor",
    script: SCRIPT,
    info: res,
    repeat: opts.repeat,
    against: 'osfclient floor',
    about: [
      `- one OSF-compatible server (dist/demo/osf-server-main.js) on 127.0.0.1, ${LATENCY_MS} ms added to every answer, 429 + Retry-After past ${SERVER_RATE_LIMIT} requests/s (OSF's burst throttle)`,
      `- ${FILES} random files of 100 KiB; \`git annex copy -J${JOBS} --to R\`, \`git annex drop\` (git-annex checks the remote has each file), \`git annex get -J${JOBS} --from R\`; a project of its own per remote`,
      '- floor = the GET/PUT requests datalad-osf sends for the same work through osfclient, × 1 s each (osfclient sleeps so that',
      '  consecutive GET/PUT calls of a session are ≥ 1 s apart; osf-api.md §3.4), one session, as COS asked (~1 request/s):',
      "  every process opens the node (GET guids, GET node, GET storage providers: 3); copy: CHECKPRESENT loads the empty root's index (1 page),",
      `  then 1 PUT per file = ${floorS.copy}; drop: 3 + the index of ${FILES} files at ${OSFCLIENT_PAGE} per page (${f.drop.pages} pages) = ${floorS.drop};`,
      `  get: 3 + ${f.get.pages} pages + 1 GET per file = ${floorS.get}; total ${floorAll} s. Latency and transfer time are not added (a floor).`,
      `- ratio = annexd's time / the floor; target ≤ ${TARGET} (issue 9). Peak = most requests the server saw arrive within any one second.`,
    ],
    rows,
    context: ctx,
    notes: [`Server totals: ${res.serverTotal.requests} requests, by status ${JSON.stringify(res.serverTotal.byStatus)}, peak ${res.serverTotal.maxPerSecond} in 1 s.`],
    samples,
  });
  lib.writeReport('osf', res.started, md);
}

await lib.runBench(SCRIPT, opts, main, report);

#!/usr/bin/env node
/**
 * The sync daemon's two targets (issue 13): an idle `annexd serve` watching
 * 50 datasets (--on-change) uses under 1 % of a core and under 120 MiB RSS,
 * and a commit to a watched dataset starts its sync within 2 s.
 *
 * 50 datasets (copies of one git-annex dataset, each with its own bare
 * origin that publish-depends on a directory remote) are added with
 * `annexd sync add --on-change`; the daemon syncs them all at start-up;
 * then its CPU time (utime+stime from /proc) and RSS are read over an idle
 * window, then commits are made one at a time and the time from the end of
 * `git commit` to the sync's start as the daemon recorded it is taken.
 *
 *   node bench/daemon.mjs [--quick] [--keep]     (--quick: 10 datasets, 5 s idle)
 *
 * Writes its table also to bench/out/daemon-<timestamp>.md. Targets are shown, not asserted.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as lib from './lib.mjs';

const { BenchError, log, median } = lib;
const SCRIPT = 'bench/daemon.mjs';
const { opts } = lib.parseArgs(SCRIPT);
const COUNT = opts.quick ? 10 : 50;
const IDLE_S = opts.quick ? 5 : 20;
const COMMITS = 10;
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

const sh = (cmd, args, env, cwd) => execFileSync(cmd, args, { env, cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function cpuTicks(pid) {
  // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(rest[11]) + Number(rest[12]);
}
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const syncs = (stateDir) => {
  try {
    return JSON.parse(readFileSync(path.join(stateDir, 'syncs.json'), 'utf8')).syncs;
  } catch {
    return [];
  }
};
async function until(what, check, ms = 600_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new BenchError(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function main() {
  const info = lib.preflight([path.join(lib.ROOT, 'dist', 'daemon', 'page.html')], path.join(lib.BIN, 'annexd'));
  const { scratch, env: baseEnv } = lib.makeScratch('daemon', ['ANNEXD_', 'GIT_']);
  const env = { ...baseEnv, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@annexd.invalid', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@annexd.invalid' };
  const stateDir = path.join(scratch, 'state');
  const tpl = path.join(scratch, 'template');
  const store = path.join(scratch, 'store');
  log(`making ${COUNT} datasets`);
  sh('mkdir', ['-p', tpl, store]);
  sh('git', ['init', '-q', '-b', 'main'], env, tpl);
  sh('git', ['annex', 'init', '-q', 'tpl'], env, tpl);
  sh('sh', ['-c', 'for i in 1 2 3 4 5; do head -c 65536 /dev/urandom > f$i.dat; done'], env, tpl);
  sh('git', ['annex', 'add', '--quiet', '.'], env, tpl);
  sh('git', ['commit', '-q', '-m', 'files'], env, tpl);
  sh('git', ['annex', 'initremote', 'store', 'type=directory', `directory=${store}`, 'encryption=none'], env, tpl);
  const tplOrigin = path.join(scratch, 'origin-template.git');
  sh('git', ['init', '-q', '--bare', tplOrigin], env);
  sh('git', ['annex', 'init', '-q', 'origin'], env, tplOrigin);
  const datasets = [];
  for (let i = 0; i < COUNT; i++) {
    const ds = path.join(scratch, `ds${i}`);
    const origin = path.join(scratch, `origin${i}.git`);
    sh('cp', ['-a', tpl, ds]);
    sh('cp', ['-a', tplOrigin, origin]);
    sh(path.join(lib.BIN, 'annexd'), ['siblings', 'add', '--name', 'origin', '--url', origin, '--publish-depends', 'store'], env, ds);
    sh(path.join(lib.BIN, 'annexd'), ['sync', 'add', '.', '--to', 'origin', '--on-change'], { ...env, ANNEXD_STATE_DIR: stateDir }, ds);
    datasets.push(ds);
  }
  log('starting annexd serve; it syncs every dataset once');
  const t0 = Date.now();
  const daemon = spawn(path.join(lib.BIN, 'annexd'), ['serve', '--port', '0'], { env: { ...env, ANNEXD_STATE_DIR: stateDir }, stdio: ['ignore', 'ignore', 'pipe'] });
  lib.trackServer(daemon);
  let err = '';
  daemon.stderr.on('data', (c) => (err += c));
  await until('the first syncs', () => {
    const s = syncs(stateDir);
    if (s.some((e) => e.lastResult === 'failed')) throw new BenchError(`a sync failed: ${s.find((e) => e.lastResult === 'failed').lastError}`);
    return s.length === COUNT && s.every((e) => e.lastResult === 'ok');
  });
  const firstSyncs = (Date.now() - t0) / 1000;
  await sleep(2000);
  log(`idle for ${IDLE_S} s`);
  const c0 = cpuTicks(daemon.pid);
  const w0 = Date.now();
  const rss = [];
  for (let s = 0; s < IDLE_S; s++) {
    await sleep(1000);
    rss.push(rssKiB(daemon.pid));
  }
  const cpuPct = (((cpuTicks(daemon.pid) - c0) / TICK) * 1000 * 100) / (Date.now() - w0);
  log(`${COMMITS} commits, one at a time`);
  const latencies = [];
  for (let i = 0; i < COMMITS; i++) {
    const ds = datasets[i % COUNT];
    sh('git', ['commit', '-q', '--allow-empty', '-m', `change ${i}`], env, ds);
    const t = Date.now();
    await until(`the sync of ${ds}`, () => {
      const e = syncs(stateDir).find((x) => x.path === ds);
      return e?.lastStart && Date.parse(e.lastStart) >= t - 5 && e.lastResult === 'ok';
    });
    latencies.push(Date.parse(syncs(stateDir).find((x) => x.path === ds).lastStart) - t);
  }
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.on('exit', r));
  if (/token/i.test(err)) throw new BenchError('the daemon log mentions a token');
  return { info, cpuPct, rssMax: Math.max(...rss), rssMedian: median(rss), latencies, firstSyncs };
}

lib.runBench(SCRIPT, opts, main, (r) => {
  const md = [
    `# annexd serve: idle cost and commit-to-sync latency (${COUNT} datasets)`,
    '',
    `${new Date().toISOString()}, git-annex ${r.info.gitAnnexVersion ?? ''}, annexd ${r.info.revision ?? ''}`,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| idle CPU over ${IDLE_S} s, ${COUNT} datasets watched | ${r.cpuPct.toFixed(2)} % of a core | < 1 % |`,
    `| RSS while idle (max / median) | ${(r.rssMax / 1024).toFixed(1)} / ${(r.rssMedian / 1024).toFixed(1)} MiB | < 120 MiB |`,
    `| commit to sync start, median of ${COMMITS} (max) | ${median(r.latencies)} ms (${Math.max(...r.latencies)} ms) | < 2000 ms |`,
    `| first sync of all ${COUNT} (start-up, -J 4) | ${r.firstSyncs.toFixed(1)} s | |`,
    '',
    'The latency includes the 500 ms debounce of --on-change. No tool a user would use instead',
    'is measured side by side: the git-annex assistant needs its own repositories and webapp.',
    '',
  ].join('\n');
  lib.writeReport('daemon', new Date(), md);
});

#!/usr/bin/env node
/**
 * What reporting transfers to the daemon costs a `git annex copy` run by hand
 * (issue 13: "best effort, never slowing or blocking git-annex"). The same
 * copies to annexd-s3 on the embedded S3 server, four ways, alternating:
 *
 *   off      ANNEXD_NO_DAEMON_REPORT=1: the remote does not look for a daemon
 *   none     reporting on, no daemon (no socket: one stat every 5 s at most)
 *   daemon   reporting on, `annexd serve` running and receiving the reports
 *   stopped  reporting on, the daemon SIGSTOPped (reports pile up, then are dropped)
 *
 * Each round: `git annex copy --to s3` of one big file and of N small files
 * (-J4), then `git annex drop --from s3` (not timed). Medians, and each way's
 * ratio to "off".
 *
 *   node bench/daemon-report.mjs [--quick] [--repeat N] [--keep]
 *   (--quick: 256 MiB and 200 files; default 1 GiB and 1000 files; --repeat: rounds, default 3)
 *
 * Writes its table also to bench/out/daemon-report-<timestamp>.md.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as lib from './lib.mjs';
import { startS3Server } from './servers.mjs';

const { BenchError, log, median, run } = lib;
const SCRIPT = 'bench/daemon-report.mjs';
const { opts, bigBytes, smallCount, bigLabel } = lib.parseArgs(SCRIPT);
const ROUNDS = opts.repeat > 1 ? opts.repeat : 3;
const WAYS = ['off', 'none', 'daemon', 'stopped'];
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime+stime (s) of `pid`, or with `children` the cutime+cstime of what it has waited for (git-annex and the remotes it waited for). */
function cpu(pid, children = false) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const [a, b] = children ? [13, 14] : [11, 12];
  return (Number(f[a]) + Number(f[b])) / TICK;
}

async function main() {
  const info = lib.preflight([path.join(lib.ROOT, 'dist', 'remotes', 'core', 'daemon-report.js')], path.join(lib.BIN, 'annexd'));
  const { scratch, repo, env: baseEnv } = lib.makeScratch('daemon-report', ['GIT_', 'AWS_', 'ANNEXD_']);
  const s3 = await startS3Server(path.join(scratch, 's3data'), { ...baseEnv, ANNEXD_S3_ACCESS_KEY_ID: 'bench', ANNEXD_S3_SECRET_ACCESS_KEY: randomBytes(16).toString('hex') });
  const stateDir = path.join(scratch, 'state');
  const env = {
    ...baseEnv,
    AWS_ACCESS_KEY_ID: s3.info.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.info.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ANNEXD_STATE_DIR: stateDir,
  };
  const r = await lib.initRepo(repo, env);
  await lib.addBenchFiles(repo, r, { bigBytes, smallCount, bigLabel });
  /** Runs git annex ARGS; its wall time and the CPU time of git-annex and its remotes (s). */
  const ok = async (args, extra = {}) => {
    const c0 = cpu('self', true);
    const res = await r.annex(args, { env: { ...env, ...extra } });
    if (res.code !== 0) throw new BenchError(`git annex ${args.join(' ')} failed: ${res.stderr.slice(-2000)}`);
    return { ms: res.ms, cpu: cpu('self', true) - c0 };
  };
  await ok(['initremote', 's3', 'type=external', 'externaltype=annexd-s3', 'encryption=none', 'bucket=bench-report', `endpoint=${s3.info.endpoint}`]);

  log('starting annexd serve (no syncs: it only receives reports)');
  const daemon = spawn(path.join(lib.BIN, 'annexd'), ['serve', '--port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  lib.trackServer(daemon);
  let err = '';
  daemon.stderr.on('data', (c) => (err += c));
  const sock = path.join(stateDir, 'progress.sock');
  for (let i = 0; !existsSync(sock) || !/listening on/.test(err); i++) {
    if (i > 600 || daemon.exitCode !== null) throw new BenchError(`annexd serve did not start: ${err}`);
    await sleep(50);
  }
  const hidden = path.join(scratch, 'no-daemon-here');

  const times = Object.fromEntries(WAYS.map((w) => [w, { big: [], small: [], bigCpu: [], smallCpu: [], daemonCpu: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    // Rotated each round, so no way always runs first (warm caches, a busy machine).
    const order = WAYS.map((_, i) => WAYS[(i + round) % WAYS.length]);
    for (const way of order) {
      const extra = way === 'off' ? { ANNEXD_NO_DAEMON_REPORT: '1' } : way === 'none' ? { ANNEXD_STATE_DIR: hidden } : {};
      log(`round ${round + 1}/${ROUNDS}: ${way}`);
      if (way === 'stopped') process.kill(daemon.pid, 'SIGSTOP');
      const d0 = cpu(daemon.pid);
      try {
        const big = await ok(['copy', '--quiet', '--to', 's3', 'big'], extra);
        const small = await ok(['copy', '--quiet', '-J4', '--to', 's3', 'small'], extra);
        times[way].big.push(big.ms);
        times[way].bigCpu.push(big.cpu);
        times[way].small.push(small.ms);
        times[way].smallCpu.push(small.cpu);
      } finally {
        if (way === 'stopped') process.kill(daemon.pid, 'SIGCONT');
      }
      // What the daemon spent on these copies' reports (after SIGCONT too: it reads what was queued).
      await sleep(300);
      times[way].daemonCpu.push(cpu(daemon.pid) - d0);
      await ok(['drop', '--quiet', '--force', '--from', 's3', 'big', 'small']);
    }
  }
  if (existsSync(hidden)) throw new BenchError(`${hidden} was made: with no daemon nothing may be written`);
  daemon.kill('SIGTERM');
  await new Promise((res) => daemon.on('exit', res));
  return { info, times };
}

lib.runBench(SCRIPT, opts, main, ({ info, times }) => {
  const m = (way, k) => median(times[way][k]);
  const cell = (way, k, unit = 1000) => `${(m(way, k) / unit).toFixed(2)} s (${(m(way, k) / m('off', k)).toFixed(2)})`;
  const row = (way, what) =>
    `${cell(way, 'big')} | ${cell(way, 'bigCpu', 1)} | ${cell(way, 'small')} | ${cell(way, 'smallCpu', 1)} | ${m(way, 'daemonCpu').toFixed(2)} s | ${what}`;
  const md = [
    '# A hand-run `git annex copy` with and without reporting to the daemon',
    '',
    `${new Date().toISOString()}, git-annex ${info.gitAnnexVersion ?? ''}, annexd ${info.revision ?? ''}, median of ${ROUNDS} rounds (ways rotated each round)`,
    '',
    `| way | copy ${bigLabel}: wall (ratio to off) | CPU of git-annex + remotes | copy -J4 ${smallCount} × 4 KiB: wall | CPU | daemon CPU | what |`,
    '|---|---|---|---|---|---|---|',
    `| off | ${row('off', 'ANNEXD_NO_DAEMON_REPORT=1')} |`,
    `| none | ${row('none', 'reporting on, no daemon')} |`,
    `| daemon | ${row('daemon', 'annexd serve receiving the reports')} |`,
    `| stopped | ${row('stopped', 'the daemon SIGSTOPped during the copies')} |`,
    '',
    'The embedded S3 server on 127.0.0.1; every copy is followed by an untimed drop --from s3.',
    'CPU: user+system time of git-annex and the remote processes it waited for (cutime+cstime); daemon CPU: annexd serve\'s own during that way\'s two copies.',
    '',
    'Samples (s):',
    '',
    ...WAYS.map((w) => `- ${w}: ${['big', 'bigCpu', 'small', 'smallCpu'].map((k) => `${k} ${times[w][k].map((t) => (k.endsWith('Cpu') ? t : t / 1000).toFixed(2)).join(', ')}`).join('; ')}`),
    '',
  ].join('\n');
  lib.writeReport('daemon-report', new Date(), md);
});

#!/usr/bin/env node
/**
 * annexd versus git-annex's built-in remotes across a wide-area link: S3 (the
 * embedded s3rver-based server) and WebDAV (lighttpd + mod_webdav; and Apache
 * + mod_dav_fs for the big file, whose strong ETags allow parallel ranges), each
 * behind the shaping proxy (src/demo/fault-proxy.ts) at 25 ms each way and
 * 25 MiB/s per connection. annexd and the built-in remote go through the SAME
 * proxy in one run; the proxy's per-method counts give requests per key.
 *
 *   node bench/wan.mjs [--quick] [--repeat N] [--perjob] [--no-s3] [--no-webdav] [--no-apache] [--keep]
 *
 * Writes its tables also to bench/out/wan-<timestamp>.md. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as lib from './lib.mjs';
import { DAV_USER, LIGHTTPD, MOD_WEBDAV, startApache, startLighttpd, startS3Server } from './servers.mjs';

const { BenchError, MiB, fmt, log, median } = lib;
const SCRIPT = 'bench/wan.mjs';
const PROGRAMS = {
  s3: path.join(lib.BIN, 'git-annex-remote-annexd-s3'),
  webdav: path.join(lib.BIN, 'git-annex-remote-annexd-webdav'),
  apache: path.join(lib.BIN, 'git-annex-remote-annexd-webdav'),
};
const BUILT = ['demo/s3-server-main.js', 'demo/fault-proxy.js', 'demo/apache-dav.js', 'remotes/s3/main.js', 'remotes/webdav/main.js'].map((f) =>
  path.join(lib.ROOT, 'dist', f),
);
/** The link of issue 14. */
const WAN = { latencyMs: 25, bytesPerSecond: 25 * MiB };
const JOBS = 8;

const sizes = lib.parseArgs(
  SCRIPT,
  {
    perjob: 'also run annexd\'s small-file phases with one remote process per job (ANNEXD_NO_ASYNC=1)',
    'no-s3': 'skip S3',
    'no-webdav': 'skip WebDAV (both servers)',
    'no-apache': 'skip WebDAV on Apache (the big file only: lighttpd has the small-file phases)',
  },
  { full: [1024 * MiB, 500], quick: [128 * MiB, 100] },
);
const { opts, bigBytes: BIG_BYTES, smallCount: SMALL_COUNT, bigLabel } = sizes;
const PROTOCOLS = [
  ...(opts['no-s3'] ? [] : ['s3']),
  ...(opts['no-webdav'] ? [] : ['webdav']),
  ...(opts['no-webdav'] || opts['no-apache'] ? [] : ['apache']),
];
/** Protocols measured with the big file only. */
const BIG_ONLY = new Set(['apache']);
if (!PROTOCOLS.length) {
  process.stderr.write(`${SCRIPT}: --no-s3 and --no-webdav leave nothing to measure\n`);
  process.exit(2);
}

/** The small-file phases, as git-annex commands; each is timed and its requests counted. */
const SMALL = {
  store: { label: `${SMALL_COUNT} × 4 KiB copy -J${JOBS} --to R`, args: (R) => ['copy', `-J${JOBS}`, '--to', R, 'small'] },
  checkpresent: { label: `${SMALL_COUNT} × 4 KiB fsck --fast -J${JOBS} --from R`, args: (R) => ['fsck', '--fast', `-J${JOBS}`, '--from', R, 'small'] },
  retrieve: { label: `${SMALL_COUNT} × 4 KiB get -J${JOBS} --from R`, args: (R) => ['get', `-J${JOBS}`, '--from', R, 'small'] },
  remove: { label: `${SMALL_COUNT} × 4 KiB drop -J${JOBS} --from R`, args: (R) => ['drop', `-J${JOBS}`, '--from', R, 'small'] },
};

// results[P][phase][R] = [ms, …]; counts[P][phase][R] = { byMethod, total, keys } (first round)
const results = {};
const counts = {};
const rss = {}; // rss[P] = { store: [kB], retrieve: [kB] } of the annexd remote process
const record = (P, phase, R, ms) => (((results[P] ??= {})[phase] ??= {})[R] ??= []).push(ms);

async function main() {
  const { gitAnnexVersion, revision } = lib.preflight(BUILT, PROGRAMS.s3);
  if (PROTOCOLS.includes('webdav')) {
    const lt = spawnSync(LIGHTTPD, ['-v'], { encoding: 'utf8' });
    if (lt.error || lt.status !== 0 || !existsSync(MOD_WEBDAV)) {
      throw new BenchError('lighttpd with its WebDAV module is needed: apt-get install lighttpd lighttpd-mod-webdav');
    }
  }
  if (PROTOCOLS.includes('apache')) {
    const ap = spawnSync('apache2', ['-v'], { encoding: 'utf8' });
    const ht = spawnSync('htpasswd', ['-h'], { encoding: 'utf8' });
    if (ap.error || ap.status !== 0 || ht.error) throw new BenchError('Apache is needed (or pass --no-apache): apt-get install apache2 apache2-utils');
  }
  const started = new Date();
  // The repository, both servers' copies of the big file and git-annex's temporary copies.
  const base = lib.scratchBase(8 * BIG_BYTES);
  const { scratch, repo, env } = lib.makeScratch('wan', ['GIT_', 'AWS_', 'WEBDAV_', 'ANNEXD_'], base);
  log(`scratch ${scratch}; ${bigLabel} file, ${SMALL_COUNT} x 4 KiB files, repeat ${opts.repeat}; ${PROTOCOLS.join(' and ')}`);
  const { startFaultProxy, through } = await import('../dist/demo/fault-proxy.js');

  const renv = { ...env };
  const proxies = {};
  const remotes = {}; // remotes[P] = [{ name, R, env? }]
  if (PROTOCOLS.includes('s3')) {
    const server = await startS3Server(path.join(scratch, 's3data'), {
      ...env,
      ANNEXD_S3_ACCESS_KEY_ID: 'bench-' + randomBytes(4).toString('hex'),
      ANNEXD_S3_SECRET_ACCESS_KEY: randomBytes(18).toString('base64url'),
    });
    proxies.s3 = await startFaultProxy({ target: server.info.endpoint, ...WAN });
    log(`s3rver at ${server.info.endpoint}, through the shaping proxy at ${proxies.s3.url}`);
    renv.AWS_ACCESS_KEY_ID = server.info.accessKeyId;
    renv.AWS_SECRET_ACCESS_KEY = server.info.secretAccessKey;
  }
  const davs = {}; // davs[P] = { url } of lighttpd (webdav) and Apache (apache), one user and password for both
  const password = randomBytes(12).toString('hex');
  for (const [P, name, start] of [['webdav', 'lighttpd', startLighttpd], ['apache', 'apache', startApache]]) {
    if (!PROTOCOLS.includes(P)) continue;
    davs[P] = await start(path.join(scratch, name), password);
    proxies[P] = await startFaultProxy({ target: davs[P].url, ...WAN });
    log(`${name} at ${davs[P].url}, through the shaping proxy at ${proxies[P].url}`);
    renv.WEBDAV_USERNAME = DAV_USER;
    renv.WEBDAV_PASSWORD = password;
  }
  log(`link: ${WAN.latencyMs} ms each way, ${WAN.bytesPerSecond / MiB} MiB/s per connection`);

  const repoRun = await lib.initRepo(repo, renv);
  const { annex } = repoRun;
  const perJob = { ...renv, ANNEXD_NO_ASYNC: '1' };
  if (proxies.s3) {
    const { url, port } = proxies.s3;
    const annexd = (name) => ['initremote', name, 'type=external', 'externaltype=annexd-s3', 'encryption=none', `bucket=bench-${name}`, `endpoint=${url}`];
    await annex(annexd('s3-annexd'));
    await annex(['initremote', 's3-builtin', 'type=S3', 'encryption=none', 'host=127.0.0.1', `port=${port}`,
      'protocol=http', 'requeststyle=path', 'signature=v4', 'bucket=bench-s3-builtin']);
    remotes.s3 = [{ name: 's3-annexd', R: 'annexd' }, { name: 's3-builtin', R: 'builtin' }];
    if (opts.perjob) {
      await annex(annexd('s3-annexd-perjob'));
      remotes.s3.push({ name: 's3-annexd-perjob', R: 'annexd-perjob', env: perJob, smallOnly: true });
    }
  }
  for (const [P, prefix] of [['webdav', 'dav'], ['apache', 'ap']]) {
    if (!proxies[P]) continue;
    const url = through(proxies[P], davs[P].url);
    const annexd = (name) => ['initremote', name, 'type=external', 'externaltype=annexd-webdav', 'encryption=none', `url=${url}/${name}`];
    await annex(annexd(`${prefix}-annexd`));
    await annex(['initremote', `${prefix}-builtin`, 'type=webdav', 'encryption=none', `url=${url}/${prefix}-builtin`]);
    remotes[P] = [{ name: `${prefix}-annexd`, R: 'annexd' }, { name: `${prefix}-builtin`, R: 'builtin' }];
    if (opts.perjob && !BIG_ONLY.has(P)) {
      await annex(annexd(`${prefix}-annexd-perjob`));
      remotes[P].push({ name: `${prefix}-annexd-perjob`, R: 'annexd-perjob', env: perJob, smallOnly: true });
    }
  }
  await lib.addBenchFiles(repo, repoRun, sizes);

  for (let r = 0; r < opts.repeat; r++) {
    const tag = `[${r + 1}/${opts.repeat}]`;
    for (const P of PROTOCOLS) {
      const proxy = proxies[P];
      const onSpawn = lib.rssPoller(path.basename(PROGRAMS[P]));
      // annexd first on even rounds, the built-in remote first on odd ones.
      const order = r % 2 === 0 ? remotes[P] : [...remotes[P]].reverse();
      /** Runs one timed command of remote `rem` for `phase`, counting its requests on the first round. */
      const timed = async (phase, rem, args, keys, o = {}) => {
        const { res, byMethod, total } = await lib.countRequests(proxy, () => annex(args, { env: rem.env ?? renv, ...o }));
        record(P, phase, rem.R, res.ms);
        if (r === 0) ((counts[P] ??= {})[phase] ??= {})[rem.R] = { byMethod, total, keys };
        log(`${tag} ${P} ${args.join(' ')}: ${fmt.s(res.ms)}, ${total} requests`);
        return res;
      };
      // 1. the big file: store, then retrieve after dropping it here (git-annex verifies it)
      for (const rem of order.filter((x) => !x.smallOnly)) {
        const res = await timed('bigStore', rem, ['copy', '--to', rem.name, 'big'], 1, { onSpawn });
        if (rem.R === 'annexd') ((rss[P] ??= { store: [], retrieve: [] }).store).push(res.annexdKb);
      }
      for (const rem of order.filter((x) => !x.smallOnly)) {
        await annex(['drop', '--force', 'big']);
        const res = await timed('bigRetrieve', rem, ['get', '--from', rem.name, 'big'], 1, { onSpawn });
        if (rem.R === 'annexd') {
          if (!res.annexdProcs) throw new BenchError(`no ${path.basename(PROGRAMS[P])} process seen during the ${bigLabel} retrieve`);
          rss[P].retrieve.push(res.annexdKb);
        }
      }
      // 2. the small files: store, presence checks, retrieve (after dropping them here), remove
      if (BIG_ONLY.has(P)) {
        for (const rem of order) await annex(['drop', '--force', '--from', rem.name, 'big']);
        continue;
      }
      for (const rem of order) await timed('store', rem, SMALL.store.args(rem.name), SMALL_COUNT);
      if (r === 0) {
        for (const rem of remotes[P]) {
          const n = (await annex(['find', '--in', rem.name, 'small'])).stdout.split('\n').filter(Boolean).length;
          if (n !== SMALL_COUNT) throw new BenchError(`expected ${SMALL_COUNT} small files on ${rem.name}, git-annex lists ${n}`);
        }
      }
      for (const rem of order) await timed('checkpresent', rem, SMALL.checkpresent.args(rem.name), SMALL_COUNT);
      for (const rem of order) {
        await annex(['drop', '--force', `-J${JOBS}`, 'small']);
        await timed('retrieve', rem, SMALL.retrieve.args(rem.name), SMALL_COUNT);
      }
      for (const rem of order) await timed('remove', rem, SMALL.remove.args(rem.name), SMALL_COUNT);
      // Untimed: the big file off the remotes, for the next round's store.
      for (const rem of order.filter((x) => !x.smallOnly)) await annex(['drop', '--force', '--from', rem.name, 'big']);
    }
  }
  for (const p of Object.values(proxies)) await p.stop();
  await lib.stopServers();
  return { started, gitAnnexVersion, revision, base };
}

// ----------------------------------------------------------------- report

/** [phase, label, target ratio or undefined] per protocol. */
const TIMED_ROWS = (P) => [
  ['bigStore', `${bigLabel} store: copy --to R`, P === 's3' ? 0.35 : undefined],
  ['bigRetrieve', `${bigLabel} retrieve: get --from R (incl. sha256 verify)`, 0.35],
  ...(BIG_ONLY.has(P)
    ? []
    : [
        ['store', SMALL.store.label, 1.0],
        ['checkpresent', SMALL.checkpresent.label, 1.0],
        ['retrieve', SMALL.retrieve.label, undefined],
        ['remove', SMALL.remove.label, undefined],
      ]),
];
const NAMES = { s3: 'S3 (s3rver)', webdav: 'WebDAV (lighttpd mod_webdav)', apache: 'WebDAV (Apache mod_dav_fs)' };

function report(info) {
  const rows = [];
  const reqRows = [];
  for (const P of PROTOCOLS) {
    const res = results[P];
    for (const [phase, label, limit] of TIMED_ROWS(P)) {
      const row = lib.ratioRow(`${NAMES[P]}: ${label}`, res[phase].annexd, res[phase].builtin, limit);
      rows.push(row);
      if (res[phase]['annexd-perjob']) {
        rows.push(lib.ratioRow(`${NAMES[P]}: ${label}, annexd one process per job (ANNEXD_NO_ASYNC=1)`, res[phase]['annexd-perjob'], res[phase].builtin));
      }
    }
    const kb = median(rss[P].retrieve);
    rows.push([`${NAMES[P]}: peak RSS of the annexd remote, parallel ${bigLabel} retrieve`, fmt.mib(kb), '(in git-annex)', '', '< 150 MiB', fmt.verdict(kb / 1024 < 150)]);
    rows.push([`${NAMES[P]}: peak RSS of the annexd remote, ${bigLabel} store`, fmt.mib(median(rss[P].store)), '(in git-annex)', '', '(context)', '']);
    // Requests per key, per operation: the small files', and the big file's.
    const opOf = { bigStore: `${bigLabel} store`, bigRetrieve: `${bigLabel} retrieve`, store: 'store (copy, incl. its presence check)', checkpresent: 'checkpresent (fsck --fast)', retrieve: 'retrieve (get)', remove: 'remove (drop --from)' };
    for (const [phase, what] of Object.entries(opOf)) {
      const c = counts[P][phase];
      if (!c) continue;
      const a = c.annexd.total / c.annexd.keys;
      const b = c.builtin.total / c.builtin.keys;
      // Parallel ranges and parts are more requests by design: the target is for the per-key small operations.
      const target = phase.startsWith('big') ? undefined : 1.0;
      reqRows.push([`${NAMES[P]}: ${what}`, `${a.toFixed(2)} (${lib.perKey(c.annexd.byMethod, c.annexd.keys)})`,
        `${b.toFixed(2)} (${lib.perKey(c.builtin.byMethod, c.builtin.keys)})`, b ? (a / b).toFixed(2) : '—',
        target === undefined ? '(context)' : '≤ 1.0', target === undefined ? '' : fmt.verdict(a <= b)]);
      if (c['annexd-perjob']) {
        const p = c['annexd-perjob'];
        reqRows.push([`${NAMES[P]}: ${what}, annexd per job`, `${(p.total / p.keys).toFixed(2)} (${lib.perKey(p.byMethod, p.keys)})`, '', '', '', '']);
      }
    }
  }
  const samples = [];
  for (const P of PROTOCOLS) {
    for (const [phase] of TIMED_ROWS(P)) samples.push(`- ${P} ${phase}: ${fmt.samples(results[P][phase])}`);
    const m = (kbs) => kbs.map((k) => (k / 1024).toFixed(1)).join(', ');
    samples.push(`- ${P} annexd remote peak RSS (MiB): store ${m(rss[P].store)}; retrieve ${m(rss[P].retrieve)}`);
  }
  const md = lib.markdown({
    title: `annexd vs git-annex's built-in remotes through a shaped link (${WAN.latencyMs} ms each way, ${WAN.bytesPerSecond / MiB} MiB/s per connection)`,
    script: SCRIPT,
    info,
    repeat: opts.repeat,
    about: [
      `- one shaping proxy per server (src/demo/fault-proxy.ts), shared by annexd and the built-in remote; files in ${info.base}`,
      '- annexd: defaults (S3: multipart from 32 MiB, 32 MiB parts (smaller when a file has fewer than 8), 8 at once, at most 16 part requests per process; downloads from 64 MiB in 16 MiB ranges over 8 connections, or one stream where the server names no version (lighttpd)); built-in: `type=S3 signature=v4` (one PUT), `type=webdav`',
      '- ratio = annexd / built-in; < 1 means annexd is faster. Targets are shown, not asserted.',
    ],
    rows,
    contextTitle: 'Requests per key (the proxy\'s counts, first run)',
    contextHead: ['Operation', 'annexd', 'built-in', 'ratio', 'target', ''],
    context: reqRows,
    notes: [],
    samples,
  });
  lib.writeReport('wan', info.started, md);
}

await lib.runBench(SCRIPT, opts, main, report);

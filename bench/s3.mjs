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
 * See bench/README.md. What the benchmarks share is in bench/lib.mjs.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as lib from './lib.mjs';
import { startS3Server } from './servers.mjs';

const { BenchError, fmt, log, median, ratioRow, run } = lib;

const SCRIPT = 'bench/s3.mjs';
const REMOTE_PROGRAM = path.join(lib.BIN, 'git-annex-remote-annexd-s3');
const SERVER_MAIN = path.join(lib.ROOT, 'dist', 'demo', 's3-server-main.js');
const REMOTE_MAIN = path.join(lib.ROOT, 'dist', 'remotes', 's3', 'main.js');
const REMOTES = ['annexd', 'builtin'];
/** --extra: diagnostic variants for the big store only. */
const EXTRA_REMOTES = ['annexd-single', 'builtin-mp'];

const sizes = lib.parseArgs(SCRIPT, {
  extra: 'also time the big store with annexd single-PUT and built-in multipart remotes',
  wan: 'both remotes through the shaping proxy: 25 ms each way, 25 MiB/s per connection; counts requests per key',
});
const { opts, bigBytes: BIG_BYTES, smallCount: SMALL_COUNT, bigLabel } = sizes;

// ------------------------------------------------------------------- main

/** The wide-area link of --wan. */
const WAN = { latencyMs: 25, bytesPerSecond: 25 * lib.MiB };
/** The shaping proxy under --wan. */
let proxy;
/** --wan: requests each remote sent per phase (first round), by method. */
const requestCounts = {};

/** Runs `fn` and, on the first round under --wan, records the requests it sent as `phase` of `R`, per key. */
async function counted(phase, R, keys, first, fn) {
  const before = proxy?.requests.length ?? 0;
  await fn();
  if (!proxy || !first) return;
  const byMethod = {};
  for (const r of proxy.requests.slice(before)) byMethod[r.method] = (byMethod[r.method] ?? 0) + 1;
  (requestCounts[phase] ??= {})[R] = { byMethod, keys };
}

const results = {
  ...lib.newResults(REMOTES),
  retrieveNoVerify: { annexd: [], builtin: [] },
  annexdTransferOnly: [], // TRANSFER RETRIEVE → TRANSFER-SUCCESS in git-annex's debug trace
  storeExtra: { 'annexd-single': [], 'builtin-mp': [] },
  fsck: { annexd: [], builtin: [] },
};

async function main() {
  const { gitAnnexVersion, haveCurl, revision } = lib.preflight([SERVER_MAIN, REMOTE_MAIN], REMOTE_PROGRAM);
  const started = new Date();
  const { scratch, repo, env } = lib.makeScratch('s3', ['GIT_', 'AWS_', 'ANNEXD_']);
  log(`scratch ${scratch}; ${bigLabel} file, ${SMALL_COUNT} x 4 KiB files, repeat ${opts.repeat}`);

  const keyId = 'bench-' + randomBytes(4).toString('hex');
  const secret = randomBytes(18).toString('base64url');
  const server = await startS3Server(path.join(scratch, 's3data'), {
    ...env,
    ANNEXD_S3_ACCESS_KEY_ID: keyId,
    ANNEXD_S3_SECRET_ACCESS_KEY: secret,
  });
  const { endpoint: serverEndpoint, port: serverPort, accessKeyId, secretAccessKey } = server.info;
  log(`s3rver at ${serverEndpoint} (pid ${server.child.pid})`);
  // --wan: both remotes talk to s3rver through one shaped link (the proxy of the fault tests).
  if (opts.wan) {
    const { startFaultProxy } = await import('../dist/demo/fault-proxy.js');
    proxy = await startFaultProxy({ target: serverEndpoint, ...WAN });
    log(`shaping proxy at ${proxy.url}: ${WAN.latencyMs} ms each way, ${WAN.bytesPerSecond / lib.MiB} MiB/s per connection`);
  }
  const endpoint = proxy ? proxy.url : serverEndpoint;
  const port = proxy ? proxy.port : serverPort;
  const aenv = { ...env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey };

  const repoRun = await lib.initRepo(repo, aenv);
  const { git, annex } = repoRun;

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

  await lib.addBenchFiles(repo, repoRun, sizes);

  const curl = (args) => run('curl', ['-sS', '-f', ...args], { env });
  const m = lib.measurements({ remotes: REMOTES, program: REMOTE_PROGRAM, results, repo, repoRun, scratch, curl, sizes });
  let curlUrl;
  if (haveCurl) {
    curlUrl = `${endpoint}/bench-curl/big`;
    // s3rver accepts anonymous requests; a bucket of its own keeps the remotes' buckets clean.
    await curl(['-X', 'PUT', `${endpoint}/bench-curl`, '-o', '/dev/null']);
  }

  for (let r = 0; r < opts.repeat; r++) {
    // Alternate the order: annexd first on even rounds, built-in first on odd ones.
    const { order, tag } = await m.round(r, opts.repeat);
    const extras = opts.extra ? (r % 2 === 0 ? EXTRA_REMOTES : [...EXTRA_REMOTES].reverse()) : [];
    for (const R of r > 0 ? extras : []) await annex(['drop', '--force', '--from', R, 'big']);

    // 1. big file: store (the two remotes alternate; --extra variants in between)
    const storeOrder = [order[0], ...extras, order[1]];
    for (const R of storeOrder) {
      if (!REMOTES.includes(R)) {
        const res = await annex(['copy', '--to', R, 'big']);
        results.storeExtra[R].push(res.ms);
        log(`${tag} copy --to ${R} ${bigLabel} (--extra): ${(res.ms / 1000).toFixed(2)} s`);
        continue;
      }
      await counted(`${bigLabel} store`, R, 1, r === 0, () => m.store(R, tag));
    }
    if (curlUrl) await m.curlPut(curlUrl, tag);

    // 1. big file: retrieve (with and without git-annex's own verification)
    for (const R of order) await counted(`${bigLabel} retrieve`, R, 1, r === 0, () => m.retrieve(R, tag));
    for (const R of order) {
      await annex(['drop', '--force', 'big']);
      // The no-verify run carries --debug (for both remotes) so the protocol trace gives
      // annexd's own transfer time: git-annex still hashes an external remote's download.
      const res = await git(['-c', 'annex.verify=false', 'annex', 'get', '--from', R, 'big', '--debug'], { fullStderr: true });
      results.retrieveNoVerify[R].push(res.ms);
      if (R === 'annexd') {
        const t = lib.transferSpan(res.stderr);
        if (t !== undefined) results.annexdTransferOnly.push(t);
      }
      log(`${tag} get --from ${R} (annex.verify=false): ${(res.ms / 1000).toFixed(2)} s`);
    }
    if (curlUrl) await m.curlGet(curlUrl, tag);

    // 2. small files: copy -J4, then fsck --fast
    const before = proxy?.requests.length ?? 0;
    await m.copySmall(order, tag, r === 0);
    if (proxy && r === 0) {
      // copySmall runs the remotes one after the other; their requests are told apart by bucket.
      for (const R of order) {
        const byMethod = {};
        for (const q of proxy.requests.slice(before)) if (q.path.includes(`/bench-${R}/`)) byMethod[q.method] = (byMethod[q.method] ?? 0) + 1;
        (requestCounts[`${SMALL_COUNT} × 4 KiB copy`] ??= {})[R] = { byMethod, keys: SMALL_COUNT };
      }
    }
    for (const R of order) {
      const fsckStart = proxy?.requests.length ?? 0;
      const res = await annex(['fsck', '--fast', '--from', R, 'small']);
      if (proxy && r === 0) {
        const byMethod = {};
        for (const q of proxy.requests.slice(fsckStart)) byMethod[q.method] = (byMethod[q.method] ?? 0) + 1;
        (requestCounts[`${SMALL_COUNT} × 4 KiB fsck --fast`] ??= {})[R] = { byMethod, keys: SMALL_COUNT };
      }
      results.fsck[R].push(res.ms);
      log(`${tag} fsck --fast --from ${R} ${SMALL_COUNT} files: ${(res.ms / 1000).toFixed(2)} s`);
    }
  }

  // 4. start-up, alternating remote and bare node
  await proxy?.stop();
  await m.finish(env);
  return { started, gitAnnexVersion, haveCurl, revision };
}

// ----------------------------------------------------------------- report

function report(info) {
  const { s } = fmt;
  const rate = (ms) => fmt.rate(BIG_BYTES, ms);
  const rows = [
    ratioRow(`${bigLabel} store: copy --to R`, results.store.annexd, results.store.builtin, 1.0),
    ratioRow(`${bigLabel} retrieve: get --from R (incl. sha256 verify)`, results.retrieve.annexd, results.retrieve.builtin, 1.0),
    ratioRow(`${bigLabel} retrieve, annex.verify=false (†)`, results.retrieveNoVerify.annexd, results.retrieveNoVerify.builtin),
    ratioRow(`${SMALL_COUNT} × 4 KiB: copy -J4 --to R`, results.copyJ4.annexd, results.copyJ4.builtin, 1.2),
    ratioRow(`${SMALL_COUNT} × 4 KiB: fsck --fast --from R`, results.fsck.annexd, results.fsck.builtin, 1.2),
    ...lib.remoteRows(bigLabel, results.rssStore, results.rssRetrieve, results.startup),
  ];

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
  ctx.push(...lib.commonContext(results, BIG_BYTES, bigLabel, info.haveCurl));
  // --wan: requests per key, as the proxy counted them (first round).
  const perKey = (c) => (c ? Object.entries(c.byMethod).map(([m, n]) => `${m} ${(n / c.keys).toFixed(2)}`).join(', ') : '—');
  for (const [phase, byRemote] of Object.entries(requestCounts)) {
    ctx.push([`requests per key, ${phase}`, perKey(byRemote.annexd), perKey(byRemote.builtin)]);
  }

  const md = lib.markdown({
    title: `annexd-s3 vs git-annex built-in S3${opts.wan ? `, through a shaped link (${WAN.latencyMs} ms each way, ${WAN.bytesPerSecond / lib.MiB} MiB/s per connection)` : ''}`,
    script: SCRIPT,
    info,
    repeat: opts.repeat,
    about: [
      `- one s3rver process (dist/demo/s3-server-main.js) on 127.0.0.1, buckets bench-annexd and bench-builtin, files in ${os.tmpdir()}`,
      '- annexd: defaults (multipart from 16 MiB, 32 MiB parts, 8 parts at once); built-in: `signature=v4`, no partsize (one PUT)',
      '- ratio = annexd / built-in; < 1 means annexd is faster. Targets are shown, not asserted.',
    ],
    rows,
    context: ctx,
    notes: [
      '(†) Verification differs by remote type. With annex.verify on (the default), git-annex hashes the built-in',
      'S3 download as it arrives, and tails the file an external remote writes (inotify) to hash it concurrently.',
      'With annex.verify=false the built-in remote skips the hash, but an external remote\'s download is still',
      'hashed (external remotes are RetrievalVerifiableKeysSecure), now as a separate pass after TRANSFER-SUCCESS:',
      'that row compares annexd + a full sha256 pass with the built-in remote without any hash.',
    ],
    samples: [
      `- store: ${fmt.samples(results.store)}`,
      `- retrieve: ${fmt.samples(results.retrieve)}`,
      `- retrieve, annex.verify=false: ${fmt.samples(results.retrieveNoVerify)}`,
      ...(results.annexdTransferOnly.length ? [`- annexd TRANSFER RETRIEVE alone: ${fmt.secs(results.annexdTransferOnly)}`] : []),
      ...(opts.extra ? [`- --extra store: ${fmt.samples(results.storeExtra)}`] : []),
      `- copy -J4: ${fmt.samples(results.copyJ4)}`,
      `- fsck --fast: ${fmt.samples(results.fsck)}`,
      ...lib.remoteSamples(results.rssStore, results.rssRetrieve, results.startup),
    ],
  });

  lib.writeReport(opts.wan ? 's3-wan' : 's3', info.started, md);
}

await lib.runBench(SCRIPT, opts, main, report);

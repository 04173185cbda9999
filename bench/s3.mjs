#!/usr/bin/env node
/**
 * annexd-s3 versus git-annex's built-in S3 remote, side by side, against ONE
 * embedded s3rver process (two buckets). Plain Node ESM, built-ins only.
 *
 *   node bench/s3.mjs [--quick] [--repeat N] [--extra] [--keep]     (across a shaped link: bench/wan.mjs)
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
});
const { opts, bigBytes: BIG_BYTES, smallCount: SMALL_COUNT, bigLabel } = sizes;

// ------------------------------------------------------------------- main

const results = {
  ...lib.newResults(REMOTES),
  retrieveNoVerify: { annexd: [], builtin: [] },
  annexdTransferOnly: [], // TRANSFER RETRIEVE → TRANSFER-SUCCESS in git-annex's debug trace
  storeExtra: { 'annexd-single': [], 'builtin-mp': [] },
};
/** The floor and annexd's process models (lib.processModels), set up in main(). */
let models;

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
  const endpoint = serverEndpoint;
  const port = serverPort;
  const nullBin = lib.installNullRemotes(scratch);
  const aenv = { ...env, PATH: `${nullBin}${path.delimiter}${env.PATH}`, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey };

  const repoRun = await lib.initRepo(repo, aenv);
  const { git, annex } = repoRun;

  log('initremote annexd, annexd-perjob, builtin, and null and null-async (remotes that do nothing)');
  for (const name of ['annexd', 'annexd-perjob']) {
    await annex(['initremote', name, 'type=external', 'externaltype=annexd-s3', 'encryption=none', `bucket=bench-${name}`, `endpoint=${endpoint}`]);
  }
  await lib.initNullRemotes(annex);
  models = lib.processModels({ annex, env: aenv, results, perJob: 'annexd-perjob', smallCount: SMALL_COUNT });
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
      await m.store(R, tag);
    }
    if (curlUrl) await m.curlPut(curlUrl, tag);

    // 1. big file: retrieve (with and without git-annex's own verification)
    for (const R of order) await m.retrieve(R, tag);
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

    // 2. small files: copy -J4, then fsck --fast -J4; the same with the remotes that do nothing and annexd per job
    await m.copySmall(order, tag, r === 0);
    await m.fsckSmall(order, tag);
    await models.run(r, tag);
  }

  // 4. start-up, alternating remote and bare node
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
    ratioRow(`${SMALL_COUNT} × 4 KiB: copy -J4 --to R`, results.copyJ4.annexd, results.copyJ4.builtin, 1.0),
    ratioRow(`${SMALL_COUNT} × 4 KiB: fsck --fast -J4 --from R`, results.fsckJ4.annexd, results.fsckJ4.builtin, 1.0),
    ...models.rows({ copy: results.copyJ4, fsck: results.fsckJ4 }),
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

  const md = lib.markdown({
    title: 'annexd-s3 vs git-annex built-in S3',
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
      'The floor: git-annex\'s own cost per key with an external remote, with nothing stored, as one process per job and',
      'as one ASYNC process; no external remote can be faster than the faster of the two here.',
      '',
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
      `- fsck --fast -J4: ${fmt.samples(results.fsckJ4)}`,
      ...models.samples(),
      ...lib.remoteSamples(results.rssStore, results.rssRetrieve, results.startup),
    ],
  });

  lib.writeReport('s3', info.started, md);
}

await lib.runBench(SCRIPT, opts, main, report);

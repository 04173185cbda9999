#!/usr/bin/env node
/**
 * annexd-webdav versus git-annex's built-in webdav remote, against ONE
 * lighttpd + mod_webdav server on 127.0.0.1 (basic auth, a collection per
 * client), with one raw `curl -T` upload as the reference for stores.
 *
 *   node bench/webdav.mjs [--quick] [--repeat N] [--keep]     (--help; bench/README.md)
 *
 * Writes its table also to bench/out/webdav-<timestamp>.md. The measurements,
 * options and report it shares with bench/s3.mjs are in bench/lib.mjs.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as lib from './lib.mjs';
import { DAV_USER as USER, LIGHTTPD, MOD_WEBDAV, startLighttpd } from './servers.mjs';

const { BenchError, fmt, log, median, ratioRow } = lib;
const SCRIPT = 'bench/webdav.mjs';
const REMOTE_PROGRAM = path.join(lib.BIN, 'git-annex-remote-annexd-webdav');
const REMOTE_MAIN = path.join(lib.ROOT, 'dist', 'remotes', 'webdav', 'main.js');
const REMOTES = ['annexd', 'builtin'];

const sizes = lib.parseArgs(SCRIPT);
const { opts, bigBytes: BIG_BYTES, smallCount: SMALL_COUNT, bigLabel } = sizes;

// ------------------------------------------------------------------- main

const results = lib.newResults(REMOTES);
/** The floor and annexd's process models (lib.processModels), set up in main(). */
let models;

async function main() {
  const { gitAnnexVersion, haveCurl, revision } = lib.preflight([REMOTE_MAIN], REMOTE_PROGRAM);
  if (!haveCurl) throw new BenchError('curl is needed (the reference upload is curl -T): apt-get install curl');
  const lt = spawnSync(LIGHTTPD, ['-v'], { encoding: 'utf8' });
  if (lt.error || lt.status !== 0 || !existsSync(MOD_WEBDAV)) {
    throw new BenchError('lighttpd with its WebDAV module is needed: apt-get install lighttpd lighttpd-mod-webdav');
  }
  const started = new Date();
  const base = lib.scratchBase(6 * BIG_BYTES);
  const { scratch, repo, env } = lib.makeScratch('webdav', ['GIT_', 'WEBDAV_', 'ANNEXD_'], base);
  log(`scratch ${scratch}; ${bigLabel} file, ${SMALL_COUNT} x 4 KiB files, repeat ${opts.repeat}`);

  const password = randomBytes(12).toString('hex');
  const dav = await startLighttpd(path.join(scratch, 'lighttpd'), password);
  log(`lighttpd at ${dav.url} (pid ${dav.child.pid})`);
  const nullBin = lib.installNullRemotes(scratch);
  const denv = { ...env, PATH: `${nullBin}${path.delimiter}${env.PATH}`, WEBDAV_USERNAME: USER, WEBDAV_PASSWORD: password };

  const repoRun = await lib.initRepo(repo, denv);
  const { annex } = repoRun;

  log('initremote annexd, annexd-perjob, builtin, and null and null-async (remotes that do nothing)');
  await annex(['initremote', 'annexd', 'type=external', 'externaltype=annexd-webdav', 'encryption=none', `url=${dav.url}/annexd`]);
  await annex(['initremote', 'annexd-perjob', 'type=external', 'externaltype=annexd-webdav', 'encryption=none', `url=${dav.url}/annexd-perjob`]);
  await annex(['initremote', 'builtin', 'type=webdav', 'encryption=none', `url=${dav.url}/builtin`]);
  await lib.initNullRemotes(annex);
  models = lib.processModels({ annex, env: denv, results, perJob: 'annexd-perjob', smallCount: SMALL_COUNT });

  await lib.addBenchFiles(repo, repoRun, sizes);

  // The reference: one PUT of the same file by curl, into a collection of its own
  // (credentials from a netrc file, not the command line, which errors show).
  const netrc = path.join(scratch, 'netrc');
  writeFileSync(netrc, `machine 127.0.0.1 login ${USER} password ${password}\n`, { mode: 0o600 });
  const curl = (args) => lib.run('curl', ['-sS', '-f', '--netrc-file', netrc, ...args], { env });
  const curlUrl = `${dav.url}/curl/big`;
  await curl(['-X', 'MKCOL', `${dav.url}/curl/`, '-o', '/dev/null']);
  const m = lib.measurements({ remotes: REMOTES, program: REMOTE_PROGRAM, results, repo, repoRun, scratch, curl, sizes });

  for (let r = 0; r < opts.repeat; r++) {
    const { order, tag } = await m.round(r, opts.repeat); // the two remotes alternate
    if (r > 0) await curl(['-X', 'DELETE', curlUrl, '-o', '/dev/null']);
    // 1. big file: store, and the same file with curl -T (after the remotes on even rounds, before on odd ones)
    if (r % 2) await m.curlPut(curlUrl, tag);
    for (const R of order) await m.store(R, tag);
    if (r % 2 === 0) await m.curlPut(curlUrl, tag);
    // 2. big file: retrieve (git-annex verifies the sha256), then curl GET
    for (const R of order) await m.retrieve(R, tag);
    await m.curlGet(curlUrl, tag);
    // 3. small files: copy -J4 and fsck --fast -J4; the same with the remotes that do nothing and annexd per job
    await m.copySmall(order, tag, r === 0);
    await m.fsckSmall(order, tag);
    await models.run(r, tag);
  }

  await m.finish(env);
  return { started, gitAnnexVersion, revision, base };
}

// ----------------------------------------------------------------- report

function report(info) {
  const speed = (mss) => fmt.rate(BIG_BYTES, median(mss));
  const rows = [
    ratioRow(`${bigLabel} store: copy --to R`, results.store.annexd, results.store.builtin),
    ratioRow(`${bigLabel} store: annexd copy --to R vs one curl -T PUT`, results.store.annexd, results.curlPut, 1.25, 'curl -T: '),
    ratioRow(`${bigLabel} retrieve: get --from R (incl. sha256 verify)`, results.retrieve.annexd, results.retrieve.builtin),
    ratioRow(`${SMALL_COUNT} × 4 KiB: copy -J4 --to R`, results.copyJ4.annexd, results.copyJ4.builtin, 1.0),
    ratioRow(`${SMALL_COUNT} × 4 KiB: fsck --fast -J4 --from R`, results.fsckJ4.annexd, results.fsckJ4.builtin, 1.0),
    ...models.rows({ copy: results.copyJ4, fsck: results.fsckJ4 }),
    ...lib.remoteRows(bigLabel, results.rssStore, results.rssRetrieve, results.startup),
  ];

  const ctx = [
    [`${bigLabel} store throughput`, speed(results.store.annexd), speed(results.store.builtin)],
    [`${bigLabel} store / curl -T`, (median(results.store.annexd) / median(results.curlPut)).toFixed(2),
      (median(results.store.builtin) / median(results.curlPut)).toFixed(2)],
    [`${bigLabel} retrieve throughput (incl. verify)`, speed(results.retrieve.annexd), speed(results.retrieve.builtin)],
    ...lib.commonContext(results, BIG_BYTES, bigLabel, true),
  ];

  const md = lib.markdown({
    title: 'annexd-webdav vs git-annex built-in webdav',
    script: SCRIPT,
    info,
    repeat: opts.repeat,
    about: [
      `- one lighttpd + mod_webdav process on 127.0.0.1 (basic auth), collections /dav/annexd, /dav/builtin and /dav/curl; repository and server files in ${info.base}${info.base === '/dev/shm' ? ' (tmpfs)' : ''}`,
      '- annexd: defaults (PUT to a temporary name, then MOVE); built-in: `type=webdav encryption=none`; curl: `curl -T` (one PUT, no git-annex)',
      '- ratio = annexd / built-in (or / curl where named); < 1 means annexd is faster. Targets are shown, not asserted.',
    ],
    rows,
    context: ctx,
    notes: [
      'The floor: git-annex\'s own cost per key with an external remote (protocol, location log), with nothing stored,',
      'as one process per job and as one ASYNC process; no external remote can be faster than the faster of the two here.',
    ],
    samples: [
      `- store: ${fmt.samples(results.store)}; curl -T: ${fmt.secs(results.curlPut)}`,
      `- retrieve: ${fmt.samples(results.retrieve)}; curl GET: ${fmt.secs(results.curlGet)}`,
      `- copy -J4: ${fmt.samples(results.copyJ4)}`,
      `- fsck --fast -J4: ${fmt.samples(results.fsckJ4)}`,
      ...models.samples(),
      ...lib.remoteSamples(results.rssStore, results.rssRetrieve, results.startup),
    ],
  });

  lib.writeReport('webdav', info.started, md);
}

await lib.runBench(SCRIPT, opts, main, report);

#!/usr/bin/env node
/**
 * The sweep behind annexd-s3's multipart defaults: one big file stored through
 * the shaping proxy (25 ms each way, 25 MiB/s per connection, as
 * `bench/wan.mjs`) with every combination of part size and parallel parts,
 * a single PUT, and git-annex's built-in S3 remote as the reference, in one
 * run against one s3rver; then smaller files, single PUT against multipart, for
 * the threshold. Plain Node ESM, built-ins only.
 *
 *   node bench/s3-multipart.mjs [--quick] [--repeat N] [--verify] [--keep]
 *
 * --quick     256 MiB big file (default 1 GiB)
 * --repeat N  every store N times, the median reported (default 1)
 * --verify    no sweep: the built-in remote, a single PUT and the defaults only
 *
 * Each store is `git annex copy --to R` with --debug: the remote's trace says
 * how long the parts took and how long CompleteMultipartUpload took. s3rver
 * completes an upload by reading every part back and writing the whole object
 * again, which real S3 does not do, so the table gives both and a "parts only"
 * rate. Peak RSS is the remote process's (VmHWM). Writes bench/out/s3-multipart-<time>.md.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as lib from './lib.mjs';
import { startS3Server } from './servers.mjs';

const { BenchError, log, median, MiB } = lib;

const SCRIPT = 'bench/s3-multipart.mjs';
const REMOTE_PROGRAM = path.join(lib.BIN, 'git-annex-remote-annexd-s3');
const SERVER_MAIN = path.join(lib.ROOT, 'dist', 'demo', 's3-server-main.js');
const REMOTE_MAIN = path.join(lib.ROOT, 'dist', 'remotes', 's3', 'main.js');
const WAN = { latencyMs: 25, bytesPerSecond: 25 * MiB };

const PART_SIZES = [8, 16, 32, 64];
const CONCURRENCIES = [2, 4, 8];
/** Files for the threshold: single PUT against multipart. */
const THRESHOLD_SIZES = [8, 16, 32, 64, 128];
/** The multipart variants tried on each of those files: [label, settings]. */
const THRESHOLD_VARIANTS = [
  ['single PUT', ['multipartthreshold=5GiB']],
  ['8 MiB parts, 4 at once', ['multipartthreshold=5MiB', 'partsize=8MiB', 'concurrency=4']],
  ['16 MiB parts, 4 at once', ['multipartthreshold=5MiB', 'partsize=16MiB', 'concurrency=4']],
  ['32 MiB parts, 4 at once', ['multipartthreshold=5MiB', 'partsize=32MiB', 'concurrency=4']],
];

/** Several big files at once (copy -J4): memory with every file's parts in flight together. */
const JOBS = 4;
const JOB_CONCURRENCIES = [4, 8];

const { opts, bigBytes, bigLabel } = lib.parseArgs(SCRIPT, {
  verify: 'only the built-in remote, a single PUT and the defaults (no sweep): checks the chosen defaults',
  'jobs-only': 'only the 4 files at once (copy -J4)',
});
/** --verify: the defaults (part size shrunk to the file as the planner does) against a single PUT. */
const VERIFY_VARIANTS = [THRESHOLD_VARIANTS[0], ['defaults, from 5 MiB on', ['multipartthreshold=5MiB']]];
const variants = opts.verify ? VERIFY_VARIANTS : THRESHOLD_VARIANTS;
const jobBytes = bigBytes / JOBS;

/** ms of the parts and of CompleteMultipartUpload, from the remote's --debug line. */
function multipartSpans(trace) {
  const m = /multipart upload: parts took (\d+) ms, CompleteMultipartUpload (\d+) ms/.exec(trace);
  return m ? { partsMs: Number(m[1]), completeMs: Number(m[2]) } : undefined;
}

async function main() {
  const { gitAnnexVersion, revision } = lib.preflight([SERVER_MAIN, REMOTE_MAIN], REMOTE_PROGRAM);
  const started = new Date();
  const { scratch, repo, env } = lib.makeScratch('s3-multipart', ['GIT_', 'AWS_', 'ANNEXD_']);
  log(`scratch ${scratch}; ${bigLabel} file; repeat ${opts.repeat}`);
  const server = await startS3Server(path.join(scratch, 's3data'), {
    ...env,
    ANNEXD_S3_ACCESS_KEY_ID: 'bench-' + randomBytes(4).toString('hex'),
    ANNEXD_S3_SECRET_ACCESS_KEY: randomBytes(18).toString('base64url'),
  });
  const { startFaultProxy } = await import('../dist/demo/fault-proxy.js');
  const proxy = await startFaultProxy({ target: server.info.endpoint, ...WAN });
  log(`s3rver at ${server.info.endpoint}, shaping proxy at ${proxy.url}: ${WAN.latencyMs} ms each way, ${WAN.bytesPerSecond / MiB} MiB/s per connection`);
  const aenv = { ...env, AWS_ACCESS_KEY_ID: server.info.accessKeyId, AWS_SECRET_ACCESS_KEY: server.info.secretAccessKey };
  const repoRun = await lib.initRepo(repo, aenv);
  const { git, annex } = repoRun;

  log(`writing ${bigLabel} and ${THRESHOLD_SIZES.map((n) => `${n} MiB`).join(', ')} random files`);
  const jobFiles = Array.from({ length: JOBS }, (_, i) => `j${i}`);
  const files = [['big', bigBytes], ...THRESHOLD_SIZES.map((n) => [`t${n}`, n * MiB]), ...jobFiles.map((f) => [f, jobBytes])];
  for (const [name, bytes] of files) {
    const file = path.join(repo, name);
    writeFileSync(file, '');
    for (let left = bytes; left > 0; left -= 8 * MiB) writeFileSync(file, randomBytes(Math.min(left, 8 * MiB)), { flag: 'a' });
  }
  await annex(['add', ...files.map(([n]) => n)]);
  await git(['commit', '-q', '-m', 'bench files']);

  let n = 0;
  const annexdRemote = async (settings) => {
    const R = `m${++n}`;
    await annex(['initremote', R, 'type=external', 'externaltype=annexd-s3', 'encryption=none', `bucket=bench-${R}`, `endpoint=${proxy.url}`, ...settings]);
    return R;
  };
  const onSpawn = lib.rssPoller(path.basename(REMOTE_PROGRAM));
  /** Stores `file` to R `repeat` times (dropping it between, untimed); returns the samples. */
  const store = async (R, file, label, external = true, jobs = 1) => {
    const samples = [];
    const names = jobs > 1 ? jobFiles : [file];
    for (let r = 0; r < opts.repeat; r++) {
      if (r > 0) await annex(['drop', '--force', '--from', R, ...names]);
      const res = await git(['annex', 'copy', `-J${jobs}`, '--to', R, ...names, '--debug'], { onSpawn, fullStderr: true });
      const spans = external ? multipartSpans(res.stderr) : undefined;
      if (external && !res.annexdProcs) throw new BenchError(`no annexd-s3 process seen during the store to ${R}`);
      samples.push({ ms: res.ms, rssKb: external ? res.annexdKb : undefined, ...spans });
      log(`${label} (${R}) ${file}: ${(res.ms / 1000).toFixed(2)} s${spans ? ` (parts ${(spans.partsMs / 1000).toFixed(2)} s, complete ${(spans.completeMs / 1000).toFixed(2)} s)` : ''}${external ? `, peak RSS ${(res.annexdKb / 1024).toFixed(1)} MiB` : ''}`);
    }
    // Keep the server's disk small: the next configuration starts clean.
    await annex(['drop', '--force', '--from', R, ...names]);
    return samples;
  };

  const results = { big: [], threshold: [], jobs: [] };
  await annex(['initremote', 'builtin', 'type=S3', 'encryption=none', 'host=127.0.0.1', `port=${proxy.port}`, 'protocol=http', 'requeststyle=path', 'signature=v4', 'bucket=bench-builtin']);
  const all = !opts['jobs-only'];
  if (all) results.big.push({ label: 'built-in type=S3 (one PUT)', samples: await store('builtin', 'big', 'built-in', false) });
  if (all) results.big.push({ label: 'annexd, single PUT', samples: await store(await annexdRemote(['multipartthreshold=5GiB']), 'big', 'single PUT') });
  for (const p of opts.verify || !all ? [] : PART_SIZES) {
    for (const c of CONCURRENCIES) {
      const label = `annexd, ${p} MiB parts, ${c} at once`;
      const R = await annexdRemote(['multipartthreshold=5MiB', `partsize=${p}MiB`, `concurrency=${c}`]);
      results.big.push({ label, partSize: p, concurrency: c, samples: await store(R, 'big', label) });
    }
  }
  if (all) results.big.push({ label: 'annexd, defaults', samples: await store(await annexdRemote([]), 'big', 'defaults') });

  for (const [label, settings] of all ? variants : []) {
    const R = await annexdRemote(settings);
    for (const size of THRESHOLD_SIZES) {
      results.threshold.push({ label, size, samples: await store(R, `t${size}`, label) });
    }
  }
  const builtinSmall = [];
  for (const size of all ? THRESHOLD_SIZES : []) builtinSmall.push({ label: 'built-in', size, samples: await store('builtin', `t${size}`, 'built-in', false) });
  results.threshold.push(...builtinSmall);

  for (const c of JOB_CONCURRENCIES) {
    const label = `annexd, ${c} at once per file`;
    results.jobs.push({ label, samples: await store(await annexdRemote([`concurrency=${c}`]), 'jobs', `${label}, copy -J${JOBS}`, true, JOBS) });
  }
  results.jobs.push({ label: 'built-in', samples: await store('builtin', 'jobs', `built-in, copy -J${JOBS}`, false, JOBS) });

  await proxy.stop();
  await lib.stopServers();
  return { started, gitAnnexVersion, revision, results };
}

function report({ started, gitAnnexVersion, revision, results }) {
  const med = (samples, f) => {
    const xs = samples.map(f).filter((x) => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const s = (ms) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);
  const rate = (bytes, ms) => (ms === undefined ? '—' : `${(bytes / MiB / (ms / 1000)).toFixed(1)} MiB/s`);
  const builtin = results.big.length ? med(results.big[0].samples, (x) => x.ms) : undefined;
  const bigRows = results.big.map(({ label, samples }) => {
    const ms = med(samples, (x) => x.ms);
    const parts = med(samples, (x) => x.partsMs);
    const rss = med(samples, (x) => x.rssKb);
    return [label, s(ms), rate(bigBytes, ms), (ms / builtin).toFixed(2), s(parts), rate(bigBytes, parts), s(med(samples, (x) => x.completeMs)), rss === undefined ? '(in git-annex)' : `${(rss / 1024).toFixed(1)} MiB`];
  });
  const thresholdRows = (results.threshold.length ? THRESHOLD_SIZES : []).map((size) => {
    const cell = (label) => {
      const r = results.threshold.find((t) => t.label === label && t.size === size);
      const ms = med(r.samples, (x) => x.ms);
      const parts = med(r.samples, (x) => x.partsMs);
      const complete = med(r.samples, (x) => x.completeMs);
      return `${s(ms)}${parts !== undefined ? ` (parts ${s(parts)}, complete ${s(complete)})` : ''}`;
    };
    return [`${size} MiB`, cell('built-in'), ...variants.map(([label]) => cell(label))];
  });
  const jobRows = results.jobs.map(({ label, samples }) => {
    const ms = med(samples, (x) => x.ms);
    const rss = med(samples, (x) => x.rssKb);
    return [label, s(ms), rate(jobBytes * JOBS, ms), rss === undefined ? '(in git-annex)' : `${(rss / 1024).toFixed(1)} MiB`];
  });
  const table = (head, body) => {
    const all = [head, ...body];
    const w = head.map((_, i) => Math.max(...all.map((r) => String(r[i]).length)));
    const line = (r) => '| ' + r.map((c, i) => String(c).padEnd(w[i])).join(' | ') + ' |';
    return [line(head), '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|', ...body.map(line)].join('\n');
  };
  const samples = [...results.big, ...results.threshold, ...results.jobs].map(
    ({ label, size, samples: xs }) => `- ${label}${size ? `, ${size} MiB` : ''}: ${xs.map((x) => `${(x.ms / 1000).toFixed(2)}${x.partsMs !== undefined ? `/${(x.partsMs / 1000).toFixed(2)}/${(x.completeMs / 1000).toFixed(2)}` : ''}`).join(', ')}`,
  );
  const md = [
    `# annexd-s3 multipart sweep through a shaped link (${WAN.latencyMs} ms each way, ${WAN.bytesPerSecond / MiB} MiB/s per connection) — ${started.toISOString()}`,
    '',
    `- command: \`node ${SCRIPT}${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}\` (${opts.repeat > 1 ? `median of ${opts.repeat}` : 'single run'})`,
    `- annexd ${revision}; git-annex ${gitAnnexVersion}, node ${process.version}`,
    '- one s3rver process behind the shaping proxy of src/demo/fault-proxy.ts; every store is `git annex copy --to R FILE --debug`',
    '- "parts" is from the first part request to the last part\'s answer, "complete" the CompleteMultipartUpload, both from the remote\'s --debug trace; s3rver rewrites the whole object on completion, real S3 does not',
    '',
    `## ${bigLabel} store`,
    '',
    table(['Remote', 'copy --to', 'rate', '× built-in', 'parts', 'parts rate', 'complete', 'peak RSS of the remote'], bigRows),
    '',
    '## Threshold: smaller files, single PUT against multipart',
    '',
    table(['File', 'built-in (one PUT)', ...variants.map(([l]) => `annexd ${l}`)], thresholdRows),
    '',
    `## ${JOBS} files of ${jobBytes / MiB} MiB at once: \`copy -J${JOBS}\`, the other settings default`,
    '',
    table(['Remote', 'copy -J4', 'rate', 'peak RSS of the remote'], jobRows),
    '',
    '## Samples (seconds: total/parts/complete)',
    '',
    ...samples,
    '',
  ].join('\n');
  lib.writeReport('s3-multipart', started, md);
}

await lib.runBench(SCRIPT, opts, main, report);

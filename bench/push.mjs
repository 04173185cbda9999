#!/usr/bin/env node
/**
 * annexd push versus Debian's `datalad push` (0.18.1) for the same work: a
 * dataset of 2,000 small files (4 KiB random) and 5 large ones (32 MiB random;
 * --quick: 200 and 5 x 4 MiB) published to a bare git sibling that depends
 * on two independent storage siblings, annexd-s3 on the embedded S3 server
 * and annexd-webdav on lighttpd (remote.origin.datalad-publish-depends s3 dav;
 * origin itself annex-ignore, as create-sibling-* sets it). Each tool pushes
 * its own copy of the dataset to its own buckets, collections and bare
 * repository on the same two servers, with the same -J: first the whole
 * dataset, then a push with nothing to do. The order of the tools alternates
 * between runs. Every push is checked: all content on both storage siblings,
 * origin's main at HEAD.
 *
 *   node bench/push.mjs [--quick] [--repeat N] [--jobs N] [--keep]     (--help; bench/README.md)
 *
 * Writes its table also to bench/out/push-<timestamp>.md. Targets are shown, not asserted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import * as lib from './lib.mjs';
import { DAV_USER, startLighttpd, startS3Server } from './servers.mjs';

const { BenchError, fmt, log, median } = lib;
const SCRIPT = 'bench/push.mjs';
const TOOLS = ['annexd', 'datalad'];
const LONG = 60 * 60 * 1000;
const argv = process.argv.slice(2);
const jobsAt = argv.findIndex((a) => a === '--jobs' || a.startsWith('--jobs='));
let JOBS = 4;
if (jobsAt >= 0) {
  const v = argv[jobsAt].includes('=') ? argv[jobsAt].split('=')[1] : argv[jobsAt + 1];
  JOBS = Number(v);
  if (!Number.isInteger(JOBS) || JOBS < 1) {
    process.stderr.write(`${SCRIPT}: --jobs needs a positive integer, got "${v}"\n`);
    process.exit(2);
  }
  process.argv.splice(2 + jobsAt, argv[jobsAt].includes('=') ? 1 : 2);
}
const { opts } = lib.parseArgs(SCRIPT);
const SMALL = opts.quick ? 200 : 2000;
const LARGE = 5;
const LARGE_BYTES = (opts.quick ? 4 : 32) * lib.MiB;
const SMALL_BYTES = 4096;

async function main() {
  const info = lib.preflight([path.join(lib.ROOT, 'dist', 'cli', 'annexd.js'), path.join(lib.ROOT, 'dist', 'demo', 's3-server-main.js')], path.join(lib.BIN, 'annexd'));
  const dl = await lib.run('/usr/bin/datalad', ['--version'], { allowFail: true }).catch(() => ({ code: 1, stdout: '' }));
  if (dl.code !== 0) throw new BenchError('Debian\'s datalad is not installed: apt-get install datalad');
  const { scratch, env: baseEnv } = lib.makeScratch('push', ['DATALAD_', 'ANNEXD_', 'AWS_', 'WEBDAV_']);
  const s3 = await startS3Server(path.join(scratch, 's3data'), { ...baseEnv, ANNEXD_S3_ACCESS_KEY_ID: 'bench', ANNEXD_S3_SECRET_ACCESS_KEY: randomBytes(16).toString('hex') });
  const password = randomBytes(12).toString('hex');
  const dav = await startLighttpd(path.join(scratch, 'lighttpd'), password);
  log(`S3 at ${s3.info.endpoint}, WebDAV at ${dav.url}`);
  const env = {
    ...baseEnv,
    AWS_ACCESS_KEY_ID: s3.info.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.info.secretAccessKey,
    WEBDAV_USERNAME: DAV_USER,
    WEBDAV_PASSWORD: password,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };

  const base = path.join(scratch, 'base');
  mkdirSync(base);
  const { git, annex } = await lib.initRepo(base, env);
  // No gc detached in the background while the dataset is being copied.
  await git(['config', 'gc.auto', '0']);
  await git(['config', 'maintenance.auto', 'false']);
  log(`writing ${SMALL} x 4 KiB and ${LARGE} x ${LARGE_BYTES / lib.MiB} MiB random files`);
  for (let i = 0; i < SMALL; i++) {
    const dir = path.join(base, 'small', `d${String(i % 40).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `f${String(i).padStart(4, '0')}.bin`), randomBytes(SMALL_BYTES));
  }
  mkdirSync(path.join(base, 'large'));
  for (let i = 0; i < LARGE; i++) writeFileSync(path.join(base, 'large', `big${i}.bin`), randomBytes(LARGE_BYTES));
  await annex(['add', '--quiet', '.'], { timeoutMs: LONG });
  await git(['commit', '-q', '-m', 'bench files'], { timeoutMs: LONG });

  const results = { first: { annexd: [], datalad: [] }, noop: { annexd: [], datalad: [] } };
  let n = 0;
  for (let rep = 0; rep < opts.repeat; rep++) {
    const order = rep % 2 === 0 ? TOOLS : [...TOOLS].reverse();
    for (const tool of order) {
      const label = `${tool}-${rep}-${++n}`;
      const ds = path.join(scratch, label);
      // A copy of the same repository (content included): the same work for both tools.
      await lib.run('cp', ['-a', base, ds], { timeoutMs: LONG });
      const run = (cmd, args, o = {}) => lib.run(cmd, args, { cwd: ds, env, timeoutMs: LONG, ...o });
      await run('git', ['annex', 'initremote', 's3', 'type=external', 'externaltype=annexd-s3', 'encryption=none', `bucket=bench-${label}`, `endpoint=${s3.info.endpoint}`]);
      await run('git', ['annex', 'initremote', 'dav', 'type=external', 'externaltype=annexd-webdav', 'encryption=none', `url=${dav.url}/${label}`]);
      const origin = path.join(scratch, `${label}-origin.git`);
      await lib.run('git', ['init', '-q', '--bare', origin], { env });
      await lib.run('git', ['annex', 'init', '-q', 'origin'], { cwd: origin, env });
      // Each tool configures its own dataset.
      if (tool === 'annexd') await run(path.join(lib.BIN, 'annexd'), ['siblings', 'add', '--name', 'origin', '--url', origin, '--publish-depends', 's3', '--publish-depends', 'dav']);
      else await run('/usr/bin/datalad', ['siblings', 'add', '-s', 'origin', '--url', origin, '--publish-depends', 's3', '--publish-depends', 'dav']);
      await run('git', ['config', 'remote.origin.annex-ignore', 'true']);
      const push = async () => {
        const r =
          tool === 'annexd'
            ? await run(path.join(lib.BIN, 'annexd'), ['push', '--to', 'origin', '-J', String(JOBS)], { allowFail: true })
            : await run('/usr/bin/datalad', ['push', '--to', 'origin', '-J', String(JOBS)], { allowFail: true });
        if (r.code !== 0) {
          const errors = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /\((error|impossible)\)|error|fail/i.test(l));
          throw new BenchError(`${tool} push failed (exit ${r.code}) in ${ds}:\n${errors.slice(0, 10).join('\n')}`);
        }
        return r;
      };
      log(`run ${rep + 1}/${opts.repeat}: ${tool} push of ${SMALL + LARGE} files to s3 and dav, then origin (-J${JOBS})`);
      results.first[tool].push((await push()).ms);
      for (const remote of ['s3', 'dav']) {
        const missing = await run('git', ['annex', 'find', '--not', '--in', remote, '--include', '*', '.']);
        if (missing.stdout.trim()) throw new BenchError(`${tool}: files not on ${remote} after the push:\n${missing.stdout.split('\n').slice(0, 5).join('\n')}`);
      }
      const head = (await run('git', ['rev-parse', 'HEAD'])).stdout.trim();
      const pushed = (await lib.run('git', ['rev-parse', 'refs/heads/main'], { cwd: origin, env })).stdout.trim();
      if (head !== pushed) throw new BenchError(`${tool}: origin's main is ${pushed || 'missing'}, not HEAD ${head}`);
      log(`run ${rep + 1}/${opts.repeat}: ${tool} push with nothing to do`);
      const noop = await push();
      if (tool === 'annexd' && !/Everything is up to date/.test(noop.stdout)) throw new BenchError(`annexd's second push did work:\n${noop.stdout.slice(-2000)}`);
      results.noop[tool].push(noop.ms);
    }
  }
  return { info, results };
}

function report({ info, results }) {
  const row = (name, key, limit) => {
    const a = median(results[key].annexd);
    const d = median(results[key].datalad);
    const ratio = a / d;
    return `| ${name} | ${fmt.s(a)} | ${fmt.s(d)} | ${ratio.toFixed(2)} | ${limit} |`;
  };
  const noop = median(results.noop.annexd);
  const firstRatio = median(results.first.annexd) / median(results.first.datalad);
  const md = [
    `# annexd push vs datalad push — ${new Date().toISOString()}`,
    '',
    `- command: \`node ${SCRIPT}${argv.length ? ' ' + argv.join(' ') : ''}\` (${opts.repeat > 1 ? `median of ${opts.repeat} runs` : 'single run'}; order alternates between runs)`,
    `- annexd ${info.revision}; git-annex ${info.gitAnnexVersion}; datalad 0.18.1 (Debian); node ${process.version}`,
    `- dataset: ${SMALL} x 4 KiB and ${LARGE} x ${LARGE_BYTES / lib.MiB} MiB random annexed files; sibling origin (bare, annex-ignore) depends on s3 (annexd-s3, embedded S3 server) and dav (annexd-webdav, lighttpd); both tools with -J${JOBS}`,
    '',
    '| Measurement | annexd | datalad | annexd / datalad | target |',
    '|---|---|---|---|---|',
    row(`first push: ${SMALL + LARGE} files to s3 and dav, then git to origin`, 'first', `≤ 0.6: ${fmt.verdict(firstRatio <= 0.6)}`),
    row('push with nothing to do', 'noop', `annexd < 2 s: ${fmt.verdict(noop < 2000)}`),
    '',
    `Samples (seconds): first push annexd ${fmt.secs(results.first.annexd)}, datalad ${fmt.secs(results.first.datalad)}; no-op annexd ${fmt.secs(results.noop.annexd)}, datalad ${fmt.secs(results.noop.datalad)}`,
    '',
  ].join('\n');
  lib.writeReport('push', new Date(), md);
}

await lib.runBench(SCRIPT, opts, main, report);

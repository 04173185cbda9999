#!/usr/bin/env node
/**
 * annexd's git-annex-remote-datalad-archives versus Debian's DataLad remote of
 * the same name, on ONE dataset made by `datalad add-archive-content`:
 * `git annex get -J4` of every member of one tar.gz (1,000 members, 200 MiB
 * of random data; --quick: 200 members, 40 MiB), from a cold cache each time
 * (both remotes' extraction caches removed, the members dropped), the archive
 * itself present. Peak RSS of the remote processes. The same get from
 * git-annex's built-in directory remote is what any remote costs at least.
 *
 *   node bench/archive.mjs [--quick] [--repeat N] [--keep]     (--help; bench/README.md)
 *
 * Writes its table also to bench/out/archive-<timestamp>.md.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import path from 'node:path';
import * as lib from './lib.mjs';

const { BenchError, fmt, log, median } = lib;
const SCRIPT = 'bench/archive.mjs';
const PROGRAM = 'git-annex-remote-datalad-archives';
const ANNEXD_PROGRAM = path.join(lib.BIN, PROGRAM);
const REMOTES = ['annexd', 'datalad'];
/** git-annex's built-in directory remote holding the same members: what any remote's get costs at least. */
const FLOOR = 'floor';
const LONG = 60 * 60 * 1000;

const { opts } = lib.parseArgs(SCRIPT);
const MEMBERS = opts.quick ? 200 : 1000;
const ARCHIVE_BYTES = (opts.quick ? 40 : 200) * lib.MiB;
const MEMBER_BYTES = Math.floor(ARCHIVE_BYTES / MEMBERS);

function withoutBin(env) {
  return { ...env, PATH: env.PATH.split(path.delimiter).filter((d) => d !== lib.BIN).join(path.delimiter) };
}

async function main() {
  const info = lib.preflight([path.join(lib.ROOT, 'dist', 'remotes', 'archive', 'datalad-main.js')], ANNEXD_PROGRAM);
  for (const [tool, pkg] of [['datalad', 'datalad'], ['tar', 'tar'], ['7z', 'p7zip-full']]) {
    const r = await lib.run('sh', ['-c', `command -v ${tool}`], { allowFail: true });
    if (r.code !== 0) throw new BenchError(`${tool} is not installed: apt-get install ${pkg}`);
  }
  const { scratch, env } = lib.makeScratch('archive', ['DATALAD_', 'ANNEXD_']);
  const dataladEnv = withoutBin(env);
  await lib.run('git', ['config', '--global', 'user.name', 'annexd-bench'], { env });
  await lib.run('git', ['config', '--global', 'user.email', 'bench@example.invalid'], { env });

  log(`writing ${MEMBERS} random files of ${(MEMBER_BYTES / 1024).toFixed(0)} KiB and packing them into a tar.gz`);
  const src = path.join(scratch, 'src');
  const block = Buffer.allocUnsafe(MEMBER_BYTES);
  for (let i = 0; i < MEMBERS; i++) {
    const dir = path.join(src, 'arc', `d${String(i % 20).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    randomFillSync(block);
    writeFileSync(path.join(dir, `f${String(i).padStart(4, '0')}.bin`), block);
  }
  const ds = path.join(scratch, 'ds');
  await lib.run('datalad', ['create', ds], { env: dataladEnv });
  await lib.run('tar', ['-czf', path.join(ds, 'arc.tar.gz'), '-C', src, 'arc'], { timeoutMs: LONG });
  rmSync(src, { recursive: true, force: true });
  await lib.run('datalad', ['save', '-m', 'archive', 'arc.tar.gz'], { cwd: ds, env: dataladEnv, timeoutMs: LONG });
  log('datalad add-archive-content --delete arc.tar.gz (DataLad itself, with its own remote)');
  const setup = await lib.run('datalad', ['add-archive-content', '--delete', 'arc.tar.gz'], { cwd: ds, env: dataladEnv, timeoutMs: LONG });

  log('a directory special remote with the same members, for git-annex\'s own cost per key');
  const floorDir = path.join(scratch, 'floor');
  mkdirSync(floorDir);
  await lib.run('git', ['annex', 'initremote', FLOOR, 'type=directory', `directory=${floorDir}`, 'encryption=none'], { cwd: ds, env });
  await lib.run('git', ['annex', 'copy', '-J4', '--quiet', '--to', FLOOR, 'arc'], { cwd: ds, env, timeoutMs: LONG });

  const caches = { annexd: path.join(ds, '.git', 'annex', 'annexd', 'archives'), datalad: path.join(ds, '.git', 'datalad', 'tmp', 'archives') };
  const results = { get: { annexd: [], datalad: [], floor: [] }, rss: { annexd: [], datalad: [] }, procs: { annexd: [], datalad: [] } };
  for (let rep = 0; rep < opts.repeat; rep++) {
    await lib.run('git', ['annex', 'drop', '--force', '--quiet', 'arc'], { cwd: ds, env, timeoutMs: LONG });
    log(`run ${rep + 1}/${opts.repeat}: git annex get -J4 of ${MEMBERS} members from the directory remote`);
    results.get.floor.push((await lib.run('git', ['annex', 'get', '-J4', '--quiet', '--from', FLOOR, 'arc'], { cwd: ds, env, timeoutMs: LONG })).ms);
    const order = rep % 2 === 0 ? REMOTES : [...REMOTES].reverse();
    for (const remote of order) {
      await lib.run('git', ['annex', 'drop', '--force', '--quiet', 'arc'], { cwd: ds, env, timeoutMs: LONG });
      for (const c of Object.values(caches)) rmSync(c, { recursive: true, force: true });
      log(`run ${rep + 1}/${opts.repeat}: git annex get -J4 of ${MEMBERS} members through ${remote}'s ${PROGRAM}`);
      const r = await lib.run('git', ['annex', 'get', '-J4', '--quiet', '--from', 'datalad-archives', 'arc'], {
        cwd: ds,
        env: remote === 'annexd' ? env : dataladEnv,
        onSpawn: lib.rssPoller(PROGRAM),
        timeoutMs: LONG,
      });
      // Which program served is checked, not assumed: each leaves its own cache.
      const used = existsSync(caches[remote]) && readdirSync(caches[remote]).length > 0;
      const other = REMOTES.find((x) => x !== remote);
      if (!used || existsSync(caches[other])) throw new BenchError(`the get meant for ${remote}'s remote was served by another (caches: ${JSON.stringify(caches)})`);
      const got = readdirSync(path.join(ds, 'arc'), { recursive: true }).filter((n) => n.endsWith('.bin')).length;
      if (got !== MEMBERS) throw new BenchError(`${remote}: ${got} of ${MEMBERS} members after get`);
      results.get[remote].push(r.ms);
      results.rss[remote].push(r.annexdKb);
      results.procs[remote].push(r.annexdProcs);
    }
  }
  return { info, setupMs: setup.ms, results };
}

function report({ info, setupMs, results }) {
  const a = median(results.get.annexd);
  const d = median(results.get.datalad);
  const speedup = d / a;
  const f = median(results.get.floor);
  const rssA = median(results.rss.annexd);
  const rssD = median(results.rss.datalad);
  const archive = `${ARCHIVE_BYTES / lib.MiB} MiB`;
  const md = [
    `# annexd vs DataLad: files from one tar.gz — ${new Date().toISOString()}`,
    '',
    `- command: \`node ${SCRIPT}${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}\` (${opts.repeat > 1 ? `median of ${opts.repeat} runs` : 'single run'}; order alternates between runs)`,
    `- annexd ${info.revision}; git-annex ${info.gitAnnexVersion}; node ${process.version}`,
    `- dataset: ${MEMBERS} random members of ${(MEMBER_BYTES / 1024).toFixed(0)} KiB in one ${archive} tar.gz, added by \`datalad add-archive-content --delete\` (${fmt.s(setupMs)}); the archive is present, every member dropped and both extraction caches removed before each get`,
    '',
    '| Measurement | annexd | datalad-archives | DataLad / annexd | target |  |',
    '|---|---|---|---|---|---|',
    `| \`get -J4\` of ${MEMBERS} members | ${fmt.s(a)} | ${fmt.s(d)} | ${speedup.toFixed(2)}× | ≥ 5× | ${fmt.verdict(speedup >= 5)} |`,
    `| the same, time above git-annex's own (directory remote: ${fmt.s(f)}) | ${fmt.s(a - f)} | ${fmt.s(d - f)} | ${((d - f) / (a - f)).toFixed(2)}× | (context) | |`,
    `| peak RSS of the remote process(es) | ${fmt.mib(rssA)} | ${fmt.mib(rssD)} | | annexd < 200 MiB | ${fmt.verdict(rssA < 200 * 1024)} |`,
    `| remote processes started | ${median(results.procs.annexd)} | ${median(results.procs.datalad)} | | | |`,
    '',
    `Samples (seconds): annexd ${fmt.secs(results.get.annexd)}; datalad ${fmt.secs(results.get.datalad)}; directory remote ${fmt.secs(results.get.floor)}`,
    '',
  ].join('\n');
  lib.writeReport('archive', new Date(), md);
}

await lib.runBench(SCRIPT, opts, main, report);

/**
 * The parallel ranged download on its own (issue 14.2): ranges written into
 * place, a server that ignores Range, an object that changes or is not the
 * key's size, resume from the ranges already in the file. The object is
 * served from memory by a RangeGet that behaves as the HTTP answers would.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnnexApi } from '../../src/protocol/contract.js';
import type { TransferContext } from '../../src/remotes/core/backend.js';
import { ObjectChangedError, parallelGet, type RangeAnswer, type RangeGet } from '../../src/remotes/core/parallel-get.js';
import { ProgressReporter } from '../../src/remotes/core/progress.js';

const dir = mkdtempSync(join(tmpdir(), 'annexd-pget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KiB = 1024;
const settings = { streams: 3, threshold: 64 * KiB, rangeSize: 16 * KiB };
const noRetry = <T>(_what: string, op: () => Promise<T>): Promise<T> => op();
let n = 0;

function context(progress: number[] = [], debug: string[] = []): TransferContext {
  const annex = { progress: async (b: number) => void progress.push(b), debug: async (m: string) => void debug.push(m) } as unknown as AnnexApi;
  return { annex, signal: new AbortController().signal, progress: new ProgressReporter(annex, 1, 0) };
}

/** An object served by ranges, like a server: version, If-Match, 206 with Content-Range. */
function served(object: () => { data: Buffer; version: string | undefined }, log: string[] = [], honoursRange = true): RangeGet {
  return async (start, end, version) => {
    const { data, version: current } = object();
    log.push(`${start}-${end}${version ? ` if ${version}` : ''}`);
    if (version !== undefined && version !== current) throw new ObjectChangedError('412');
    const answer: RangeAnswer = honoursRange
      ? { status: 206, start, total: data.length, versions: current ? [current] : [], body: Readable.from([data.subarray(start, end + 1)]) }
      : { status: 200, start: 0, total: data.length, versions: current ? [current] : [], body: Readable.from([data]) };
    return answer;
  };
}

describe('parallelGet', () => {
  it('writes every range into place, over several streams, with one progress count, and leaves no notes behind', async () => {
    const data = randomBytes(100 * KiB + 7);
    const file = Buffer.from(join(dir, `f${++n}`));
    const log: string[] = [];
    const progress: number[] = [];
    expect(await parallelGet(file, data.length, settings, served(() => ({ data, version: 'v1' }), log), noRetry, context(progress))).toBe(true);
    expect(readFileSync(file)).toEqual(data);
    expect(log).toHaveLength(7);
    expect(log.slice(1).every((l) => l.endsWith(' if v1'))).toBe(true);
    expect(Math.max(...progress)).toBe(data.length);
    expect(existsSync(`${file}.annexd-ranges`) || existsSync(`${file}.annexd-parts`)).toBe(false);
  });

  it('does not apply below the threshold, for one stream, without a size, or over a partial file of one stream', async () => {
    const get = served(() => ({ data: randomBytes(10), version: 'v' }));
    const file = Buffer.from(join(dir, `f${++n}`));
    expect(await parallelGet(file, 1000, settings, get, noRetry, context())).toBe(false);
    expect(await parallelGet(file, 1 << 20, { ...settings, streams: 1 }, get, noRetry, context())).toBe(false);
    expect(await parallelGet(file, undefined, settings, get, noRetry, context())).toBe(false);
  });

  it('takes a 200 (Range ignored) as the whole object in one stream', async () => {
    const data = randomBytes(80 * KiB);
    const file = Buffer.from(join(dir, `f${++n}`));
    const log: string[] = [];
    expect(await parallelGet(file, data.length, settings, served(() => ({ data, version: 'v' }), log, false), noRetry, context())).toBe(true);
    expect(readFileSync(file)).toEqual(data);
    expect(log).toHaveLength(1);
  });

  it('an object that changes midway starts over once, for the new version: never two versions in one file', async () => {
    const v1 = randomBytes(80 * KiB);
    const v2 = randomBytes(80 * KiB);
    let calls = 0;
    const debug: string[] = [];
    const file = Buffer.from(join(dir, `f${++n}`));
    const get = served(() => (++calls <= 2 ? { data: v1, version: 'v1' } : { data: v2, version: 'v2' }));
    expect(await parallelGet(file, v1.length, settings, get, noRetry, context([], debug))).toBe(true);
    expect(readFileSync(file)).toEqual(v2);
    expect(debug.join('\n')).toMatch(/downloading it again from the start/);
  });

  it('fails when it changes again, and when the object is not the key\'s size', async () => {
    let version = 0;
    const data = randomBytes(80 * KiB);
    const changing: RangeGet = served(() => ({ data, version: `v${++version}` }));
    await expect(parallelGet(Buffer.from(join(dir, `f${++n}`)), data.length, settings, changing, noRetry, context())).rejects.toBeInstanceOf(ObjectChangedError);
    const wrongSize = served(() => ({ data, version: 'v' }));
    await expect(parallelGet(Buffer.from(join(dir, `f${++n}`)), data.length + 1, settings, wrongSize, noRetry, context())).rejects.toThrow(
      `the object on the server has ${data.length} bytes but the key ${data.length + 1}: it is not this key's content`,
    );
  });

  it('resumes with only the ranges it lacks, for the same version', async () => {
    const data = randomBytes(96 * KiB);
    const file = Buffer.from(join(dir, `f${++n}`));
    let failAfter = 3;
    const first: RangeGet = async (start, end, version, signal) => {
      if (failAfter-- <= 0) throw Object.assign(new Error('cut'), { code: 'ECONNRESET' });
      return served(() => ({ data, version: 'v1' }))(start, end, version, signal);
    };
    await expect(parallelGet(file, data.length, { ...settings, streams: 2 }, first, noRetry, context())).rejects.toThrow('cut');
    expect(existsSync(`${file}.annexd-ranges`)).toBe(true);
    const log: string[] = [];
    expect(await parallelGet(file, data.length, settings, served(() => ({ data, version: 'v1' }), log), noRetry, context())).toBe(true);
    expect(readFileSync(file)).toEqual(data);
    expect(log).toHaveLength(3);
    expect(log.every((l) => l.endsWith(' if v1'))).toBe(true);
  });

  it('a server that names no version: nothing is kept, for the one-stream download to start from byte 0', async () => {
    const data = randomBytes(80 * KiB);
    const file = Buffer.from(join(dir, `f${++n}`));
    const log: string[] = [];
    const debug: string[] = [];
    expect(await parallelGet(file, data.length, settings, served(() => ({ data, version: undefined }), log), noRetry, context([], debug))).toBe(false);
    expect(log).toEqual([`0-${16 * KiB - 1}`]);
    expect(existsSync(file) || existsSync(`${file}.annexd-ranges`) || existsSync(`${file}.annexd-parts`)).toBe(false);
    expect(debug.join('\n')).toMatch(/names no ETag or Last-Modified/);
  });
});

/**
 * Local side of transfers: sizes of the files git-annex hands us (a store's
 * source is never modified: it may be the annex object itself), and writing a
 * download at an offset so an interrupted retrieve resumes instead of starting over.
 */
import { createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LocalPath } from '../../protocol/contract.js';
import { countingStream } from './progress.js';

export async function fileSize(file: LocalPath): Promise<number> {
  return (await stat(file)).size;
}

/** Size of a partial download left by an earlier attempt; 0 when there is none. */
export async function partialSize(file: LocalPath): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/**
 * Writes `source` into `file` from `offset` on, dropping whatever followed the
 * offset. Returns the number of bytes written; `onBytes` sees each chunk.
 */
export async function writeFrom(
  file: LocalPath,
  offset: number,
  source: Readable | AsyncIterable<Uint8Array>,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  if (offset > 0) {
    const handle = await open(file, 'r+');
    try {
      await handle.truncate(offset);
    } finally {
      await handle.close();
    }
  }
  let written = 0;
  // The stream owns its descriptor: a failed pipeline closes it once, and the
  // original error (e.g. the connection cut) is what the caller sees.
  const out = createWriteStream(file, { flags: offset > 0 ? 'r+' : 'w', start: offset, mode: 0o644 });
  await pipeline(
    source,
    countingStream((n) => {
      written += n;
      onBytes(n);
    }),
    out,
    { signal },
  );
  return written;
}

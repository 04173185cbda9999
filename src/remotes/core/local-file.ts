/**
 * Local side of transfers: sizes of the files git-annex hands us (a store's
 * source is never modified: it may be the annex object itself), and writing a
 * download at an offset so an interrupted retrieve resumes instead of starting over.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { LocalPath } from '../../protocol/contract.js';

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
 * Uploads of files up to this size send the file as one buffer, read whole,
 * not as a stream: the request goes out with its head in one write, and
 * undici keeps the connection (a streamed small body's answer can arrive
 * before undici has seen the stream end, and it then drops the connection:
 * on loopback a third of WebDAV's small PUTs). With -J8 at most 8 MiB is held.
 */
export const WHOLE_BODY_MAX = 1024 * 1024;

/**
 * Past this much received but not yet written, the source is paused. Small,
 * because on a fast link every stream of a parallel download sits at it: a
 * 256 MiB get over loopback with 8 streams peaked at 150-171 MiB RSS with
 * 4 MiB, 117-124 MiB with 512 KiB, at the same speed (the disk, not this
 * buffer, is the limit there; across a WAN it never fills).
 */
const UNWRITTEN_LIMIT = 512 * 1024;

/**
 * What `source` delivers, in batches of the chunks that arrived meanwhile.
 * When the source fails mid-stream (a cut connection), every chunk it had
 * delivered is still yielded before the error: a resumed download then starts
 * after all the bytes that arrived. (A stream pipeline drops what is queued
 * for writing when it fails, often hundreds of KiB.) Listens from the call on,
 * so nothing is missed while the caller gets ready to write.
 */
function arrivals(source: Readable, signal?: AbortSignal): AsyncGenerator<Buffer[]> {
  let batch: Buffer[] = [];
  let size = 0;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer): void => {
    batch.push(chunk);
    size += chunk.length;
    if (size >= UNWRITTEN_LIMIT) source.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (err: unknown): void => {
    failure ??= err;
    notify();
  };
  const onClose = (): void => {
    if (!ended) onError(Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  };
  source.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  return (async function* () {
    signal?.addEventListener('abort', notify);
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (batch.length > 0) {
          const out = batch;
          batch = [];
          size = 0;
          source.resume();
          yield out;
        } else if (failure !== undefined) {
          throw failure;
        } else if (ended) {
          return;
        } else {
          await new Promise<void>((resolve) => (wake = resolve));
        }
      }
    } finally {
      signal?.removeEventListener('abort', notify);
      // The error listener stays: a late error must not go unhandled.
      source.off('data', onData).off('end', onEnd).off('close', onClose);
      if (!ended) source.destroy();
    }
  })();
}

/**
 * Writes `source` into `file` from `offset` on, dropping whatever followed the
 * offset. Returns the number of bytes written; `onBytes` sees each write. When
 * the source fails, everything it delivered is written before the error is thrown.
 */
export async function writeFrom(
  file: LocalPath,
  offset: number,
  source: Readable | AsyncIterable<Uint8Array>,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  // Listening starts before the file is opened: a source cut meanwhile must not go unnoticed.
  const input = source instanceof Readable ? source : Readable.from(source);
  const batches = arrivals(input, signal);
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, offset > 0 ? 'r+' : 'w', 0o644);
    await handle.truncate(offset);
    return await writeBatches(handle, offset, batches, onBytes);
  } catch (err) {
    input.destroy();
    throw err;
  } finally {
    await handle?.close();
  }
}

/**
 * Writes `source` into an open file at `offset` and on, leaving the rest of the
 * file as it is (parallel ranges of one download each write their own part).
 * Everything the source delivered is written before its error is thrown. Call
 * it as soon as the source is there: it starts listening at the call.
 */
export async function writeAt(
  handle: FileHandle,
  offset: number,
  source: Readable | AsyncIterable<Uint8Array>,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  const input = source instanceof Readable ? source : Readable.from(source);
  try {
    return await writeBatches(handle, offset, arrivals(input, signal), onBytes);
  } catch (err) {
    input.destroy();
    throw err;
  }
}

async function writeBatches(handle: FileHandle, offset: number, batches: AsyncGenerator<Buffer[]>, onBytes: (n: number) => void): Promise<number> {
  let written = 0;
  for await (const batch of batches) {
    const { bytesWritten } = await handle.writev(batch, offset + written);
    written += bytesWritten;
    onBytes(bytesWritten);
  }
  return written;
}

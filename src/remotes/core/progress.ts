/**
 * PROGRESS reporting, throttled once for every backend: git-annex's meter and
 * its stall detection both need steady updates, but one line per 64 KiB
 * chunk would flood the pipe. We send at least every `stepBytes` and at most
 * every `minIntervalMs` for smaller steps.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { AnnexApi } from '../../protocol/contract.js';

export const PROGRESS_STEP_BYTES = 1024 * 1024;

export class ProgressReporter {
  private sent = -1;
  private lastAt = 0;
  private current = 0;

  constructor(
    private readonly annex: Pick<AnnexApi, 'progress'>,
    private readonly stepBytes = PROGRESS_STEP_BYTES,
    private readonly minIntervalMs = 200,
    /** Sees every figure (it throttles itself): the report to a running daemon (daemon-report). */
    private readonly observe?: (bytes: number) => void,
  ) {}

  /** Bytes done so far, from the start of the file. Never goes backwards on the wire. */
  set(bytes: number): void {
    this.current = bytes;
    this.observe?.(bytes);
    if (bytes <= this.sent) return;
    const now = Date.now();
    if (bytes - this.sent >= this.stepBytes || now - this.lastAt >= this.minIntervalMs) {
      this.emit(bytes, now);
    }
  }

  add(delta: number): void {
    this.set(this.current + delta);
  }

  get bytes(): number {
    return this.current;
  }

  /** Sends the final figure if it was throttled away. */
  finish(): void {
    if (this.current > this.sent) this.emit(this.current, Date.now());
  }

  private emit(bytes: number, now: number): void {
    this.sent = bytes;
    this.lastAt = now;
    void this.annex.progress(bytes);
  }
}

/** A pass-through stream that reports every chunk's length. */
export function countingStream(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

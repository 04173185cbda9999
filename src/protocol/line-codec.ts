import type { Readable, Writable } from 'node:stream';

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into lines on 0x0A only, yielding each line as a wire
 * string (latin1, lossless). A final fragment without a newline is a truncated
 * message (git-annex ends every line), so it is not yielded: acting on it could
 * name the wrong key ("REMOVE K-C12" cut to "REMOVE K-C1"). It goes to
 * `onTruncated` instead, so it does not vanish unnoticed.
 */
export async function* readLines(
  input: Readable,
  onTruncated?: (fragment: string) => void,
): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    let nl = buf.indexOf(NEWLINE);
    while (nl !== -1) {
      const head = buf.subarray(0, nl);
      const line = pending.length ? Buffer.concat([...pending, head]) : head;
      pending = [];
      yield line.toString('latin1');
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(NEWLINE);
    }
    if (buf.length) pending.push(Buffer.from(buf));
  }
  if (pending.length) onTruncated?.(Buffer.concat(pending).toString('latin1'));
}

/**
 * Writes whole lines to stdout (or any stream). Each line is one write call, so
 * lines from concurrent jobs never interleave; `drain` is honoured so a slow
 * reader (git-annex busy verifying a file) cannot make us buffer without bound.
 */
export class LineWriter {
  private drained: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly out: Writable) {
    out.on('error', () => {
      // git-annex went away (EPIPE): nothing can be reported any more.
      this.closed = true;
    });
  }

  /** Queues one line (a wire string, without its newline). */
  write(wire: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    const ok = this.out.write(Buffer.from(wire + '\n', 'latin1'));
    if (!ok) {
      this.drained = new Promise((resolve) => {
        const done = (): void => {
          this.out.off('drain', done);
          this.out.off('close', done);
          resolve();
        };
        this.out.once('drain', done);
        this.out.once('close', done);
      });
    }
    return this.drained;
  }

  /** Resolves when everything written so far has been handed to the OS. */
  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.out.write('', () => resolve());
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/**
 * Scripted transcripts: a Session runs over in-memory streams and the test
 * plays git-annex, line by line. Lines are kept as raw bytes so tests can
 * check byte-exactness; `nextLine` decodes them as UTF-8 for readable diffs.
 */
import { PassThrough } from 'node:stream';
import { expect, onTestFinished } from 'vitest';
import type { SpecialRemote } from '../../src/protocol/contract.js';
import { Session, type SessionOptions } from '../../src/protocol/session.js';

/** Long enough for a loaded CI box, short enough that a missing reply fails fast. */
const LINE_TIMEOUT_MS = 2000;

export type TranscriptOptions = Pick<SessionOptions, 'extensions' | 'version'>;

export class Transcript {
  readonly input = new PassThrough();
  readonly output = new PassThrough();
  /** What the session wrote to its log (stderr in production). */
  readonly logs: string[] = [];
  /** Every line the session wrote, consumed or not, in order. */
  readonly received: Buffer[] = [];
  /** Resolves when Session.run() does; never rejects (close() rethrows the error). */
  readonly done: Promise<void>;
  private runError: unknown;
  private finished = false;
  /** Lines not yet consumed by nextBytes(). */
  private readonly lines: Buffer[] = [];
  private partial: Buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;

  constructor(remote: SpecialRemote, options: TranscriptOptions = {}) {
    // Read output eagerly: an unread PassThrough would push back on the engine.
    this.output.on('data', (chunk: Buffer) => this.collect(chunk));
    const session = new Session(remote, {
      ...options,
      input: this.input,
      output: this.output,
      log: (m) => this.logs.push(m),
    });
    this.done = session.run().then(
      () => {
        this.finished = true;
      },
      (err: unknown) => {
        this.finished = true;
        this.runError = err;
      },
    );
    // A test that fails half-way must not leave its session running.
    onTestFinished(() => this.close());
  }

  private collect(chunk: Buffer): void {
    let buf = Buffer.concat([this.partial, chunk]);
    let nl = buf.indexOf(0x0a);
    while (nl !== -1) {
      const line = buf.subarray(0, nl);
      this.lines.push(line);
      this.received.push(line);
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(0x0a);
    }
    this.partial = buf;
    this.wake?.();
  }

  /** Writes one line as git-annex would (text as UTF-8, or exact bytes). */
  send(line: string | Buffer): void {
    const bytes = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
    this.input.write(Buffer.concat([bytes, Buffer.from('\n')]));
  }

  /** Writes raw bytes with no newline added (to split lines across chunks). */
  sendRaw(bytes: string | Buffer): void {
    this.input.write(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
  }

  /** The next line written by the session, as bytes; fails after a timeout. */
  async nextBytes(timeoutMs = LINE_TIMEOUT_MS): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      const left = deadline - Date.now();
      if (left <= 0) {
        const ended = this.finished ? ' (the session has ended)' : '';
        throw new Error(`no line from the session within ${timeoutMs} ms${ended}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** The next line, decoded as UTF-8. */
  async nextLine(timeoutMs?: number): Promise<string> {
    return (await this.nextBytes(timeoutMs)).toString('utf8');
  }

  /** Asserts the next line is exactly `expected`. */
  async expectLine(expected: string): Promise<void> {
    expect(await this.nextLine()).toBe(expected);
  }

  /** Asserts the next lines are exactly `expected`, in order. */
  async expectLines(...expected: string[]): Promise<void> {
    const got: string[] = [];
    for (let i = 0; i < expected.length; i++) got.push(await this.nextLine());
    expect(got).toEqual(expected);
  }

  /** Asserts the session writes nothing for `ms` (for requests with no reply). */
  async expectSilence(ms = 50): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    expect(this.pendingLines()).toEqual([]);
  }

  /** Lines received but not yet consumed (decoded as UTF-8). */
  pendingLines(): string[] {
    return this.lines.map((l) => l.toString('utf8'));
  }

  /** Reads VERSION and answers the EXTENSIONS offer; returns the reply line. */
  async handshake(offered: string): Promise<string> {
    await this.expectLine('VERSION 2');
    this.send(offered === '' ? 'EXTENSIONS' : `EXTENSIONS ${offered}`);
    return this.nextLine();
  }

  /** Ends stdin (git-annex closing the pipe) and waits for run() to return. */
  async close(timeoutMs = LINE_TIMEOUT_MS): Promise<void> {
    this.input.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Session.run() did not return within ${timeoutMs} ms of EOF`)), timeoutMs);
    });
    try {
      await Promise.race([this.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.runError !== undefined) throw this.runError;
  }
}

/** A transcript past the handshake, with `offered` as git-annex's EXTENSIONS offer. */
export async function started(remote: SpecialRemote, offered = '', options: TranscriptOptions = {}): Promise<Transcript> {
  const t = new Transcript(remote, options);
  const reply = await t.handshake(offered);
  expect(reply.startsWith('EXTENSIONS')).toBe(true);
  return t;
}

/**
 * One conversation thread with git-annex. Without ASYNC there is a single job
 * whose lines are untagged; with ASYNC each `J n` number is its own job. A job
 * handles one request at a time; while a request runs, the job's incoming
 * lines are answers to the queries that request sent.
 */
import { AnnexQueryError, SessionClosedError } from './errors.js';
import { splitParams } from './messages.js';

type LineSink = (line: string) => Promise<void>;

interface Waiter {
  resolve(line: string): void;
  reject(err: Error): void;
}

export class Job {
  /** Name set by the last EXPORT request; consumed by the next export request. */
  exportName: string | undefined;

  private readonly queue: string[] = [];
  private running = false;
  /** Answer lines received while a query is in progress, not yet consumed. */
  private readonly answers: string[] = [];
  private inQuery = false;
  private waiter: Waiter | undefined;
  private queryChain: Promise<unknown> = Promise.resolve();
  private idleResolvers: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly id: number | undefined,
    private readonly sink: LineSink,
    private readonly handle: (job: Job, line: string) => Promise<void>,
  ) {}

  /** Sends one message in this job (tagged with `J n` when async). */
  send(message: string): Promise<void> {
    return this.sink(this.id === undefined ? message : `J ${this.id} ${message}`);
  }

  /** A line from git-annex for this job: an answer while a query runs, else a request. */
  deliver(line: string): void {
    if (this.inQuery) {
      this.answers.push(line);
      this.wake();
      return;
    }
    this.queue.push(line);
    void this.pump();
  }

  /** True while a query of this job waits for its answer. */
  get awaitingAnswer(): boolean {
    return this.inQuery;
  }

  /** Hands an untagged ERROR to the running query, if any. */
  failQuery(message: string): boolean {
    if (!this.inQuery) return false;
    this.answers.push(`ERROR ${message}`);
    this.wake();
    return true;
  }

  /**
   * Sends a query and returns its answer lines, reading more while `more` says
   * so (GETURLS answers with several VALUE lines). Queries within a job are
   * serialised: git-annex answers them in order, one at a time.
   */
  query(message: string, more: (line: string) => boolean = () => false): Promise<string[]> {
    const run = async (): Promise<string[]> => {
      const lines: string[] = [];
      this.inQuery = true;
      try {
        await this.send(message);
        for (;;) {
          const line = await this.nextLine();
          if (line === 'ERROR' || line.startsWith('ERROR ')) {
            throw new AnnexQueryError(message.split(' ', 1)[0] ?? message, line.slice(6));
          }
          lines.push(line);
          if (!more(line)) return lines;
        }
      } finally {
        this.inQuery = false;
      }
    };
    const result = this.queryChain.then(run, run);
    this.queryChain = result.catch(() => undefined);
    return result;
  }

  /** Sends a query expecting `VALUE x`; returns x (the empty string for a bare VALUE). */
  async queryValue(message: string): Promise<string> {
    const [line = ''] = await this.query(message);
    return expectValue(line, message);
  }

  private nextLine(): Promise<string> {
    const ready = this.answers.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.closed) return Promise.reject(new SessionClosedError());
    return new Promise<string>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private wake(): void {
    const w = this.waiter;
    if (!w || !this.answers.length) return;
    this.waiter = undefined;
    w.resolve(this.answers.shift() as string);
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length && !this.closed) {
        const line = this.queue.shift() as string;
        await this.handle(this, line);
      }
    } finally {
      this.running = false;
      const resolvers = this.idleResolvers;
      this.idleResolvers = [];
      for (const r of resolvers) r();
    }
  }

  /** Resolves when the job has no request running. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  /** Stops the job: a waiting query fails, queued requests are dropped. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new SessionClosedError());
  }
}

/** Extracts x from `VALUE x`, or fails clearly when git-annex said something else. */
export function expectValue(line: string, query: string): string {
  if (line === 'VALUE') return '';
  if (line.startsWith('VALUE ')) return line.slice(6);
  throw new Error(`expected VALUE in answer to ${query.split(' ', 1)[0]}, got "${line.slice(0, 80)}"`);
}

/** Extracts user and password from `CREDS user password`. */
export function expectCreds(line: string): { user: string; password: string } {
  const split = splitParams(line, 2);
  if (!split || split.command !== 'CREDS') {
    // "CREDS  " (both empty) splits fine; anything else is a protocol error.
    throw new Error(`expected CREDS in answer to GETCREDS, got "${line.slice(0, 20)}…"`);
  }
  const [user = '', password = ''] = split.params;
  return { user, password };
}

/**
 * The protocol engine: handshake, line routing (plain or ASYNC `J n`), request
 * dispatch to a SpecialRemote, and replies. One Session serves every job of
 * one git-annex process concurrently.
 */
import type { Readable, Writable } from 'node:stream';
import type { RequestContext, SpecialRemote } from './contract.js';
import { createAnnexApi, type NegotiatedExtensions } from './annex-api.js';
import { messageOf, RemoteError, SessionClosedError, UnsupportedRequestError } from './errors.js';
import { Job } from './job.js';
import { LineWriter, readLines } from './line-codec.js';
import { oneLine, parseRequest, type Request } from './messages.js';
import { textToWire, wireBytes, wireToText, WireName } from './wire.js';
import { redact } from '../util/redact.js';

/** Extensions annexd can use; the reply is their intersection with git-annex's offer. */
export const SUPPORTED_EXTENSIONS = ['INFO', 'ASYNC', 'GETGITREMOTENAME'] as const;

export interface SessionOptions {
  input: Readable;
  output: Writable;
  /** Where the remote's own diagnostics go (git-annex relays stderr to the user). */
  log?: (message: string) => void;
  /** Extensions to accept when offered. Default: all of SUPPORTED_EXTENSIONS. */
  extensions?: readonly string[];
  /** Protocol version to announce. 2 tells git-annex we rely on the EXPORT routing fix. */
  version?: 1 | 2;
}

const ASYNC_LINE = /^J (\d+) (.*)$/s;

/** How long in-flight handlers get to stop after git-annex closed stdin. */
const SHUTDOWN_GRACE_MS = 5000;

export class Session {
  private readonly writer: LineWriter;
  private readonly jobs = new Map<number | undefined, Job>();
  private readonly contexts = new WeakMap<Job, RequestContext>();
  private readonly abort = new AbortController();
  private readonly ext: NegotiatedExtensions = { info: false, gitRemoteName: false };
  private asyncMode = false;
  private handshakeDone = false;
  private prepared: Promise<void> | undefined;
  private readonly log: (message: string) => void;

  constructor(
    private readonly remote: SpecialRemote,
    private readonly options: SessionOptions,
  ) {
    this.writer = new LineWriter(options.output);
    this.log = options.log ?? ((m) => process.stderr.write(`${m}\n`));
  }

  /** Runs until git-annex closes stdin; resolves once in-flight work has stopped. */
  async run(): Promise<void> {
    await this.writer.write(`VERSION ${this.options.version ?? 2}`);
    try {
      // The fragment is not logged: it may be a CREDS answer.
      const truncated = (f: string): void => this.log(`annexd: stdin closed mid-line; ignoring ${f.length} bytes`);
      for await (const line of readLines(this.options.input, truncated)) {
        if (!this.route(line) || this.abort.signal.aborted) break;
      }
    } catch (err) {
      // stop() destroys the input, which ends the loop with an error; anything else is real.
      if (!this.abort.signal.aborted) throw err;
    } finally {
      await this.shutdown();
    }
  }

  /**
   * Ends the session as if git-annex had closed stdin (used on SIGINT/SIGTERM):
   * in-flight handlers see the abort signal and clean up, e.g. abort a
   * multipart upload, and run() resolves.
   */
  stop(): void {
    this.abort.abort(new SessionClosedError());
    this.options.input.destroy();
  }

  /** Routes one incoming line; false means the conversation is over. */
  private route(line: string): boolean {
    if (line.startsWith('EXTENSIONS') && !this.handshakeDone) {
      this.negotiate(line);
      return true;
    }
    if (line === 'ERROR' || line.startsWith('ERROR ')) return this.annexError(line.slice(6));
    if (!this.asyncMode) {
      this.handshakeDone = true;
      this.job(undefined).deliver(line);
      return true;
    }
    const m = ASYNC_LINE.exec(line);
    if (!m) {
      this.log(`annexd: ignoring a line without a job number in ASYNC mode: ${oneLine(line.slice(0, 60))}`);
      return true;
    }
    this.job(Number(m[1])).deliver(m[2] as string);
    return true;
  }

  private negotiate(line: string): void {
    const parsed = parseRequest(line);
    const offered = parsed.ok && parsed.request.type === 'EXTENSIONS' ? parsed.request.extensions : [];
    const wanted = this.options.extensions ?? SUPPORTED_EXTENSIONS;
    const use = wanted.filter((e) => offered.includes(e));
    this.ext.info = use.includes('INFO');
    this.ext.gitRemoteName = use.includes('GETGITREMOTENAME');
    this.handshakeDone = true;
    void this.writer.write(`EXTENSIONS ${use.join(' ')}`.trimEnd());
    this.asyncMode = use.includes('ASYNC');
  }

  /** An untagged ERROR: the answer to a waiting query, or git-annex giving up on us. */
  private annexError(message: string): boolean {
    const waiting = [...this.jobs.values()].filter((j) => j.awaitingAnswer);
    if (waiting.length === 1) {
      (waiting[0] as Job).failQuery(message);
      return true;
    }
    if (!this.handshakeDone) {
      // e.g. "unsupported VERSION" from an old git-annex, which then carries on.
      this.log(`annexd: git-annex reported: ${oneLine(message)}`);
      return true;
    }
    this.log(`annexd: git-annex reported an error, stopping: ${oneLine(message)}`);
    return false;
  }

  private job(id: number | undefined): Job {
    let job = this.jobs.get(id);
    if (!job) {
      // After EOF git-annex expects silence (a late reply would be read by no one, or
      // misread): handlers still finishing during shutdown must not write.
      job = new Job(
        id,
        (l) => (this.abort.signal.aborted ? Promise.resolve() : this.writer.write(l)),
        (j, l) => this.handle(j, l),
      );
      this.jobs.set(id, job);
    }
    return job;
  }

  private async shutdown(): Promise<void> {
    this.abort.abort(new SessionClosedError());
    for (const job of this.jobs.values()) job.close();
    // Handlers observe the abort signal; the cap only guards against one that does not.
    await Promise.race([
      Promise.all([...this.jobs.values()].map((j) => j.idle())),
      new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref()),
    ]);
    await this.remote.close?.().catch(() => undefined);
    await this.writer.flush();
  }

  /** One context per job: it depends only on the job, so it is built once, not per request. */
  private context(job: Job): RequestContext {
    let ctx = this.contexts.get(job);
    if (!ctx) {
      ctx = { annex: createAnnexApi(job, this.ext), signal: this.abort.signal };
      this.contexts.set(job, ctx);
    }
    return ctx;
  }

  /** Handles one request of one job and sends its reply. */
  private async handle(job: Job, line: string): Promise<void> {
    const parsed = parseRequest(line);
    if (!parsed.ok) {
      if (parsed.unknown) await job.send('UNSUPPORTED-REQUEST');
      else await job.send(textToWire(`ERROR malformed ${parsed.command} request (${parsed.reason})`));
      return;
    }
    const req = parsed.request;
    const ctx = this.context(job);
    try {
      await this.dispatch(job, req, ctx);
    } catch (err) {
      if (err instanceof SessionClosedError || this.abort.signal.aborted) return;
      if (err instanceof UnsupportedRequestError) {
        await job.send('UNSUPPORTED-REQUEST');
        return;
      }
      // A bug or an unexpected protocol answer inside a handler that has no
      // failure reply of its own: say so clearly rather than crash.
      this.log(`annexd: ${req.type} failed: ${redact(messageOf(err))}`);
      await job.send(textToWire(`ERROR ${oneLine(redact(messageOf(err)))}`));
    }
  }

  private failure(err: unknown): string {
    if (err instanceof UnsupportedRequestError) return err.message;
    return textToWire(oneLine(redact(messageOf(err))) || 'failed (no reason given)');
  }

  /** Decodes a key for the backend; keys that are not UTF-8 cannot be named anywhere else. */
  private keyText(wire: string): string {
    const text = wireToText(wire);
    if (text === undefined) throw new RemoteError('key is not valid UTF-8');
    return text;
  }

  private async ensurePrepared(ctx: RequestContext): Promise<void> {
    // Shared by all jobs: git-annex sends PREPARE once per process.
    if (!this.prepared) {
      const p = this.remote.prepare(ctx);
      this.prepared = p;
      p.catch(() => {
        if (this.prepared === p) this.prepared = undefined;
      });
    }
    await this.prepared;
  }

  private async dispatch(job: Job, req: Request, ctx: RequestContext): Promise<void> {
    const r = this.remote;
    const send = (msg: string): Promise<void> => job.send(msg);
    // Requests answered without PREPARE, and that cannot fail.
    switch (req.type) {
      case 'EXTENSIONS':
        // A second EXTENSIONS after the handshake is answered the same way, without renegotiating.
        await send('EXTENSIONS');
        return;
      case 'ERROR':
        return;
      case 'LISTCONFIGS':
        for (const c of r.listConfigs()) await send(textToWire(`CONFIG ${c.name} ${oneLine(c.description)}`));
        await send('CONFIGEND');
        return;
      case 'EXPORTSUPPORTED':
        await send(r.exportSupported?.() && r.exporter ? 'EXPORTSUPPORTED-SUCCESS' : 'EXPORTSUPPORTED-FAILURE');
        return;
      case 'EXPORT':
        job.exportName = req.name;
        return;
      default:
        break;
    }
    // Everything else: success replies come from perform(); any failure, including
    // a failed PREPARE, becomes the request's own failure reply.
    let replies: string[];
    try {
      if (req.type !== 'INITREMOTE') await this.ensurePrepared(ctx);
      replies = await this.perform(job, req, ctx);
    } catch (err) {
      if (err instanceof UnsupportedRequestError) throw err;
      if (this.abort.signal.aborted) return;
      replies = [this.failureReplyFor(req, err)];
    }
    for (const line of replies) await send(line);
  }

  /** Runs one request on the (prepared) remote and returns its success replies. */
  private async perform(job: Job, req: Request, ctx: RequestContext): Promise<string[]> {
    const r = this.remote;
    switch (req.type) {
      case 'INITREMOTE':
        await r.initRemote(ctx);
        return ['INITREMOTE-SUCCESS'];
      case 'PREPARE':
        return ['PREPARE-SUCCESS'];
      case 'TRANSFER': {
        const key = this.keyText(req.key);
        const file = wireBytes(req.file);
        if (req.direction === 'STORE') await r.store(key, file, ctx);
        else await r.retrieve(key, file, ctx);
        return [`TRANSFER-SUCCESS ${req.direction} ${req.key}`];
      }
      case 'CHECKPRESENT':
        return [`CHECKPRESENT-${(await r.checkPresent(this.keyText(req.key), ctx)) ? 'SUCCESS' : 'FAILURE'} ${req.key}`];
      case 'REMOVE':
        await r.remove(this.keyText(req.key), ctx);
        return [`REMOVE-SUCCESS ${req.key}`];
      case 'GETCOST':
        if (!r.getCost) throw new UnsupportedRequestError('GETCOST');
        return [`COST ${await r.getCost(ctx)}`];
      case 'GETAVAILABILITY':
        if (!r.getAvailability) throw new UnsupportedRequestError('GETAVAILABILITY');
        return [`AVAILABILITY ${await r.getAvailability(ctx)}`];
      case 'CLAIMURL': {
        // A remote that cannot decide does not claim: git-annex then tries others.
        const url = wireToText(req.url);
        const claimed = r.claimUrl && url !== undefined ? await r.claimUrl(url, ctx).catch(() => false) : false;
        return [claimed ? 'CLAIMURL-SUCCESS' : 'CLAIMURL-FAILURE'];
      }
      case 'CHECKURL':
        return [await this.checkUrlReply(req.url, ctx)];
      case 'WHEREIS': {
        // WHEREIS is informational: a failure just shows nothing.
        const where = r.whereis ? await r.whereis(this.keyText(req.key), ctx).catch(() => undefined) : undefined;
        return [where ? textToWire(`WHEREIS-SUCCESS ${oneLine(redact(where))}`) : 'WHEREIS-FAILURE'];
      }
      case 'GETINFO': {
        const info = r.getInfo ? await r.getInfo(ctx) : [];
        const lines = info.flatMap(([name, value]) => [
          textToWire(`INFOFIELD ${oneLine(name)}`),
          textToWire(`INFOVALUE ${oneLine(redact(value))}`),
        ]);
        return [...lines, 'INFOEND'];
      }
      default:
        return this.performExport(job, req, ctx);
    }
  }

  private async checkUrlReply(urlWire: string, ctx: RequestContext): Promise<string> {
    const r = this.remote;
    if (!r.checkUrl) throw new UnsupportedRequestError('CHECKURL');
    const url = wireToText(urlWire);
    if (url === undefined) throw new RemoteError('URL is not valid UTF-8');
    const res = await r.checkUrl(url, ctx);
    if (res.kind === 'contents') {
      return textToWire(`CHECKURL-CONTENTS ${res.size ?? 'UNKNOWN'} ${oneLine(redact(res.filename ?? ''))}`.trimEnd());
    }
    const fields = res.entries.map((e) => {
      // git-annex splits the list on runs of spaces: an empty field would shift every later entry.
      if (!e.url || !e.filename || /\s/.test(e.url) || /\s/.test(e.filename)) {
        throw new RemoteError('CHECKURL-MULTI cannot carry URLs or file names that are empty or contain spaces');
      }
      return `${e.url} ${e.size ?? 'UNKNOWN'} ${e.filename}`;
    });
    return textToWire(`CHECKURL-MULTI ${fields.join(' ')}`);
  }

  private async performExport(job: Job, req: Request, ctx: RequestContext): Promise<string[]> {
    const ex = this.remote.exporter;
    if (!ex) throw new UnsupportedRequestError(req.type);
    const takeName = (): WireName => {
      const name = job.exportName;
      job.exportName = undefined;
      if (name === undefined) throw new RemoteError(`${req.type} without a preceding EXPORT`);
      return new WireName(name);
    };
    switch (req.type) {
      case 'TRANSFEREXPORT': {
        const name = takeName();
        const file = wireBytes(req.file);
        if (req.direction === 'STORE') await ex.store(name, this.keyText(req.key), file, ctx);
        else await ex.retrieve(name, this.keyText(req.key), file, ctx);
        return [`TRANSFER-SUCCESS ${req.direction} ${req.key}`];
      }
      case 'CHECKPRESENTEXPORT':
        return [`CHECKPRESENT-${(await ex.checkPresent(takeName(), this.keyText(req.key), ctx)) ? 'SUCCESS' : 'FAILURE'} ${req.key}`];
      case 'REMOVEEXPORT':
        await ex.remove(takeName(), this.keyText(req.key), ctx);
        return [`REMOVE-SUCCESS ${req.key}`];
      case 'REMOVEEXPORTDIRECTORY':
        await ex.removeDirectory(new WireName(req.directory), ctx);
        return ['REMOVEEXPORTDIRECTORY-SUCCESS'];
      case 'RENAMEEXPORT':
        if (!ex.rename) throw new UnsupportedRequestError('RENAMEEXPORT');
        await ex.rename(takeName(), this.keyText(req.key), new WireName(req.newName), ctx);
        return [`RENAMEEXPORT-SUCCESS ${req.key}`];
      default:
        throw new UnsupportedRequestError(req.type);
    }
  }

  /** The one failure reply of each request, with the reason where the protocol has room for it. */
  private failureReplyFor(req: Request, err: unknown): string {
    const msg = this.failure(err);
    switch (req.type) {
      case 'INITREMOTE':
        return `INITREMOTE-FAILURE ${msg}`;
      case 'PREPARE':
        return `PREPARE-FAILURE ${msg}`;
      case 'TRANSFER':
      case 'TRANSFEREXPORT':
        return `TRANSFER-FAILURE ${req.direction} ${req.key} ${msg}`;
      case 'CHECKPRESENT':
      case 'CHECKPRESENTEXPORT':
        return `CHECKPRESENT-UNKNOWN ${req.key} ${msg}`;
      case 'REMOVE':
      case 'REMOVEEXPORT':
        return `REMOVE-FAILURE ${req.key} ${msg}`;
      case 'CHECKURL':
        return `CHECKURL-FAILURE ${msg}`;
      case 'CLAIMURL':
        return 'CLAIMURL-FAILURE';
      case 'WHEREIS':
        return 'WHEREIS-FAILURE';
      default:
        break;
    }
    // These replies carry no reason: say it on stderr, which git-annex shows.
    this.log(`annexd: ${req.type} failed: ${redact(messageOf(err))}`);
    if (req.type === 'REMOVEEXPORTDIRECTORY') return 'REMOVEEXPORTDIRECTORY-FAILURE';
    if (req.type === 'RENAMEEXPORT') return `RENAMEEXPORT-FAILURE ${req.key}`;
    return `ERROR ${msg}`;
  }
}

/**
 * A fault-injecting HTTP/1.1 proxy for tests and benches, on 127.0.0.1 between a remote and
 * a real server. It understands just enough HTTP/1.1 (request and response
 * heads, Content-Length and chunked bodies, 1xx answers, keep-alive; one
 * request at a time per connection, as undici and Node's agent send them) to
 * fault single requests on shared connections:
 *
 * - cut-request: the connection is cut part way through a request body (an upload);
 * - cut-response: cut part way through the response: in the body when there is
 *   one, else in the head (the server acted, but the client never hears of it);
 * - stall: forwarding stops for a while, in the request body when there is one,
 *   else in the response;
 * - 429, 503 (both with Retry-After) and 500: answered by the proxy itself; the
 *   server never sees the request.
 *
 * Faults come from an explicit plan (e.g. "the first PUT stalls at 16 MiB"),
 * else from a seeded random schedule with a rate per fault. Only faults that
 * actually struck are counted, so a test can prove it was not vacuous.
 *
 * It also shapes the network like a wide-area link, for benches and tests:
 * added latency in each direction (a new connection also pays one round trip
 * for its handshake), a bandwidth cap per connection and in total, and the
 * requests it forwarded, counted by method.
 */
import net from 'node:net';

export const FAULTS = ['cut-request', 'cut-response', 'stall', '429', '503', '500'] as const;
export type Fault = (typeof FAULTS)[number];

export interface RequestInfo {
  method: string;
  /** The request target, e.g. /dav/x/y?a=1 */
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
}

export interface FaultRule {
  fault: Fault;
  match?(req: RequestInfo): boolean;
  /** Let this many matching requests through first (default 0). */
  skip?: number;
  /** Then fault every n-th matching request (default 1: each). */
  every?: number;
  /** How many times the fault strikes (default 1); a request it never struck (say, answered early) does not count. */
  times?: number;
  /** Cuts and stalls: after this many bytes of the body (default: a random point). */
  atByte?: number;
  /** Stalls: how long (default: the proxy's stallMs). */
  stallMs?: number;
  /** Stalls: instead of a time, until this settles (a test's "hold it here until I have done X"). */
  until?: Promise<unknown>;
  /** Cuts: reset (RST, unread data is lost) instead of close (FIN); default: either, at random. */
  rst?: boolean;
}

export interface FaultProxyOptions {
  /** The real server, e.g. http://127.0.0.1:8080 (a path is ignored). */
  target: string;
  /** Explicit faults, tried in order before the random schedule. */
  plan?: FaultRule[];
  /** Chance of each fault per request in the random schedule (0..1; cut-request counts requests with a body). */
  rates?: Partial<Record<Fault, number>>;
  seed?: number;
  /** How long a random stall lasts (default 1000 ms). */
  stallMs?: number;
  /** Retry-After of the 429 and 503 answers, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** The random schedule faults one method + target at most this many times in a row (default: no limit). */
  maxConsecutive?: number;
  /** Network shaping: milliseconds added in each direction (default 0). */
  latencyMs?: number;
  /** Network shaping: bytes per second in each direction of each connection (default: no cap). */
  bytesPerSecond?: number;
  /** Network shaping: bytes per second in each direction over all connections together (default: no cap). */
  totalBytesPerSecond?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  range?: string;
  /** The fault that struck this request. */
  fault?: Fault;
  where?: 'request body' | 'response head' | 'response body' | 'proxy';
  /** Bytes of the body (or head) forwarded before a cut or stall struck. */
  offset?: number;
  /** The final status the server (or the proxy) answered. */
  status?: number;
}

export interface FaultProxy {
  readonly url: string;
  readonly port: number;
  /** Faults that actually struck, by kind. */
  readonly injected: Readonly<Record<Fault, number>>;
  readonly requests: readonly RequestRecord[];
  /** Requests forwarded (or answered by the proxy), by method. */
  counts(): Record<string, number>;
  /** Client connections accepted so far. */
  readonly connections: number;
  /** Stops listening, ends every stall and closes every connection. */
  stop(): Promise<void>;
}

const CRLF = '\r\n';
const HEAD_END = '\r\n\r\n';
const HIGH_WATER = 1024 * 1024;
const MAX_HEAD = 64 * 1024;
/** Where a cut or stall may land in a body of unknown length (chunked, or up to close). */
const UNKNOWN_BODY_SPAN = 16 * 1024;
const REASONS: Record<number, string> = { 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };

/** The connection was cut on purpose (or closed under us): ends it without complaint. */
class Cut extends Error {
  constructor(readonly rst = false) {
    super('connection cut');
  }
}

type Framing = { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };
const NO_BODY: Framing = { kind: 'length', length: 0 };

interface Head {
  raw: Buffer;
  start: string[];
  headers: Record<string, string>;
}

function parseHead(raw: Buffer): Head {
  const [first = '', ...lines] = raw.toString('latin1').slice(0, -HEAD_END.length).split(CRLF);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { raw, start: first.split(' '), headers };
}

function bodyFraming(headers: Record<string, string>): Framing | undefined {
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) return { kind: 'chunked' };
  const length = headers['content-length'];
  return length === undefined ? undefined : { kind: 'length', length: Number(length) };
}

function responseFraming(method: string, status: number, headers: Record<string, string>): Framing {
  if (method === 'HEAD' || status === 204 || status === 304) return NO_BODY;
  return bodyFraming(headers) ?? { kind: 'close' };
}

/** Body length for placing a fault: known, or a span to pick a point in. */
const spanOf = (f: Framing): number => (f.kind === 'length' ? f.length : UNKNOWN_BODY_SPAN);
const hasBody = (f: Framing): boolean => f.kind === 'chunked' || spanOf(f) > 0;

/** mulberry32: small, fast and deterministic for a seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Decision {
  fault: Fault;
  /** The plan rule it came from, given back if the fault never strikes. */
  rule: { times: number } | undefined;
  atByte: number | undefined;
  stallMs: number;
  until: Promise<unknown> | undefined;
  rst: boolean;
}

/** Which request gets which fault: the plan first, then the seeded random schedule. */
class Schedule {
  private readonly random: () => number;
  private readonly rules: Array<FaultRule & { skip: number; times: number; seen: number }>;
  /** Faults in a row per method + target. */
  private readonly streaks = new Map<string, number>();

  constructor(private readonly o: FaultProxyOptions) {
    this.random = seeded(o.seed ?? 1);
    this.rules = (o.plan ?? []).map((r) => ({ ...r, skip: r.skip ?? 0, times: r.times ?? 1, seen: 0 }));
  }

  /** A random whole number in [0, n). */
  pick(n: number): number {
    return Math.floor(this.random() * n);
  }

  decide(req: RequestInfo, withBody: boolean): Decision | undefined {
    const make = (fault: Fault, rule?: FaultRule & { times: number }): Decision => ({
      fault,
      rule,
      atByte: rule?.atByte,
      stallMs: rule?.stallMs ?? this.o.stallMs ?? 1000,
      until: rule?.until,
      rst: rule?.rst ?? this.pick(2) === 1,
    });
    for (const rule of this.rules) {
      if (rule.times === 0 || (rule.match && !rule.match(req))) continue;
      if (rule.skip > 0) {
        rule.skip--;
        continue;
      }
      if (++rule.seen % (rule.every ?? 1) !== 0) continue;
      rule.times--;
      return make(rule.fault, rule);
    }
    const key = `${req.method} ${req.path}`;
    const streak = this.streaks.get(key) ?? 0;
    const u = this.random();
    let fault: Fault | undefined;
    if (streak < (this.o.maxConsecutive ?? Infinity)) {
      let sum = 0;
      for (const f of FAULTS) {
        if (f === 'cut-request' && !withBody) continue;
        sum += this.o.rates?.[f] ?? 0;
        if (u < sum) {
          fault = f;
          break;
        }
      }
    }
    if (fault) this.streaks.set(key, streak + 1);
    else this.streaks.delete(key);
    return fault && make(fault);
  }
}

/** Buffered reads from a socket, pausing it while much is unread. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiting: (() => void) | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      if (this.buf.length >= HIGH_WATER) socket.pause();
      this.wake();
    });
    const end = (): void => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
  }

  /** The peer closed and everything it sent has been read. */
  get done(): boolean {
    return this.ended && this.buf.length === 0;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  private more(): Promise<void> {
    this.socket.resume();
    return new Promise((resolve) => (this.waiting = resolve));
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    if (this.buf.length < HIGH_WATER) this.socket.resume();
    return out;
  }

  /** Everything up to and including `delimiter`; undefined when the stream ends first. */
  async until(delimiter: string): Promise<Buffer | undefined> {
    for (let from = 0; ; ) {
      const i = this.buf.indexOf(delimiter, from);
      if (i >= 0) return this.take(i + delimiter.length);
      if (this.ended) return undefined;
      if (this.buf.length > MAX_HEAD) throw new Error('HTTP head or chunk line too long');
      from = Math.max(0, this.buf.length - delimiter.length + 1);
      await this.more();
    }
  }

  /** Up to `max` bytes as soon as there are any; undefined at the end. */
  async some(max: number): Promise<Buffer | undefined> {
    while (this.buf.length === 0) {
      if (this.ended) return undefined;
      await this.more();
    }
    return this.take(Math.min(max, this.buf.length));
  }

  async need(delimiter: string): Promise<Buffer> {
    const b = await this.until(delimiter);
    if (!b) throw new Cut();
    return b;
  }
}

function send(socket: net.Socket | undefined, data: Buffer | string): Promise<void> {
  if (!socket || data.length === 0) return Promise.resolve();
  if (socket.destroyed) return Promise.reject(new Cut());
  if (socket.write(data)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const settle = (err?: Error): void => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => settle();
    const onClose = (): void => settle(new Cut());
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

/** When a link is next free to send: shared by the links of all connections for the total cap. */
class Pacer {
  free = 0;
  constructor(readonly bytesPerSecond: number | undefined) {}

  /** Reserves the link for `bytes`; returns when their transmission ends. */
  reserve(bytes: number, from: number): number {
    if (!this.bytesPerSecond) return from;
    this.free = Math.max(this.free, from) + (bytes / this.bytesPerSecond) * 1000;
    return this.free;
  }
}

/** Most bytes one direction of a connection holds in flight (sent by the peer, not yet delivered). */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;

/**
 * One direction of one connection, shaped: each write is delivered after its
 * transmission time (at the caps) plus the latency, in order. The writer waits
 * while its transmission slot has not begun, or too much is in flight, so
 * memory stays bounded and backpressure reaches the sender.
 */
class Link {
  private readonly own: Pacer;
  private lastDelivery = 0;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  /** Writes waiting for their delivery time, in order; one timer serves the head (timers alone may reorder). */
  private readonly queue: Array<{ at: number; data: Buffer | string }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: () => net.Socket | undefined,
    private readonly latencyMs: number,
    bytesPerSecond: number | undefined,
    private readonly total: Pacer,
    private readonly signal: AbortSignal,
    /** No byte leaves before this time (a new connection's handshake). */
    private readonly notBefore = 0,
  ) {
    this.own = new Pacer(bytesPerSecond);
  }

  get shaped(): boolean {
    return this.latencyMs > 0 || this.own.bytesPerSecond !== undefined || this.total.bytesPerSecond !== undefined;
  }

  async write(data: Buffer | string): Promise<void> {
    const socket = this.socket();
    if (!this.shaped) return send(socket, data);
    if (!socket || data.length === 0) return;
    while (this.inFlight > MAX_IN_FLIGHT) await new Promise<void>((resolve) => (this.drained = resolve));
    const now = Date.now();
    const start = Math.max(now, this.notBefore);
    const sent = Math.max(this.own.reserve(data.length, start), this.total.reserve(data.length, start));
    const at = Math.max(sent + this.latencyMs, this.lastDelivery);
    this.lastDelivery = at;
    this.inFlight += data.length;
    this.queue.push({ at, data });
    this.schedule();
    // The sender may go on once its bytes are on the wire (their transmission ended).
    if (sent > now) await sleep(sent - now, this.signal);
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.deliver(), Math.max(0, this.queue[0]!.at - Date.now()));
  }

  private deliver(): void {
    this.timer = undefined;
    const socket = this.socket();
    while (this.queue.length > 0 && this.queue[0]!.at <= Date.now()) {
      const { data } = this.queue.shift()!;
      this.inFlight -= data.length;
      if (socket && !socket.destroyed) socket.write(data);
    }
    const d = this.drained;
    this.drained = undefined;
    d?.();
    this.schedule();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Cut());
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Cut());
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Waits for `p` to settle either way, or rejects with a cut when the connection is closed first. */
function settledOrCut(p: Promise<unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Cut());
    const onAbort = (): void => reject(new Cut());
    signal.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    p.then(done, done);
  });
}

/** Forwards one message's bytes (to nowhere when discarding), stalling or cutting at planned offsets. */
class Gate {
  private pos = 0;
  cutAt: number | undefined;
  stallAt: number | undefined;

  constructor(
    private readonly to: Link | undefined,
    private readonly signal: AbortSignal,
    private readonly decision: Decision | undefined,
    /** Told the offset where a planned fault strikes. */
    private readonly strike: (at: number) => void,
  ) {}

  async pass(data: Buffer): Promise<void> {
    for (;;) {
      const at = Math.min(this.cutAt ?? Infinity, this.stallAt ?? Infinity);
      if (at >= this.pos + data.length) break;
      await this.to?.write(data.subarray(0, at - this.pos));
      data = data.subarray(at - this.pos);
      this.pos = at;
      this.strike(at);
      if (at !== this.stallAt) throw new Cut(this.decision?.rst);
      this.stallAt = undefined;
      const until = this.decision?.until;
      await (until ? settledOrCut(until, this.signal) : sleep(this.decision?.stallMs ?? 0, this.signal));
    }
    await this.to?.write(data);
    this.pos += data.length;
  }
}

async function copy(from: Reader, n: number, gate: Gate): Promise<void> {
  while (n > 0) {
    const b = await from.some(Math.min(n, 256 * 1024));
    if (!b) throw new Cut();
    await gate.pass(b);
    n -= b.length;
  }
}

/** Moves one body from `from` through `gate`, framing and all. */
async function pipeBody(from: Reader, framing: Framing, gate: Gate): Promise<void> {
  if (framing.kind === 'length') return copy(from, framing.length, gate);
  if (framing.kind === 'close') {
    for (let b; (b = await from.some(256 * 1024)); ) await gate.pass(b);
    return;
  }
  for (;;) {
    const line = await from.need(CRLF);
    await gate.pass(line);
    const size = parseInt(line.toString('latin1'), 16);
    if (Number.isNaN(size)) throw new Error(`bad chunk size line ${JSON.stringify(line.toString('latin1'))}`);
    if (size > 0) {
      await copy(from, size + CRLF.length, gate);
      continue;
    }
    // Trailers, up to an empty line.
    for (let t = await from.need(CRLF); ; t = await from.need(CRLF)) {
      await gate.pass(t);
      if (t.length === CRLF.length) return;
    }
  }
}

interface Shared {
  target: URL;
  options: FaultProxyOptions;
  schedule: Schedule;
  injected: Record<Fault, number>;
  requests: RequestRecord[];
  /** The total caps, one per direction. */
  totalUp: Pacer;
  totalDown: Pacer;
}

/** One client connection and its own connection to the server. */
class Connection {
  private readonly upstream: net.Socket;
  private readonly clientIn: Reader;
  private readonly serverIn: Reader;
  private readonly ended = new AbortController();
  private idle = true;
  private readonly toServer: Link;
  private readonly toClient: Link;

  constructor(
    private readonly shared: Shared,
    private readonly client: net.Socket,
  ) {
    const { hostname, port } = shared.target;
    this.upstream = net.connect({ host: hostname, port: Number(port) });
    this.clientIn = new Reader(client);
    this.serverIn = new Reader(this.upstream);
    const { latencyMs = 0, bytesPerSecond } = shared.options;
    // The client's first bytes wait for the handshake's round trip.
    this.toServer = new Link(() => this.upstream, latencyMs, bytesPerSecond, shared.totalUp, this.ended.signal, Date.now() + 2 * latencyMs);
    this.toClient = new Link(() => this.client, latencyMs, bytesPerSecond, shared.totalDown, this.ended.signal);
    client.setNoDelay(true);
    this.upstream.setNoDelay(true);
    client.on('error', () => this.close());
    client.on('close', () => this.close());
    // The server's side ending is seen by the reader; between requests the proxy ends
    // the client's connection as the server would have.
    const serverGone = (): void => {
      if (this.idle) client.end();
    };
    this.upstream.on('error', serverGone);
    this.upstream.on('close', serverGone);
  }

  /** Ends both connections at once (pending bytes are dropped). */
  close(rst = false): void {
    if (this.ended.signal.aborted) return;
    this.ended.abort();
    if (rst && !this.client.destroyed) this.client.resetAndDestroy();
    else this.client.destroy();
    this.upstream.destroy();
  }

  async run(): Promise<void> {
    try {
      for (;;) {
        this.idle = true;
        if (this.serverIn.done) break;
        const head = await this.clientIn.until(HEAD_END);
        this.idle = false;
        if (!head) break;
        if (!(await this.exchange(parseHead(head)))) break;
      }
      // Let what was written reach the client; its close then ends the rest.
      this.client.end();
    } catch (err) {
      this.close(err instanceof Cut && err.rst);
    }
  }

  /** One request and its answer; false when the connection ends with it. */
  private async exchange(req: Head): Promise<boolean> {
    const [method = '', path = ''] = req.start;
    const framing = bodyFraming(req.headers) ?? NO_BODY;
    const decision = this.shared.schedule.decide({ method, path, headers: req.headers }, hasBody(framing));
    const record: RequestRecord = { method, path, range: req.headers.range };
    this.shared.requests.push(record);
    try {
      return await this.forward(req, framing, decision, record);
    } finally {
      if (decision?.rule && record.fault === undefined) decision.rule.times++;
    }
  }

  private async forward(req: Head, framing: Framing, decision: Decision | undefined, record: RequestRecord): Promise<boolean> {
    const { method } = record;
    const { schedule, injected } = this.shared;
    const strike = (where: RequestRecord['where'], offset?: number): void => {
      if (!decision) return;
      Object.assign(record, { fault: decision.fault, where, offset });
      injected[decision.fault]++;
    };
    const { fault, atByte } = decision ?? {};
    if (fault === '429' || fault === '503' || fault === '500') {
      strike('proxy');
      record.status = Number(fault);
      return this.answer(record.status, req, framing);
    }

    const sending = new Gate(this.toServer, this.ended.signal, decision, (at) => strike('request body', at));
    if (fault === 'cut-request') sending.cutAt = atByte ?? 1 + schedule.pick(Math.max(1, spanOf(framing) - 1));
    if (fault === 'stall' && hasBody(framing)) sending.stallAt = atByte ?? schedule.pick(spanOf(framing));
    const responseFault = fault === 'cut-response' || (fault === 'stall' && !hasBody(framing)) ? decision : undefined;

    await this.toServer.write(req.raw);
    let requestDone = false;
    // A failed upload ends the connection; the response side then fails too.
    const request = pipeBody(this.clientIn, framing, sending).then(
      () => void (requestDone = true),
      (err: unknown) => this.close(err instanceof Cut && err.rst),
    );
    const keepAlive = await this.forwardResponse(method, responseFault, record, strike);
    // A server that answers before the whole request arrived ends the connection.
    if (!requestDone) return false;
    await request;
    return keepAlive;
  }

  /** Forwards 1xx answers and the final response; false when the response ends the connection. */
  private async forwardResponse(
    method: string,
    decision: Decision | undefined,
    record: RequestRecord,
    strike: (where: RequestRecord['where'], offset: number) => void,
  ): Promise<boolean> {
    for (;;) {
      const res = parseHead(await this.serverIn.need(HEAD_END));
      const status = Number(res.start[1]);
      if (status >= 100 && status < 200) {
        await this.toClient.write(res.raw);
        continue;
      }
      record.status = status;
      const framing = responseFraming(method, status, res.headers);
      const headLength = res.raw.length;
      const body = spanOf(framing);
      const gate = new Gate(this.toClient, this.ended.signal, decision, (at) =>
        at >= headLength ? strike('response body', at - headLength) : strike('response head', at),
      );
      const { schedule } = this.shared;
      if (decision?.fault === 'cut-response') {
        gate.cutAt =
          decision.atByte !== undefined
            ? headLength + decision.atByte
            : body > 0
              ? headLength + schedule.pick(body)
              : schedule.pick(headLength);
      } else if (decision?.fault === 'stall') {
        gate.stallAt = decision.atByte !== undefined ? headLength + decision.atByte : schedule.pick(headLength + body);
      }
      await gate.pass(res.raw);
      await pipeBody(this.serverIn, framing, gate);
      return framing.kind !== 'close' && !/close/i.test(res.headers.connection ?? '');
    }
  }

  /**
   * The proxy's own error answer. A client waiting for 100 Continue gets it at
   * once and the connection closes; otherwise the body is read (and dropped)
   * first, and the connection stays open.
   */
  private async answer(status: number, req: Head, framing: Framing): Promise<boolean> {
    const waitsForContinue = /100-continue/i.test(req.headers.expect ?? '');
    if (!waitsForContinue) await pipeBody(this.clientIn, framing, new Gate(undefined, this.ended.signal, undefined, () => undefined));
    const body = `${status} ${REASONS[status]} (injected by the test's fault proxy)\n`;
    const retryAfter = status === 500 ? '' : `Retry-After: ${this.shared.options.retryAfterSeconds ?? 1}\r\n`;
    await this.toClient.write(
      `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n${retryAfter}` +
        `${waitsForContinue ? 'Connection: close\r\n' : ''}\r\n${req.start[0] === 'HEAD' ? '' : body}`,
    );
    return !waitsForContinue;
  }
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const shared: Shared = {
    target: new URL(options.target),
    options,
    schedule: new Schedule(options),
    injected: Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>,
    requests: [],
    totalUp: new Pacer(options.totalBytesPerSecond),
    totalDown: new Pacer(options.totalBytesPerSecond),
  };
  let accepted = 0;
  const connections = new Set<Connection>();
  const server = net.createServer((client) => {
    accepted++;
    const c = new Connection(shared, client);
    connections.add(c);
    void c.run().finally(() => connections.delete(c));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    injected: shared.injected,
    requests: shared.requests,
    counts() {
      const out: Record<string, number> = {};
      for (const r of shared.requests) out[r.method] = (out[r.method] ?? 0) + 1;
      return out;
    },
    get connections() {
      return accepted;
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.close();
      await closed;
    },
  };
}

/** Runs `fn` with a proxy, and stops the proxy afterwards whatever happens. */
export async function withFaultProxy<T>(options: FaultProxyOptions, fn: (proxy: FaultProxy) => Promise<T>): Promise<T> {
  const proxy = await startFaultProxy(options);
  try {
    return await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

/** The same URL, through the proxy. */
export function through(proxy: FaultProxy, url: string): string {
  const u = new URL(url);
  return proxy.url + url.slice(u.origin.length);
}

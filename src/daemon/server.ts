/**
 * The daemon's HTTP API, WebSocket and status page, on 127.0.0.1 only.
 *
 * Security model (as Syncthing's GUI): every request must name the daemon
 * itself in Host (127.0.0.1:PORT or localhost:PORT; anything else is a DNS
 * rebinding attempt) and, when it has an Origin, come from the daemon's own
 * origin (cross-site requests and cross-site WebSocket hijacking). /api/
 * needs the token (Authorization: Bearer, or ?token= on the WebSocket), or
 * the session cookie a one-time login link sets (HttpOnly, SameSite=Strict);
 * a POST with the cookie also needs the X-Annexd-CSRF header, which a page
 * of another origin cannot send without a CORS preflight this server never
 * answers. Tokens are compared in constant time and never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { errText } from '../util/file-lock.js';
import { DaemonError } from './errors.js';
import type { DaemonEvent, DaemonStatus, Scheduler } from './scheduler.js';
import type { OutsideTransfer } from './outside.js';

export interface DaemonServer {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  broadcast(e: DaemonEvent): void;
  close(): Promise<void>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
/** Equal-length digests, so the comparison takes the same time whatever the guess. */
const sameSecret = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

const LOGIN_TTL_MS = 60_000;
const MAX_BODY = 64 * 1024;

async function pageHtml(): Promise<string> {
  return readFile(new URL('./page.html', import.meta.url), 'utf8');
}

function cookies(req: IncomingMessage): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) m.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return m;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  const v = JSON.parse(text) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the body must be a JSON object');
  return v as Record<string, unknown>;
}

export async function startServer(
  scheduler: Scheduler,
  token: string,
  port: number,
  outside: { list(): OutsideTransfer[] } = { list: () => [] },
): Promise<DaemonServer> {
  const status = (): DaemonStatus => ({ ...scheduler.status(), outside: outside.list() });
  const sessions = new Set<string>();
  const logins = new Map<string, number>();
  let boundPort = port;
  const cookieName = (): string => `annexd_session_${boundPort}`;

  /** The refusal for a request not addressed to this daemon or not from its page; undefined when fine. */
  const refusal = (req: IncomingMessage): string | undefined => {
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${boundPort}` && host !== `localhost:${boundPort}`) return 'Host must be 127.0.0.1 or localhost with the daemon\'s port';
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return 'cross-origin requests are refused';
    return undefined;
  };

  type Auth = 'token' | 'cookie' | undefined;
  const authOf = (req: IncomingMessage, queryToken?: string | null): Auth => {
    const h = req.headers.authorization;
    if (h?.startsWith('Bearer ') && sameSecret(h.slice(7), token)) return 'token';
    if (queryToken && sameSecret(queryToken, token)) return 'token';
    const s = cookies(req).get(cookieName());
    if (s && [...sessions].some((x) => sameSecret(x, s))) return 'cookie';
    return undefined;
  };

  const pathArg = (body: Record<string, unknown>): string | undefined => (typeof body.path === 'string' && body.path ? body.path : undefined);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const bad = refusal(req);
    if (bad) return send(res, 403, { error: bad });
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        // Inline script and style of our own page only; nothing from the network; never framed (clickjacking).
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        'x-frame-options': 'DENY',
      });
      res.end(await pageHtml());
      return;
    }
    const login = /^\/login\/([A-Za-z0-9_-]{20,})$/.exec(url.pathname);
    if (req.method === 'GET' && login) {
      const code = login[1]!;
      const expires = logins.get(code);
      logins.delete(code);
      if (expires === undefined || expires < Date.now()) {
        res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('This login link was used already or has expired: run "annexd status --open" for a new one.\n');
        return;
      }
      const session = randomBytes(32).toString('base64url');
      sessions.add(session);
      res.writeHead(303, { location: '/', 'set-cookie': `${cookieName()}=${session}; HttpOnly; SameSite=Strict; Path=/`, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (!url.pathname.startsWith('/api/')) return send(res, 404, { error: 'not found' });
    const auth = authOf(req);
    if (!auth) return send(res, 401, { error: 'authentication required: Authorization: Bearer TOKEN (see serve.json), or log in with "annexd status --open"' });
    if (req.method === 'POST' && auth === 'cookie' && req.headers['x-annexd-csrf'] !== '1') return send(res, 403, { error: 'missing X-Annexd-CSRF header' });
    let body: Record<string, unknown> = {};
    if (req.method === 'POST') {
      try {
        body = await readJson(req);
      } catch (err) {
        return send(res, 400, { error: errText(err) });
      }
    }
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /api/status':
        return send(res, 200, status());
      case 'POST /api/sync': {
        const path = pathArg(body);
        const queued = scheduler.requestSync(path);
        if (path && !queued) {
          const paused = scheduler.status().syncs.some((e) => e.path === path);
          return send(res, paused ? 409 : 404, { error: paused ? `the syncs of ${path} are paused (resume with "annexd sync resume ${path}")` : `no sync of ${path} (see "annexd sync list")` });
        }
        return send(res, 200, { queued });
      }
      case 'POST /api/pause':
      case 'POST /api/resume': {
        const changed = await scheduler.setPaused(route === 'POST /api/pause', pathArg(body));
        return send(res, 200, { changed });
      }
      case 'POST /api/login': {
        // Only with the token: a logged-in page cannot mint more logins.
        if (auth !== 'token') return send(res, 403, { error: 'login links need the token' });
        const code = randomBytes(24).toString('base64url');
        logins.set(code, Date.now() + LOGIN_TTL_MS);
        return send(res, 200, { url: `http://127.0.0.1:${boundPort}/login/${code}`, expiresInSeconds: LOGIN_TTL_MS / 1000 });
      }
      default:
        return send(res, url.pathname === '/api/ws' ? 400 : 404, { error: url.pathname === '/api/ws' ? 'this is the WebSocket endpoint' : 'not found' });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: errText(err) });
      else res.destroy();
    });
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY });
  const clients = new Set<WebSocket>();
  const reject = (socket: Duplex, status: number, message: string): void => {
    socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`);
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const bad = refusal(req);
    if (bad) return reject(socket, 403, bad);
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    if (url.pathname !== '/api/ws') return reject(socket, 403, 'no WebSocket here');
    if (!authOf(req, url.searchParams.get('token'))) return reject(socket, 401, 'authentication required');
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => clients.delete(ws));
      ws.send(JSON.stringify({ type: 'status', status: status() }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new DaemonError(`port ${port} on 127.0.0.1 is in use (choose another with --port N, or --port 0 for a free one)`) : err),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  boundPort = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${boundPort}`;
  // Drop expired login codes now and then.
  const sweep = setInterval(() => {
    for (const [c, t] of logins) if (t < Date.now()) logins.delete(c);
  }, LOGIN_TTL_MS).unref();

  let statusTimer: NodeJS.Timeout | undefined;
  return {
    url,
    port: boundPort,
    broadcast(e) {
      if (!clients.size) return;
      const text = JSON.stringify(e);
      for (const c of clients) if (c.readyState === c.OPEN) c.send(text);
      // A fresh snapshot follows changes of state (coalesced), so clients need not rebuild it from events.
      if (e.type !== 'progress' && e.type !== 'transfer' && !statusTimer) {
        statusTimer = setTimeout(() => {
          statusTimer = undefined;
          const snap = JSON.stringify({ type: 'status', status: status() });
          for (const c of clients) if (c.readyState === c.OPEN) c.send(snap);
        }, 50);
      }
    },
    async close() {
      clearInterval(sweep);
      clearTimeout(statusTimer);
      for (const c of clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

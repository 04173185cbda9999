/**
 * Web sources for the annexd-http tests, on 127.0.0.1:
 * - lighttpd (a real web server): /files/ public, /private/ behind Basic auth,
 *   redirects (/moved/ → /files/, /hop/ → /moved/, /away/ → the odd server's
 *   /bearer/, a /loop/a ↔ /loop/b loop),
 *   Range served natively.
 * - a small Node server for what no well-behaved server does on purpose:
 *   Bearer tokens, a Content-Length that lies, Content-Disposition names,
 *   HEAD refused (with and without Range honoured), 410 Gone, and a record of
 *   the Authorization headers it got.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { useSandboxWith, type Sandbox } from './annex.js';
import { runLighttpd, type RunningServer } from './servers.js';

export interface WebSources {
  /** lighttpd's base URL, e.g. http://127.0.0.1:PORT */
  web: string;
  /** The odd server's base URL. */
  odd: string;
  /** Directory lighttpd serves at /; files/ and private/ live under it. */
  root: string;
  user: string;
  password: string;
  token: string;
  /** Authorization headers the odd server received, in order. */
  oddAuthorizations: string[];
  /** Puts a file under root (e.g. "files/a.bin") for both servers. */
  put(rel: string, content: Buffer | string): Promise<void>;
  stop(): Promise<void>;
}

async function startWeb(base: string, password: string, oddBase: string): Promise<RunningServer> {
  const www = join(base, 'www');
  await mkdir(join(www, 'files'), { recursive: true });
  await mkdir(join(www, 'private'), { recursive: true });
  await mkdir(join(base, 'logs'), { recursive: true });
  await writeFile(join(base, 'users'), `reader:${password}\n`, { mode: 0o600 });
  const pidFile = join(base, 'lighttpd.pid');
  return runLighttpd(
    base,
    pidFile,
    (port) => `server.modules = ( "mod_redirect", "mod_auth", "mod_authn_file" )
server.document-root = "${www}"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${base}/logs/error.log"
server.pid-file = "${pidFile}"
mimetype.assign = ( "" => "application/octet-stream" )
url.redirect = (
  "^/moved/(.*)$" => "/files/$1",
  "^/hop/(.*)$" => "/moved/$1",
  "^/loop/a$" => "/loop/b",
  "^/loop/b$" => "/loop/a",
  "^/away/(.*)$" => "${oddBase}/bearer/$1",
)
url.redirect-code = 302
auth.backend = "plain"
auth.backend.plain.userfile = "${base}/users"
$HTTP["url"] =~ "^/private/" {
  auth.require = ( "" => ( "method" => "basic", "realm" => "private data", "require" => "valid-user" ) )
}
`,
    '/files/',
  );
}

function startOdd(www: string, token: string, seen: string[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void handleOdd(www, token, seen, req, res).catch(() => res.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    });
  });
}

async function handleOdd(www: string, token: string, seen: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.headers.authorization) seen.push(req.headers.authorization);
  const url = new URL(req.url ?? '/', 'http://x');
  const [, area, ...rest] = url.pathname.split('/');
  const file = join(www, 'files', decodeURIComponent(rest.join('/')));
  const size = async (): Promise<number | undefined> => (await stat(file).catch(() => undefined))?.size;
  const send = async (headers: Record<string, string | number>, announced?: number): Promise<void> => {
    const n = await size();
    if (n === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': announced ?? n, ...headers });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  };
  switch (area) {
    case 'bearer':
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="odd"' }).end();
        return;
      }
      return send({});
    case 'lying': {
      // Announces more than it has, sends what it has, and hangs up.
      const n = (await size()) ?? 0;
      res.writeHead(200, { 'content-length': n + 1000 });
      if (req.method === 'HEAD') return void res.end();
      res.write(await readFile(file), () => res.socket?.destroy());
      return;
    }
    case 'download':
      return send({ 'content-disposition': `attachment; filename="report 2024.csv"; filename*=UTF-8''r%C3%A9sum%C3%A9.csv` });
    case 'nohead':
      if (req.method === 'HEAD') return void res.writeHead(405, { allow: 'GET' }).end();
      if (req.headers.range === 'bytes=0-0') {
        const n = (await size()) ?? 0;
        res.writeHead(206, { 'content-range': `bytes 0-0/${n}`, 'content-length': 1 });
        return void res.end((await readFile(file)).subarray(0, 1));
      }
      return send({});
    case 'nohead-norange':
      // Refuses HEAD and ignores Range: the one-byte probe gets the whole file.
      if (req.method === 'HEAD') return void res.writeHead(405, { allow: 'GET' }).end();
      return send({});
    case 'gone':
      return void res.writeHead(410).end();
    default:
      res.writeHead(404).end();
  }
}

export async function startWebSources(dir: string): Promise<WebSources> {
  const base = join(dir, 'web');
  const password = randomBytes(12).toString('hex');
  const token = randomBytes(16).toString('hex');
  const seen: string[] = [];
  const odd = await startOdd(join(base, 'www'), token, seen);
  const web = await startWeb(base, password, `http://127.0.0.1:${odd.port}`);
  return {
    web: `http://127.0.0.1:${web.port}`,
    odd: `http://127.0.0.1:${odd.port}`,
    root: join(base, 'www'),
    user: 'reader',
    password,
    token,
    oddAuthorizations: seen,
    async put(rel, content) {
      const p = join(base, 'www', rel);
      await mkdir(join(p, '..'), { recursive: true });
      await writeFile(p, content);
    },
    async stop() {
      await web.stop();
      await new Promise<void>((r) => {
        odd.server.closeAllConnections();
        odd.server.close(() => r());
      });
    },
  };
}

export interface WebSuite {
  readonly sandbox: Sandbox;
  readonly sources: WebSources;
}

/** Registers beforeAll/afterAll that give a describe block its own sandbox and servers. */
export function useWebSources(): WebSuite {
  return useSandboxWith('sources', startWebSources);
}

/**
 * The OSF-compatible server for integration tests, in its own process on
 * 127.0.0.1 (dist/demo/osf-server-main.js), with the token passed in the
 * environment; projects made through its API as a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { OsfServerStats, RequestRecord } from '../../src/demo/osf-server.js';
import { initExternalRemote, useSandboxWith, type Sandbox } from './annex.js';
import { REPO_ROOT, requireBuild } from './tools.js';

export interface TestOsf {
  api: string;
  wb: string;
  token: string;
  /** OSF_TOKEN for initremote. */
  credsEnv: NodeJS.ProcessEnv;
  /** A new project through POST nodes/; its id. */
  createNode(title?: string): Promise<string>;
  /** Names at a node's osfstorage root, through the API listing (every page; its URLs spell page[size] unescaped, the remote's escaped). */
  rootNames(node: string): Promise<string[]>;
  /** Every file and folder below a node's osfstorage root, by materialized path without the leading "/" (folders end in "/"). */
  tree(node: string): Promise<string[]>;
  /** Uploads a file as osfclient does (PUT to the folder's upload link with ?name=), into folder `dir` (made when missing). */
  upload(node: string, path: string, content: Buffer | string): Promise<void>;
  /** What the server counted, and every request it saw. */
  stats(): Promise<{ stats: OsfServerStats; requests: RequestRecord[] }>;
  stop(): Promise<void>;
}

/** A file or folder entry of an API listing, as far as the tests read it. */
interface Entry {
  attributes: { kind: string; name: string; materialized_path: string };
  relationships: { files?: { links: { related: { href: string } } } };
  links: { upload?: string; new_folder?: string };
}

export interface OsfServerEnv {
  ANNEXD_OSF_LATENCY_MS?: string;
  ANNEXD_OSF_RATE_LIMIT?: string;
  ANNEXD_OSF_RATE_WINDOW_MS?: string;
  ANNEXD_OSF_THROTTLE_EVERY?: string;
  ANNEXD_OSF_MAX_FILE_SIZE?: string;
  ANNEXD_OSF_QUOTA?: string;
  ANNEXD_OSF_KEEP_CUT_UPLOADS?: string;
  ANNEXD_OSF_REDIRECT_DOWNLOADS?: string;
  /** Basic auth as dev@annexd.invalid with this password. */
  ANNEXD_OSF_PASSWORD?: string;
}

export async function startTestOsf(dataDir: string, serverEnv: OsfServerEnv = {}, token = `osf${randomBytes(24).toString('hex')}`): Promise<TestOsf> {
  requireBuild();
  const child: ChildProcess = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'demo', 'osf-server-main.js'), join(dataDir, 'osf-data')], {
    env: { ...process.env, ...serverEnv, ANNEXD_OSF_TOKEN: token },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const rl: Interface = createInterface({ input: child.stdout! });
  const lines: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  rl.on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  });
  const nextLine = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) return resolve(l);
      waiting.push(resolve);
      child.once('exit', (code) => reject(new Error(`the OSF test server exited (code ${code})`)));
    });
  const info = JSON.parse(await nextLine()) as { api: string; wb: string; token: string };
  const headers = { authorization: `Bearer ${info.token}` };
  // The tests' own requests obey the server's rate limit too: wait out a 429.
  const fetchOk = async (url: string, init: RequestInit = {}): Promise<Response> => {
    for (;;) {
      const r = await fetch(url, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } });
      if (r.status !== 429) return r;
      await r.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, Number(r.headers.get('retry-after') ?? '1') * 1000));
    }
  };
  return {
    api: info.api,
    wb: info.wb,
    token: info.token,
    credsEnv: { OSF_TOKEN: info.token },
    async createNode(title = 'annexd test') {
      const r = await fetchOk(`${info.api}nodes/`, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.api+json' },
        body: JSON.stringify({ data: { type: 'nodes', attributes: { title, category: 'data' } } }),
      });
      if (r.status !== 201) throw new Error(`creating a node answered HTTP ${r.status}`);
      return ((await r.json()) as { data: { id: string } }).data.id;
    },
    async rootNames(node) {
      const names: string[] = [];
      for (let next: string | null = `${info.api}nodes/${node}/files/osfstorage/?page[size]=100`; next; ) {
        const r = await fetchOk(next);
        const j = (await r.json()) as { data: Array<{ attributes: { name: string } }>; links: { next: string | null } };
        names.push(...j.data.map((e) => e.attributes.name));
        next = j.links.next;
      }
      return names.sort();
    },
    async tree(node) {
      const out: string[] = [];
      const walk = async (url: string): Promise<void> => {
        for (let next: string | null = url; next; ) {
          const j = (await (await fetchOk(next)).json()) as { data: Entry[]; links: { next: string | null } };
          for (const e of j.data) {
            out.push(e.attributes.materialized_path.slice(1));
            if (e.attributes.kind === 'folder') await walk(e.relationships.files!.links.related.href);
          }
          next = j.links.next;
        }
      };
      await walk(`${info.api}nodes/${node}/files/osfstorage/`);
      return out.sort();
    },
    async upload(node, path, content) {
      const providers = (await (await fetchOk(`${info.api}nodes/${node}/files/`)).json()) as { data: Entry[] };
      const root = providers.data[0]!;
      let links = { upload: root.links.upload!, new_folder: root.links.new_folder! };
      let list = root.relationships.files!.links.related.href;
      const parts = path.split('/');
      for (const dir of parts.slice(0, -1)) {
        // An existing folder (409) is found in its parent's listing, as osfclient does.
        const made = await fetchOk(`${links.new_folder}&name=${encodeURIComponent(dir)}`, { method: 'PUT' });
        if (made.status !== 201 && made.status !== 409) throw new Error(`making folder ${dir} answered HTTP ${made.status}`);
        await made.arrayBuffer();
        const listing = (await (await fetchOk(list)).json()) as { data: Entry[] };
        const entry = listing.data.find((e) => e.attributes.kind === 'folder' && e.attributes.name === dir)!;
        links = { upload: entry.links.upload!, new_folder: entry.links.new_folder! };
        list = entry.relationships.files!.links.related.href;
      }
      const r = await fetchOk(`${links.upload}?kind=file&name=${encodeURIComponent(parts.at(-1)!)}`, { method: 'PUT', body: content });
      if (r.status !== 201) throw new Error(`uploading ${path} answered HTTP ${r.status}`);
    },
    async stats() {
      child.stdin!.write('stats\n');
      return JSON.parse(await nextLine()) as { stats: OsfServerStats; requests: RequestRecord[] };
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `git annex initremote NAME type=external externaltype=annexd-osf api=… node=…` with the server's token. */
export async function initOsfRemote(
  repo: { okEnv(env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<unknown> },
  osf: TestOsf,
  name: string,
  params: string[] = [],
  node?: string,
): Promise<string> {
  const id = node ?? (await osf.createNode(name));
  await initExternalRemote(repo, 'annexd-osf', name, [`api=${osf.api}`, `node=${id}`, ...params], osf.credsEnv);
  return id;
}

export interface OsfSuite {
  readonly sandbox: Sandbox;
  readonly osf: TestOsf;
}

export function useOsfSuite(serverEnv: OsfServerEnv = {}): OsfSuite {
  return useSandboxWith('osf', (dir) => startTestOsf(dir, serverEnv));
}

/**
 * A real, private Secret Service for keyring tests: a fresh D-Bus session
 * (dbus-run-session) with gnome-keyring unlocked by a random password and a
 * throw-away HOME and XDG_RUNTIME_DIR, so a test never touches the user's own
 * keyring, even on a desktop. Code under test runs as node scripts inside the
 * session and imports the built modules from dist/.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, requireTool } from './tools.js';

const INSTALL = 'apt-get install -y gnome-keyring dbus-user-session libsecret-tools';

export interface SessionResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KeyringSessionOptions {
  /** Keep the keyring in this HOME (e.g. to inspect it, or to reopen it); default a fresh one, removed afterwards. */
  home?: string;
  /** Unlock password; reopening a HOME's keyring needs the same one. Default random. */
  password?: string;
  /** false: no daemon is started beforehand; D-Bus activates gnome-keyring on demand, with no unlocked keyring. */
  unlock?: boolean;
  timeoutMs?: number;
}

export function requireKeyringTools(): void {
  for (const tool of ['dbus-run-session', 'dbus-send', 'gnome-keyring-daemon', 'secret-tool']) requireTool(tool, INSTALL);
}

const BUILT = ['keyring-store', 'datalad', 'model', 'names'];

/** Throws unless dist/ holds the credential modules, built from the current sources. */
export function requireCredentialsBuild(): void {
  for (const m of BUILT) {
    const js = join(REPO_ROOT, 'dist', 'credentials', `${m}.js`);
    const ts = join(REPO_ROOT, 'src', 'credentials', `${m}.ts`);
    if (!existsSync(js)) throw new Error(`dist/credentials/${m}.js is missing: run "npm run build" first (npm test does it)`);
    if (statSync(js).mtimeMs < statSync(ts).mtimeMs) {
      throw new Error(`dist/credentials/${m}.js is older than its source: run "npm run build" first (npm test does it)`);
    }
  }
}

/** file: URL of a built credentials module, for import() in a session script. */
export function distModule(name: 'keyring-store' | 'datalad'): string {
  return pathToFileURL(join(REPO_ROOT, 'dist', 'credentials', `${name}.js`)).href;
}

/** A minimal environment: nothing from the caller's desktop session (bus, keyring control, display) leaks in. */
function baseEnv(home: string, runtime: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    GIT_CONFIG_NOSYSTEM: '1',
  };
}

// gnome-keyring-daemon --unlock returns before it owns org.freedesktop.secrets;
// a fast first client then D-Bus-activates a second daemon that can outlive
// the session. Wait for the name (NameHasOwner does not activate anything).
const WAIT_FOR_SERVICE = `i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \\
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; do
  i=$((i+1)); if [ "$i" -gt 200 ]; then echo 'gnome-keyring-daemon did not appear on the session bus' >&2; exit 97; fi
  sleep 0.05
done`;

/** Runs `script` (sh) inside a fresh D-Bus session with an unlocked gnome-keyring. */
export async function runInKeyringSession(
  script: string,
  env: NodeJS.ProcessEnv = {},
  options: KeyringSessionOptions = {},
): Promise<SessionResult> {
  requireKeyringTools();
  const scratch = await mkdtemp(join(tmpdir(), 'annexd-keyring-'));
  const home = options.home ?? join(scratch, 'home');
  const runtime = join(scratch, 'run');
  await mkdir(home, { recursive: true });
  await mkdir(runtime, { mode: 0o700 });
  const password = options.password ?? randomBytes(12).toString('hex');
  const prologue =
    options.unlock === false
      ? ''
      : `printf '%s\\n' "$ANNEXD_TEST_KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 96
${WAIT_FOR_SERVICE}
`;
  const wrapped = `${prologue}unset ANNEXD_TEST_KEYRING_PASSWORD\n${script}`;
  try {
    return await runDetached('dbus-run-session', ['--', 'sh', '-c', wrapped], {
      ...baseEnv(home, runtime),
      ...env,
      ANNEXD_TEST_KEYRING_PASSWORD: password,
    }, home, options.timeoutMs ?? 60_000);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Runs `script` (sh) with no D-Bus session bus at all, in a fresh HOME. */
export async function runWithoutBus(script: string, env: NodeJS.ProcessEnv = {}): Promise<SessionResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'annexd-nobus-'));
  try {
    await mkdir(join(scratch, 'home'));
    await mkdir(join(scratch, 'run'), { mode: 0o700 });
    return await runDetached('sh', ['-c', script], { ...baseEnv(join(scratch, 'home'), join(scratch, 'run')), ...env }, scratch, 60_000);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * In its own process group, so that anything the session left behind (a
 * daemon holding our pipes) is ended with it; resolves on exit, not on the
 * pipes closing.
 */
function runDetached(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, timeoutMs: number): Promise<SessionResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killGroup = (): void => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // ESRCH: nothing left in the group.
      }
    };
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`${cmd} did not finish within ${timeoutMs / 1000} s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Let buffered output arrive, then stop waiting for stragglers' pipes.
      setTimeout(() => {
        killGroup();
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      }, 100);
    });
  });
}

/**
 * Writes an ES module that runs `body` (top-level await allowed) and prints
 * its JSON result as the last stdout line, or {error: {name, message}}.
 * Returns the shell command that runs it.
 */
export async function nodeScript(dir: string, body: string): Promise<string> {
  const file = join(dir, `script-${randomBytes(4).toString('hex')}.mjs`);
  await writeFile(
    file,
    `const run = async () => {\n${body}\n};\n` +
      `run().then((r) => console.log(JSON.stringify({ result: r ?? null })), ` +
      `(e) => console.log(JSON.stringify({ error: { name: e?.name, message: e?.message } })));\n`,
  );
  return `node ${JSON.stringify(file)}`;
}

/** The last JSON line a nodeScript printed; throws with the session's output when there is none. */
export function lastJson<T = unknown>(r: SessionResult): { result?: T; error?: { name: string; message: string } } {
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`no JSON result (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(line) as { result?: T; error?: { name: string; message: string } };
}

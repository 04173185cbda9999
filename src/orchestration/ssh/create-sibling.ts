/**
 * `annexd create-sibling [user@]host:path`: a bare repository on an SSH host,
 * initialised for git-annex so it can hold annexed content, and the git
 * sibling that points at it (written through the siblings API, DataLad's
 * keys). Like `datalad create-sibling` (create_sibling.py) for the
 * single-dataset case: the name defaults to the host, --existing is
 * error|skip|reconfigure with DataLad's messages, the repository's HEAD
 * names the local branch. Unlike it, the repository is bare (nobody works
 * in a publication target), and a target that is not a git repository is
 * never reconfigured into one.
 *
 * Nothing is created on the host before its key is verified and the login
 * has worked; a creation that fails half-way is removed again.
 */
import { OrchestrationError } from '../errors.js';
import { git, gitOk, GitConfig } from '../git.js';
import { addSibling, configureSibling, type SiblingSettings } from '../siblings.js';
import { SshConnection, type CommandResult, type ConnectOptions } from './connection.js';
import { SshError } from './errors.js';
import { shPath, shQuote } from './quote.js';
import { parseSshTarget } from './target.js';

export type Existing = 'error' | 'skip' | 'reconfigure';
export const EXISTING: readonly Existing[] = ['error', 'skip', 'reconfigure'];

export interface CreateSiblingOptions extends ConnectOptions {
  /** The dataset (a git repository) the sibling is for. */
  dataset: string;
  /** `[user@]host:path` or `ssh://[user@]host[:port]/path`. */
  target: string;
  /** Sibling name; default the host, as DataLad. */
  name?: string;
  existing?: Existing;
  /** git-annex description of the new repository (default git-annex's user@host:path). */
  description?: string;
  /** Passed on to the sibling: publication dependencies, preferred content. */
  publishDepends?: string[];
  annexWanted?: string;
  signal?: AbortSignal;
  /** Told each step as it starts ("connecting to …"), for a status line on a terminal. */
  onStep?: (step: string) => void;
}

/** The result record, with DataLad's field names where it has them. */
export interface CreateSiblingRecord {
  action: 'create-sibling';
  status: 'ok' | 'notneeded' | 'error';
  path: string;
  /** The dataset the command ran on (DataLad's refds; here always `path`). */
  refds: string;
  type: 'dataset';
  sibling_name: string;
  url: string;
  /** What happened on the host: created, reconfigured, skipped, refused. */
  operation: 'created' | 'reconfigured' | 'skipped' | 'refused';
  /** ssh destination as connected to, e.g. "root@127.0.0.1 port 2222". */
  host?: string;
  /** The repository's path on the host, as given. */
  target_path: string;
  /** git-annex UUID of the repository on the host. */
  annex_uuid?: string;
  /** Whether git's own ssh reached the sibling afterwards (git ls-remote). */
  git_reachable?: boolean;
  message: string;
}

/** What is at the path on the host. */
interface Probe {
  git: boolean;
  annexVersion: string | undefined;
  state: 'absent' | 'empty' | 'bare' | 'worktree' | 'file' | 'other' | 'unreadable';
  uuid: string | undefined;
}

// Scripts go to `sh -s` on stdin, so the user's login shell (fish, csh, …) never parses them.
const probeScript = (p: string): string => `p=${p}
if command -v git >/dev/null 2>&1; then echo git=yes; else echo git=no; fi
if command -v git-annex-shell >/dev/null 2>&1 && v=$(git annex version --raw 2>/dev/null); then echo "annex=$v"; else echo annex=; fi
if [ -d "$p" ]; then
  if ! ls -A -- "$p" >/dev/null 2>&1; then echo state=unreadable
  elif [ -z "$(ls -A -- "$p")" ]; then echo state=empty
  elif [ "$(git --git-dir="$p" rev-parse --is-bare-repository 2>/dev/null)" = true ]; then echo state=bare; echo "uuid=$(git --git-dir="$p" config annex.uuid)"
  elif [ -e "$p/.git" ]; then echo state=worktree; echo "uuid=$(git -C "$p" config annex.uuid)"
  else echo state=other; fi
elif [ -e "$p" ] || [ -L "$p" ]; then echo state=file
else echo state=absent; fi
`;

function parseProbe(r: CommandResult): Probe {
  const v = new Map(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const state = v.get('state') as Probe['state'] | undefined;
  if (r.code !== 0 || !state) throw new SshError(`cannot inspect the target on the host: ${(r.stderr.trim().split('\n')[0] ?? '') || `sh exited with code ${r.code}`}`);
  return { git: v.get('git') === 'yes', annexVersion: v.get('annex') || undefined, state, uuid: v.get('uuid') || undefined };
}

/**
 * `git init --bare` + `git annex init` + HEAD; on failure, what was made is
 * removed again: the new directory and any parents mkdir -p made for it, or
 * only the contents of a directory that was there empty.
 */
const createScript = (p: string, branch: string | undefined, description: string | undefined, fresh: boolean): string => `set -e
p=${p}
top=$p
while [ ! -e "$(dirname -- "$top")" ]; do top=$(dirname -- "$top"); done
cleanup() { ${fresh ? 'rm -rf -- "$top"' : 'find "$p" -mindepth 1 -delete'}; }
trap 'cleanup' EXIT
mkdir -p -- "$p"
git init --bare --quiet -- "$p"
cd -- "$p"
git annex init --quiet${description ? ` ${shQuote(description)}` : ''} >&2
${branch ? `git symbolic-ref HEAD ${shQuote(`refs/heads/${branch}`)}` : ''}
echo "uuid=$(git config annex.uuid)"
trap - EXIT
`;

/** git annex init in an existing repository (bare, or a work tree: run at its top). */
const annexInitScript = (p: string): string => `set -e
cd -- ${p}
git annex init --quiet >&2
echo "uuid=$(git config annex.uuid)"
`;

/** The branch the sibling's HEAD should name: the current one (an adjusted branch's original). */
async function currentBranch(ds: string): Promise<string | undefined> {
  const r = await git(ds, ['symbolic-ref', '--short', '-q', 'HEAD']);
  const b = r.code === 0 ? r.stdout.trim() : '';
  if (!b) return undefined;
  return /^adjusted\/(.+)\([^)]*\)$/.exec(b)?.[1] ?? b;
}

const uuidOf = (r: CommandResult): string | undefined => /^uuid=(.+)$/m.exec(r.stdout)?.[1]?.trim() || undefined;
const firstLine = (r: CommandResult): string => r.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exited with code ${r.code}`;

export async function createSshSibling(options: CreateSiblingOptions): Promise<CreateSiblingRecord> {
  // The dataset is the repository around the given directory (as DataLad finds it from a subdirectory).
  const top = await git(options.dataset, ['rev-parse', '--show-toplevel']);
  const ds = top.code === 0 && top.stdout.trim() ? top.stdout.trim() : options.dataset;
  const existing = options.existing ?? 'error';
  const target = parseSshTarget(options.target);
  const name = options.name ?? target.host;
  const config = await GitConfig.read(ds, options.signal).catch(() => {
    throw new OrchestrationError(`${ds} is not a dataset (not a git repository): run create-sibling inside one`);
  });
  const record = (status: CreateSiblingRecord['status'], operation: CreateSiblingRecord['operation'], message: string, extra: Partial<CreateSiblingRecord> = {}): CreateSiblingRecord => ({
    action: 'create-sibling',
    status,
    path: ds,
    refds: ds,
    type: 'dataset',
    sibling_name: name,
    url: target.url,
    operation,
    target_path: target.path,
    ...extra,
    message,
  });

  // Local checks first: nothing is asked of the host when the answer is already known here.
  const known = config.remoteNames();
  const unknownDeps = (options.publishDepends ?? []).flatMap((d) => d.split(/\s+/)).filter((d) => d && !known.includes(d));
  if (unknownDeps.length) {
    throw new OrchestrationError(`unknown sibling(s) specified as publication dependency: ${unknownDeps.join(', ')} (known: ${known.join(', ') || 'none'})`);
  }
  if (known.includes(name) && existing !== 'reconfigure') {
    // DataLad's wording (create_sibling.py).
    const message = `sibling '${name}' already configured (specify alternative name, or force reconfiguration via --existing)`;
    return record(existing === 'error' ? 'error' : 'notneeded', existing === 'error' ? 'refused' : 'skipped', message);
  }

  const step = options.onStep ?? ((): void => undefined);
  step(`connecting to ${target.host}`);
  const connection = await SshConnection.open(target, options);
  try {
    const where = connection.where;
    const p = shPath(target.path);
    step(`looking at ${target.path} on ${where}`);
    const probe = parseProbe(await connection.run('sh -s', probeScript(p)));
    if (!probe.git) throw new SshError(`git is not installed on ${where} (not on the PATH of its ssh sessions): it is required on the remote machine to create a sibling`);
    if (!probe.annexVersion) {
      throw new SshError(`git-annex is not installed on ${where} (git-annex-shell is not on the PATH of its ssh sessions): it is required on the remote machine to create a sibling`);
    }
    let uuid: string | undefined;
    let operation: CreateSiblingRecord['operation'];
    if (probe.state === 'absent' || probe.state === 'empty') {
      step(`creating ${target.path} on ${where}`);
      const r = await connection.run('sh -s', createScript(p, await currentBranch(ds), options.description, probe.state === 'absent'));
      if (r.code !== 0) throw new SshError(`cannot create the repository ${target.path} on ${where}: ${firstLine(r)}; nothing was left there`);
      uuid = uuidOf(r);
      operation = 'created';
    } else {
      const exists = `Target path ${target.path} already exists.`;
      if (existing === 'error') {
        return record('error', 'refused', `${exists} (on ${where}; --existing skip leaves it, --existing reconfigure makes it this sibling if it is a git repository)`, { host: where });
      }
      if (existing === 'skip') return record('notneeded', 'skipped', `${exists} Skipping`, { host: where });
      if (probe.state !== 'bare' && probe.state !== 'worktree') {
        const what = probe.state === 'file' ? 'a file' : probe.state === 'unreadable' ? 'a directory this user cannot read' : 'a directory with other files';
        return record('error', 'refused', `${exists} It is ${what}, not a git repository: nothing was changed on ${where}, and no sibling was configured`, { host: where });
      }
      uuid = probe.uuid;
      if (!uuid) {
        // A git repository that git-annex never set up cannot hold content: initialise it, change nothing else.
        const r = await connection.run('sh -s', annexInitScript(p));
        if (r.code !== 0) throw new SshError(`cannot initialise git-annex in ${target.path} on ${where}: ${firstLine(r)}`);
        uuid = uuidOf(r);
      }
      operation = 'reconfigured';
    }

    step(`configuring the sibling ${name}`);
    const settings: SiblingSettings = { signal: options.signal };
    if (options.publishDepends) settings.publishDepends = options.publishDepends;
    if (options.annexWanted !== undefined) settings.annexWanted = options.annexWanted;
    try {
      if (known.includes(name)) await configureSibling(ds, { ...settings, name, url: target.url });
      else await addSibling(ds, { ...settings, name, url: target.url });
    } catch (err) {
      // The repository on the host stays (it may already be someone's): say how to finish.
      const made = operation === 'created' ? `${target.path} was created on ${where}, but ` : '';
      throw new OrchestrationError(`${made}configuring the sibling ${name} failed: ${(err as Error).message}${operation === 'created' ? '; after fixing that, run again with --existing reconfigure' : ''}`);
    }
    await recordUuid(ds, name, uuid, config.bool(`remote.${name}.annex-ignore`));
    const problem = await gitReachProblem(ds, name);
    const done = operation === 'created' ? `created ${target.path} on ${where} (bare, git-annex ${uuid ?? 'uuid unknown'})` : `reconfigured sibling for the existing repository ${target.path} on ${where}`;
    // git and git-annex use OpenSSH's ssh from here on: say so when it cannot log in where we could.
    const port = connection.host.port === 22 ? '' : `-p ${connection.host.port} `;
    const warning = problem
      ? `; but git's ssh cannot reach it yet (${problem}): make "ssh ${port}${connection.host.user}@${connection.host.host} true" work (known_hosts, IdentityFile or ssh-agent) before git push or git annex copy`
      : '';
    return record('ok', operation, `${done}${warning}`, { host: where, ...(uuid ? { annex_uuid: uuid } : {}), git_reachable: !problem });
  } finally {
    connection.close();
  }
}

/**
 * git-annex learns a git remote's UUID by asking the host with its own ssh
 * (enableremote, or the first copy); when that failed, it marked the remote
 * annex-ignore. We know the UUID from the host itself: record it, and undo
 * an annex-ignore that only came from that failed probe.
 */
async function recordUuid(ds: string, name: string, uuid: string | undefined, ignoredBefore: boolean): Promise<void> {
  if (!uuid) return;
  const config = await GitConfig.read(ds);
  if (config.get(`remote.${name}.annex-uuid`) !== uuid) await gitOk(ds, ['config', '--local', `remote.${name}.annex-uuid`, uuid]);
  if (config.bool(`remote.${name}.annex-ignore`) && !ignoredBefore) await git(ds, ['config', '--local', '--unset-all', `remote.${name}.annex-ignore`]);
}

/**
 * Whether git (and so git-annex) can reach the sibling with the user's own
 * ssh, as the next git push will: one `git ls-remote`, never interactive
 * (BatchMode, unless the user chose an ssh command of their own). The
 * reason when not, e.g. "Host key verification failed.".
 */
async function gitReachProblem(ds: string, name: string): Promise<string | undefined> {
  const own = process.env.GIT_SSH_COMMAND || process.env.GIT_SSH || (await git(ds, ['config', 'core.sshCommand'])).stdout.trim();
  const r = await git(ds, [...(own ? [] : ['-c', 'core.sshCommand=ssh -o BatchMode=yes']), 'ls-remote', '--heads', '--', name]);
  if (r.code === 0) return undefined;
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => !/^fatal: Could not read from remote|^Please make sure you have|^and the repository exists/.test(l)) ?? `git ls-remote exited with code ${r.code}`;
}

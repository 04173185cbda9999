import { CredentialStore } from '../../credentials/store.js';
import { CredentialError, type StoreKind } from '../../credentials/model.js';
import { checkProp, envVarName } from '../../credentials/names.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';

const HELP = `Usage:
  annexd credentials set NAME [PROP=VALUE ...] [--store keyring|file] [--no-check]
  annexd credentials get NAME [--show-secret] [--json]
  annexd credentials list [--json]
  annexd credentials remove NAME

A credential has a name, one secret and plain properties (type, user, key_id,
realm, ...). The secret is read from a prompt that does not echo, or from
standard input when that is not a terminal; it is never taken from the
command line, where other users could see it.

Stores:
  keyring   the system keyring (Secret Service on Linux, Keychain on macOS,
            Credential Manager on Windows). Never a non-persistent fallback.
  file      $XDG_CONFIG_HOME/annexd/secrets.json (else ~/.config/annexd),
            owner-only; encrypted when ANNEXD_CREDENTIALS_PASSPHRASE is set.
  Without --store: the keyring when one is reachable, else the file; set says
  which it used and why.

Environment overrides: ANNEXD_CREDENTIAL_<NAME>_<PROP> and
ANNEXD_CREDENTIAL_<NAME>_SECRET (NAME and PROP uppercased, other characters
as _) take precedence over the store, or define a credential outright.

An OSF credential (type=osf; a token, or user=EMAIL with the password) is
checked with OSF first, as datalad osf-credentials does: GET users/me/ at
api=URL (default https://api.osf.io/v2/), and set says whose it is. A
credential OSF refuses is not stored; --no-check stores it without asking.

Remotes use a credential with credential=NAME, e.g. for S3:
  printf %s "$SECRET_KEY" | annexd credentials set mys3 key_id=AKIA...
  git annex enableremote REMOTE credential=mys3

list shows credentials defined only by environment variables too (store
"environment"); remove cannot remove those: unset the variables.

Exit codes: 0 done, 1 failed (including "no such credential"), 2 usage error.
With --json, a failure also prints {"error": MESSAGE, "exitCode": N} on stdout.
`;

/** Reads the secret: hidden prompt on a terminal, else all of stdin (one trailing newline dropped). */
async function readSecret(name: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let data = '';
    stdin.setEncoding('utf8');
    for await (const chunk of stdin) data += chunk as string;
    return data.replace(/\r?\n$/, '');
  }
  process.stderr.write(`Secret for ${name} (not shown): `);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (chunk: string): void => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            resolve(typed);
            return;
          }
          if (ch === '\u0003' || ch === '\u0004') {
            stdin.off('data', onData);
            reject(new CredentialError('cancelled: nothing stored'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

function parseProps(args: string[]): Record<string, string> {
  const props: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected PROP=VALUE, got "${a.slice(0, 40)}"`);
    const prop = a.slice(0, eq);
    if (prop === 'secret') {
      throw new UsageError('the secret is not taken from the command line (other users can see it there): it is read from the prompt or stdin');
    }
    props[checkProp(prop)] = a.slice(eq + 1);
  }
  return props;
}

function storeKind(value: string | undefined): StoreKind | undefined {
  if (value === undefined) return undefined;
  if (value === 'keyring' || value === 'file') return value;
  throw new UsageError(`--store must be keyring or file, not "${value}"`);
}

/** Asks OSF (props.api, else osf.io) whose credential this is; loaded only for type=osf. */
async function checkOsf(secret: string, props: Record<string, string>): Promise<string> {
  const { osfIdentity } = await import('../../remotes/osf/identity.js');
  return osfIdentity({ user: props.user ?? '', secret, origin: 'store', source: 'the credential being stored' }, props.api);
}

/** The options each action takes; any other is a usage error rather than silently ignored. */
const ACTION_OPTIONS: Record<string, string[]> = {
  set: ['store', 'json', 'no-check'],
  get: ['show-secret', 'json'],
  list: ['json'],
  remove: ['json'],
};

export const credentialsCommand: Command = {
  name: 'credentials',
  summary: 'store, show, list and remove the credentials remotes use',
  help: HELP,
  async run(args) {
    const parsed = parseCommandLine(args, {
      store: { type: 'string' },
      json: { type: 'boolean', default: false },
      'show-secret': { type: 'boolean', default: false },
      'no-check': { type: 'boolean', default: false },
    });
    const { values, positionals, tokens } = parsed;
    const [action, name, ...rest] = positionals;
    const allowed = action === undefined ? undefined : ACTION_OPTIONS[action];
    for (const t of tokens) {
      if (allowed && t.kind === 'option' && !allowed.includes(t.name)) {
        throw new UsageError(`--${t.name} does not apply to credentials ${action} (it takes ${allowed.map((o) => `--${o}`).join(', ')})`);
      }
    }
    const store = new CredentialStore();
    const needName = (): string => {
      if (!name) throw new UsageError(`credentials ${action} needs a NAME`);
      return name;
    };
    switch (action) {
      case 'set': {
        const n = needName();
        const props = parseProps(rest);
        const kind = storeKind(values.store);
        const secret = await readSecret(n);
        if (!secret) throw new CredentialError('empty secret: nothing stored');
        // An OSF credential is checked with OSF first, as datalad osf-credentials does.
        const osfUser = props.type === 'osf' && !values['no-check'] ? await checkOsf(secret, props) : undefined;
        const r = await store.set(n, secret, props, { store: kind });
        if (values.json) out(JSON.stringify({ name: n, store: r.store, where: r.where, ...(osfUser ? { osfUser } : {}) }));
        else {
          out(`stored credential "${n}" in ${r.where}${r.why ? `; chosen because ${r.why}` : ''}`);
          if (osfUser) out(`OSF authenticated it as ${osfUser}`);
        }
        return 0;
      }
      case 'get': {
        const n = needName();
        if (rest.length) throw new UsageError('credentials get takes one NAME');
        const c = await store.get(n);
        if (!c) throw new CredentialError(`no credential named "${n}" (annexd credentials list shows them)`);
        if (values.json) {
          const { secret, ...info } = c;
          out(JSON.stringify(values['show-secret'] ? { ...info, secret } : info));
        } else {
          const lines = [`name: ${c.name}`, `store: ${c.store}`, ...Object.entries(c.props).map(([k, v]) => `${k}: ${v}`)];
          if (c.updated) lines.push(`updated: ${c.updated}`);
          lines.push(values['show-secret'] ? `secret: ${c.secret}` : 'secret: (hidden; --show-secret prints it)');
          out(lines.join('\n'));
        }
        return 0;
      }
      case 'list': {
        if (name) throw new UsageError('credentials list takes no NAME');
        const all = await store.list();
        if (values.json) {
          out(JSON.stringify(all));
        } else if (!all.length) {
          out(`no credentials stored (in ${store.dir})`);
        } else {
          const width = Math.max(4, ...all.map((c) => c.name.length));
          const storeWidth = Math.max(5, ...all.map((c) => c.store.length));
          out(`${'NAME'.padEnd(width)}  ${'STORE'.padEnd(storeWidth)}  PROPERTIES`);
          for (const c of all) {
            const props = Object.entries(c.props).map(([k, v]) => `${k}=${v}`).join(' ');
            out(`${c.name.padEnd(width)}  ${c.store.padEnd(storeWidth)}  ${props}`.trimEnd());
          }
        }
        return 0;
      }
      case 'remove': {
        const n = needName();
        if (rest.length) throw new UsageError('credentials remove takes one NAME');
        if (!(await store.remove(n))) {
          if ((await store.get(n))?.store === 'environment') {
            throw new CredentialError(`credential "${n}" is defined only by environment variables (${envVarName(n, '')}*): unset them to remove it`);
          }
          throw new CredentialError(`no credential named "${n}" (annexd credentials list shows them)`);
        }
        if (values.json) out(JSON.stringify({ name: n, removed: true }));
        else out(`removed credential "${n}"`);
        return 0;
      }
      case undefined:
        throw new UsageError('credentials needs an action: set, get, list or remove');
      default:
        throw new UsageError(`unknown credentials action "${action}" (set, get, list, remove)`);
    }
  },
};

/**
 * DataLad's credentials, read the way datalad-next's CredentialManager.get()
 * reads them (credman/manager.py), never prompting and never writing:
 *
 * - properties: config items datalad.credential.<name>.<prop>, i.e. git config
 *   (every scope git sees from `cwd`), DATALAD_CONFIG_OVERRIDES_JSON, and
 *   DATALAD_* environment variables mapped as DataLad maps them ("__" → "-",
 *   "_" → ".", lowercased: DATALAD_CREDENTIAL_MY__S3_SECRET is
 *   datalad.credential.my-s3.secret);
 * - secret: the "secret" config item, else the keyring item service
 *   "datalad-<name>" account "secret", else the type's secret field (legacy:
 *   password, token, secret_id) as a property or keyring item;
 * - a keyring item is first looked for in DATALAD_<name>_<field> ("-" → "_",
 *   case kept), as datalad/support/keyring_.py does;
 * - with a type hint, the legacy (DataLad core < 0.18) non-secret fields
 *   (user, key_id, …) are read from the keyring too, renamed "_" → "-" as
 *   datalad-next does (key_id → key-id); config properties win over them.
 */
import { readKeyringSecret } from './keyring-store.js';
import { CredentialError } from './model.js';
import { exec } from '../util/exec.js';

export interface DataladCredential {
  /** Plain properties (type, user, realm, key-id, last-used, …); never the secret. */
  props: Record<string, string>;
  secret: string;
  /** Where the secret came from, e.g. `DataLad credential "gin" (secret from environment DATALAD_CREDENTIAL_GIN_SECRET)`. */
  source: string;
}

export interface DataladLookupOptions {
  /** Directory whose git config counts (repository scope); default the process's. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A DataLad credential type (aws-s3, user_password, token, s3, git) for legacy keyring fields. */
  typeHint?: string;
}

/** DataLad's credential types: all fields, and which one is the secret (datalad/downloaders/credentials.py, manager.py). */
const TYPES: Record<string, { fields: string[]; secret: string }> = {
  user_password: { fields: ['user', 'password'], secret: 'password' },
  git: { fields: ['user', 'password'], secret: 'password' },
  token: { fields: ['token'], secret: 'token' },
  'aws-s3': { fields: ['key_id', 'secret_id', 'session', 'expiration'], secret: 'secret_id' },
  s3: { fields: ['key', 'secret'], secret: 'secret' },
};

interface Found {
  value: string;
  where: string;
}

/** ERE metacharacters; git config --get-regexp uses POSIX extended regexps. */
function escapeRegExp(s: string): string {
  return s.replace(/[.^$*+?()[\]{}|\\]/g, '\\$&');
}

/**
 * The credential's config items by property. A property has no dot, which
 * keeps "a.b" from picking up the items of a credential named "a.b.c".
 */
async function configProps(name: string, cwd: string | undefined, env: NodeJS.ProcessEnv): Promise<Map<string, Found>> {
  const prefix = `datalad.credential.${name}.`;
  const props = new Map<string, Found>();
  const take = (key: string, value: unknown, where: string): void => {
    if (!key.startsWith(prefix) || typeof value !== 'string') return;
    const prop = key.slice(prefix.length);
    if (prop && !prop.includes('.')) props.set(prop, { value, where });
  };

  const r = await exec('git', ['config', '-z', '--get-regexp', `^${escapeRegExp(prefix)}[^.]+$`], { cwd, env });
  // 1: nothing matched.
  if (r.code !== 0 && r.code !== 1) {
    throw new CredentialError(`cannot read DataLad credential "${name}" from git config: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  }
  for (const entry of r.stdout.split('\0')) {
    const nl = entry.indexOf('\n');
    // A key without "=value" is a boolean, not a property value.
    if (nl > 0) take(entry.slice(0, nl), entry.slice(nl + 1), `git config ${entry.slice(0, nl)}`);
  }

  // Environment wins over git config, as in DataLad's ConfigManager.
  const overrides = env.DATALAD_CONFIG_OVERRIDES_JSON;
  if (overrides) {
    try {
      const parsed: unknown = JSON.parse(overrides);
      if (parsed && typeof parsed === 'object') {
        for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
          take(k, Array.isArray(v) ? v[v.length - 1] : v, `DATALAD_CONFIG_OVERRIDES_JSON (${k})`);
        }
      }
    } catch {
      // DataLad ignores a malformed value (with a warning); so do we.
    }
  }
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('DATALAD_')) take(k.replace(/__/g, '-').replace(/_/g, '.').toLowerCase(), v, `environment ${k}`);
  }
  return props;
}

/** One field through DataLad's keyring wrapper: legacy environment variable, else the keyring. */
async function keyringField(name: string, field: string, env: NodeJS.ProcessEnv): Promise<Found | undefined> {
  const envVar = `DATALAD_${name}_${field}`.replace(/-/g, '_');
  const fromEnv = env[envVar];
  if (fromEnv !== undefined) return { value: fromEnv, where: `environment ${envVar}` };
  const service = `datalad-${name}`;
  const value = await readKeyringSecret(service, field);
  return value ? { value, where: `system keyring (service "${service}", account "${field}")` } : undefined;
}

/** DataLad's credential `name` with its secret; undefined when DataLad knows no secret for it. */
export async function findDataladCredential(name: string, opts: DataladLookupOptions = {}): Promise<DataladCredential | undefined> {
  // DataLad names may hold ":" and "/" (e.g. "https://osf.io"), so not checkName's rules.
  if (!name || name.length > 512 || /[\0\n]/.test(name)) {
    throw new CredentialError(`invalid DataLad credential name "${name.slice(0, 40)}"`);
  }
  const env = opts.env ?? process.env;
  const cred = new Map<string, Found>();

  const legacy = opts.typeHint ? TYPES[opts.typeHint] : undefined;
  if (legacy && opts.typeHint) {
    for (const field of legacy.fields) {
      if (field === legacy.secret) continue;
      const f = await keyringField(name, field, env);
      if (f?.value) cred.set(field.replace(/_/g, '-'), f);
    }
    if (cred.size > 0) cred.set('type', { value: opts.typeHint, where: 'type hint' });
  }
  for (const [k, v] of await configProps(name, opts.cwd, env)) cred.set(k, v);

  // A lone "token" property is a token credential (manager.py _assign_credential_type).
  let type = cred.get('type')?.value ?? opts.typeHint;
  if (!type && cred.size === 1 && cred.has('token')) {
    type = 'token';
    cred.set('type', { value: 'token', where: 'inferred' });
    cred.set('secret', cred.get('token')!);
    cred.delete('token');
  }
  const secretField = type ? TYPES[type]?.secret : undefined;

  const nonEmpty = (f: Found | undefined): Found | undefined => (f?.value ? f : undefined);
  const secret =
    nonEmpty(cred.get('secret')) ??
    (await keyringField(name, 'secret', env)) ??
    (secretField ? (nonEmpty(cred.get(secretField)) ?? (await keyringField(name, secretField, env))) : undefined);
  if (!secret) return undefined;

  const props: Record<string, string> = {};
  for (const [k, v] of cred) {
    if (k !== 'secret' && k !== secretField) props[k] = v.value;
  }
  return { props, secret: secret.value, source: `DataLad credential "${name}" (secret from ${secret.where})` };
}

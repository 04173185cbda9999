/**
 * Secrets in the system keyring through @napi-rs/keyring: the Secret Service
 * (gnome-keyring, KWallet) on Linux, Keychain on macOS, Credential Manager on
 * Windows. Service "annexd", account = credential name.
 *
 * On Linux every entry is pinned to the Secret Service: the binding's default
 * silently falls back to the kernel keyutils keyring, which is in memory only
 * and loses secrets at reboot. A pinned entry fails instead, and we say why.
 *
 * The native binding is imported on first use, so importing this module costs
 * nothing at start-up.
 */
import { execFile } from 'node:child_process';
import type { AsyncEntry as AsyncEntryType, EntryOptions } from '@napi-rs/keyring';
import { CredentialError, type Availability, type SecretStore } from './model.js';
import { checkName } from './names.js';

type AsyncEntryClass = typeof AsyncEntryType;

const PIN: EntryOptions = { linux: { store: 'secret-service' } };
/** Starts with a dot: checkName forbids that, so it never collides with a credential. */
const PROBE_ACCOUNT = '.annexd-probe';
const PROBE_TIMEOUT_MS = 10_000;

export const NO_BUS_REASON =
  'no Secret Service keyring reachable (no D-Bus session bus); use --store file, or run inside a desktop session';
const NO_SERVICE_REASON =
  'no Secret Service keyring answers on the D-Bus session bus (is gnome-keyring or KWallet running?); start one, or use --store file';
const LOCKED_REASON = 'the keyring is locked; unlock it (e.g. log in to the desktop, or gnome-keyring-daemon --unlock)';
const NO_COLLECTION_REASON =
  'the Secret Service has no default keyring to store into; create and unlock one (e.g. log in to the desktop, or gnome-keyring-daemon --unlock)';

/** Platforms whose keyring is the Secret Service over D-Bus (everything but macOS and Windows). */
function usesSecretService(): boolean {
  return process.platform !== 'darwin' && process.platform !== 'win32';
}

function keyringName(): string {
  if (process.platform === 'darwin') return 'system keyring (macOS Keychain)';
  if (process.platform === 'win32') return 'system keyring (Windows Credential Manager)';
  return 'system keyring (Secret Service)';
}

let binding: Promise<AsyncEntryClass> | undefined;

async function loadEntry(): Promise<AsyncEntryClass> {
  binding ??= import('@napi-rs/keyring').then(
    (m) => m.AsyncEntry,
    (err: unknown) => {
      binding = undefined;
      throw new CredentialError(`the keyring module (@napi-rs/keyring) cannot be loaded: ${firstLine(err)}; use --store file`);
    },
  );
  return binding;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n').find((l) => l.trim()) ?? 'unknown error').trim().slice(0, 300);
}

type Failure = { kind: 'unreachable' | 'locked' | 'other'; reason: string };

/** Sorts a binding error into what the user has to do about it. */
function classify(err: unknown): Failure {
  if (err instanceof CredentialError) return { kind: 'unreachable', reason: err.message };
  const text = firstLine(err);
  if (err instanceof Error && err.name === 'AbortError') {
    return { kind: 'unreachable', reason: `the keyring did not answer within ${PROBE_TIMEOUT_MS / 1000} s` };
  }
  if (/DBUS_SESSION_BUS_ADDRESS|autolaunch/i.test(text)) return { kind: 'unreachable', reason: NO_BUS_REASON };
  if (/org\.freedesktop\.secrets|ServiceUnknown|DBus error|D-Bus/i.test(text)) return { kind: 'unreachable', reason: NO_SERVICE_REASON };
  if (/prompt was dismissed|locked|NoStorageAccess|not unlocked/i.test(text)) return { kind: 'locked', reason: LOCKED_REASON };
  // gnome-keyring without any collection (never logged in, nothing created): "Secret Service: no result found".
  if (/no result found/i.test(text)) return { kind: 'locked', reason: NO_COLLECTION_REASON };
  return { kind: 'other', reason: text };
}

/** Never echo a secret back, even if some layer put it into a message. */
function scrub(text: string, secret?: string): string {
  return secret && secret.length >= 4 ? text.split(secret).join('***') : text;
}

/** A pinned entry; throws the no-bus reason without touching D-Bus when there is no bus to talk to. */
async function entry(service: string, account: string): Promise<AsyncEntryType> {
  if (usesSecretService() && !process.env.DBUS_SESSION_BUS_ADDRESS) throw new CredentialError(NO_BUS_REASON);
  const AsyncEntry = await loadEntry();
  return new AsyncEntry(service, account, PIN);
}

/**
 * True when the Secret Service has no "default" collection: reads then find
 * nothing and every write fails ("no result found"), typical of a headless
 * machine where gnome-keyring is D-Bus activatable but was never unlocked.
 * ReadAlias never prompts. Without dbus-send we cannot tell: false.
 */
function noDefaultCollection(): Promise<boolean> {
  const args = [
    '--session',
    '--print-reply',
    `--reply-timeout=${PROBE_TIMEOUT_MS}`,
    '--dest=org.freedesktop.secrets',
    '/org/freedesktop/secrets',
    'org.freedesktop.Secret.Service.ReadAlias',
    'string:default',
  ];
  return new Promise((resolve) => {
    execFile('dbus-send', args, { timeout: PROBE_TIMEOUT_MS + 1000 }, (err, stdout) => {
      resolve(!err && /object path "\/"\s*$/.test(stdout));
    });
  });
}

export interface KeyringSecretStoreOptions {
  /** The keyring service name; "annexd" unless a test or a second installation wants its own. */
  service?: string;
}

export class KeyringSecretStore implements SecretStore {
  readonly kind = 'keyring' as const;
  private readonly service: string;

  constructor(options: KeyringSecretStoreOptions = {}) {
    this.service = options.service ?? 'annexd';
  }

  describe(): string {
    return keyringName();
  }

  async available(): Promise<Availability> {
    try {
      const e = await entry(this.service, PROBE_ACCOUNT);
      // Reading an absent item never prompts, even with a locked keyring.
      await e.getPassword(AbortSignal.timeout(PROBE_TIMEOUT_MS));
      if (usesSecretService() && (await noDefaultCollection())) return { ok: false, reason: NO_COLLECTION_REASON };
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: classify(err).reason };
    }
  }

  async getSecret(name: string): Promise<string | undefined> {
    checkName(name);
    try {
      const value = await (await entry(this.service, name)).getPassword();
      return value || undefined;
    } catch (err) {
      throw new CredentialError(`cannot read credential "${name}" from the ${keyringName()}: ${classify(err).reason}`);
    }
  }

  async setSecret(name: string, secret: string): Promise<void> {
    checkName(name);
    if (!secret) throw new CredentialError('empty secret: nothing stored');
    try {
      await (await entry(this.service, name)).setPassword(secret);
    } catch (err) {
      throw new CredentialError(scrub(`cannot store credential "${name}" in the ${keyringName()}: ${classify(err).reason}`, secret));
    }
  }

  async deleteSecret(name: string): Promise<boolean> {
    checkName(name);
    try {
      return await (await entry(this.service, name)).deletePassword();
    } catch (err) {
      throw new CredentialError(`cannot delete credential "${name}" from the ${keyringName()}: ${classify(err).reason}`);
    }
  }
}

/**
 * One item from the keyring by service and account, for reading other tools'
 * secrets (DataLad's). Absent, or no keyring reachable at all: undefined, as
 * this is a last-resort lookup that must not fail a transfer by itself. A
 * locked keyring or another failure is reported, since it names a fix.
 *
 * python-keyring's Secret Service items ({application, service, username})
 * are found: keyring-rs searches by {service, username} only (verified).
 */
export async function readKeyringSecret(service: string, account: string): Promise<string | undefined> {
  // python-keyring on Windows names credentials "service" or "account@service",
  // keyring-rs "account.service": they never meet, so do not pretend to look.
  if (process.platform === 'win32') return undefined;
  try {
    return (await (await entry(service, account)).getPassword()) || undefined;
  } catch (err) {
    const f = classify(err);
    if (f.kind === 'unreachable') return undefined;
    throw new CredentialError(`cannot read "${account}" of "${service}" from the ${keyringName()}: ${f.reason}`);
  }
}

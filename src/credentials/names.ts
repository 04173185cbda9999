/** Credential and property names: what is allowed, and how they map to environment variables. */
import { CredentialError } from './model.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const PROP = /^[a-z][a-z0-9_-]{0,63}$/;

export const validName = (name: string): boolean => NAME.test(name);

/** Throws a clear error for a name that cannot be stored or looked up safely. */
export function checkName(name: string): string {
  if (!validName(name)) {
    throw new CredentialError(
      `invalid credential name ${JSON.stringify(name.slice(0, 40))}: use 1-128 letters, digits and . _ @ + - (starting with a letter or digit)`,
    );
  }
  return name;
}

export function checkProp(prop: string): string {
  if (!PROP.test(prop)) {
    throw new CredentialError(`invalid property name ${JSON.stringify(prop.slice(0, 40))}: use lowercase letters, digits, _ and - (e.g. key_id)`);
  }
  if (prop === 'secret') throw new CredentialError('"secret" is not a property: the secret is read from the prompt or stdin');
  return prop;
}

/**
 * ANNEXD_CREDENTIAL_<NAME>_<PROP>: name and prop uppercased, anything else
 * becomes "_". Names differing only in case or punctuation share variables.
 */
export function envVarName(name: string, prop: string): string {
  const up = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return `ANNEXD_CREDENTIAL_${up(name)}_${up(prop)}`;
}

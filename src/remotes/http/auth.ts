/**
 * Credentials per host. A request to a host carries that host's credential
 * and no other: a redirect to another host never takes the first host's
 * credential along. Looked up once per host and process, through the chain
 * every remote shares; a credential without a user is a Bearer token.
 */
import type { RequestContext } from '../../protocol/contract.js';
import { lookupCredential } from '../core/credential-chain.js';
import type { Credential } from '../core/credentials.js';

export interface HostAuth {
  /** The Authorization header value, undefined for anonymous access. */
  header: string | undefined;
  credential: Credential | undefined;
}

export function authorizationFor(c: Credential): string {
  return c.user === '' ? `Bearer ${c.secret}` : `Basic ${Buffer.from(`${c.user}:${c.secret}`).toString('base64')}`;
}

export class HostCredentials {
  private readonly cache = new Map<string, Promise<HostAuth>>();

  constructor(
    /** The remote's credential=NAME, if any. */
    private readonly named: string | undefined,
    /** Hosts credential=NAME is sent to; undefined means any host a claimed URL names. */
    private readonly namedHost: string | undefined,
  ) {}

  /**
   * The credential for `url`'s host. `claimed` says the URL is one the remote
   * was given (not a redirect target on another host): only such URLs may
   * receive credential=NAME.
   */
  forUrl(url: URL, claimed: boolean, ctx: RequestContext): Promise<HostAuth> {
    const useNamed = this.named !== undefined && claimed && (this.namedHost === undefined || this.namedHost === url.host);
    const cacheKey = `${useNamed ? 'named' : 'host'} ${url.protocol}//${url.host}`;
    let found = this.cache.get(cacheKey);
    if (!found) {
      found = this.lookup(url, useNamed, ctx);
      this.cache.set(cacheKey, found);
      found.catch(() => this.cache.delete(cacheKey));
    }
    return found;
  }

  private async lookup(url: URL, useNamed: boolean, ctx: RequestContext): Promise<HostAuth> {
    const credential = await lookupCredential(ctx, {
      named: useNamed ? this.named : undefined,
      userProp: 'user',
      userOptional: true,
      dataladUserProps: ['user'],
      url: `${url.protocol}//${url.host}/`,
      remembered: `annexd-http-${url.host}`,
      example: `user=YOUR_USER realm=${url.host}`,
      secretWord: 'password (or token)',
    });
    return { header: credential ? authorizationFor(credential) : undefined, credential };
  }
}

/**
 * annexd-http: a read-only git-annex special remote for web sources. Keys are
 * read from the URLs git-annex recorded for them (addurl), and, with a url=
 * template, from a key-named layout such as a git-annex object directory
 * published over HTTP. It claims http(s) URLs (narrowed by match=) so that
 * addurl, get and fsck go through it, with resume, retries and per-host
 * credentials.
 */
import { credentialKnown } from '../core/credentials.js';
import type { CheckUrlResult, LocalPath, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import type { Backend, BackendDefinition, TransferContext } from '../core/backend.js';
import { holdsKey, keySize } from '../core/keys.js';
import { claims, httpSchema, httpSettings, type HttpSettings } from './config.js';
import { describeHttpError } from './errors.js';
import type { HttpSource } from './source.js';
import { expandTemplate } from './template.js';

const READ_ONLY =
  'annexd-http is read-only: it reads web sources and cannot store or delete on them (use annexd-webdav or annexd-s3 for a writable remote)';

class HttpBackend implements Backend {
  constructor(
    private readonly source: HttpSource,
    private readonly s: HttpSettings,
  ) {}

  /** Where a key can be read: the template's URL first, then the recorded URLs this remote claims. */
  private async candidates(key: string, ctx: RequestContext): Promise<string[]> {
    const urls: string[] = [];
    if (this.s.template) urls.push(await expandTemplate(this.s.template, key, ctx));
    for (const u of await ctx.annex.getUrls(key, '')) {
      if (claims(this.s, u) && !urls.includes(u)) urls.push(u);
    }
    return urls;
  }

  private async requireCandidates(key: string, ctx: RequestContext): Promise<string[]> {
    const urls = await this.candidates(key, ctx);
    if (urls.length === 0) {
      throw new RemoteError(
        `no URL is known for ${key}${this.s.match ? ` that matches match=${this.s.match.source}` : ''}: add one with "git annex addurl", or set url= to a template`,
      );
    }
    return urls;
  }

  claimUrl(url: string): boolean {
    return claims(this.s, url);
  }

  async checkUrl(url: string, ctx: RequestContext): Promise<CheckUrlResult> {
    const probe = await this.source.probe(url, ctx).catch((err: unknown) => {
      throw new RemoteError(describeHttpError(err, 'check', url), { cause: err });
    });
    if (!probe) throw new RemoteError(`${url} does not exist on the server (HTTP 404)`);
    return { kind: 'contents', size: probe.size, filename: probe.filename };
  }

  async store(): Promise<void> {
    throw new RemoteError(READ_ONLY);
  }

  async remove(): Promise<void> {
    throw new RemoteError(READ_ONLY);
  }

  async retrieve(key: string, file: LocalPath, t: TransferContext): Promise<void> {
    const urls = await this.requireCandidates(key, t);
    const failures: string[] = [];
    for (const url of urls) {
      try {
        await this.source.download(url, file, keySize(key), t);
        return;
      } catch (err) {
        if (t.signal.aborted) throw err;
        const why = describeHttpError(err, 'download', url);
        if (urls.length === 1) throw new RemoteError(why, { cause: err });
        failures.push(`${url}: ${why}`);
        void t.annex.debug(`${key} not downloaded from ${url}: ${why}`);
      }
    }
    throw new RemoteError(`could not download ${key} from any of its ${urls.length} URLs: ${failures.join('; ')}`);
  }

  /**
   * Present when any URL answers with content of the key's size; absent when
   * every URL is gone (404/410) or holds content of another size; otherwise
   * it cannot tell (UNKNOWN).
   */
  async checkPresent(key: string, ctx: RequestContext): Promise<boolean> {
    const urls = await this.candidates(key, ctx);
    const unsure: string[] = [];
    for (const url of urls) {
      try {
        if (holdsKey(key, await this.source.probe(url, ctx), ctx)) return true;
      } catch (err) {
        unsure.push(describeHttpError(err, 'check', url));
      }
    }
    if (unsure.length > 0) throw new RemoteError(unsure.join('; '));
    return false;
  }

  info(): Array<[string, string]> {
    return [
      ['claims', this.s.match ? `URLs matching ${this.s.match.source}` : 'every http and https URL'],
      ['url template', this.s.template?.source ?? '(none)'],
      ['credential', this.s.credential ?? '(per host, from the credential store)'],
    ];
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

async function connect(s: HttpSettings): Promise<HttpSource> {
  // Loaded here, not at start-up: the client brings in undici.
  const [{ HttpClient }, { HttpSource }, { HostCredentials }] = await Promise.all([
    import('./client.js'),
    import('./source.js'),
    import('./auth.js'),
  ]);
  const client = new HttpClient(new HostCredentials(s.credential, s.template?.host));
  return new HttpSource(client, s.retries, s.download);
}

export const httpDefinition: BackendDefinition<typeof httpSchema> = {
  externalType: 'annexd-http',
  summary: 'read-only git-annex special remote for web sources (http/https), with resume, retries and per-host credentials',
  schema: httpSchema,
  exportCapable: false,
  repoSettings: { credential: credentialKnown },
  async open(config) {
    const s = httpSettings(config);
    return new HttpBackend(await connect(s), s);
  },
  describeError(err, operation) {
    return describeHttpError(err, operation);
  },
};

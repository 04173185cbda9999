/**
 * annexd-webdav through the fault proxy, in front of lighttpd: copy, get and
 * fsck of 100 files survive cut connections (in both directions), stalls and
 * 429/503/500 answers with the default retries, and leave no temporary uploads.
 */
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { through, withFaultProxy } from '../support/fault-proxy.js';
import { FAULT_RUN, faultyRoundTrip } from '../support/fault-scenario.js';
import { initDavRemote, useDavSuite } from '../support/webdav.js';
import { listFiles } from '../webdav/files.js';

const suite = useDavSuite('lighttpd');

describe('annexd-webdav under faults', () => {
  it('copies, gets and fscks 100 files through cuts, stalls and 429/503/500 answers', async () => {
    await withFaultProxy({ target: suite.dav.url, ...FAULT_RUN }, async (proxy) => {
      const repo = await AnnexRepo.create(suite.sandbox, 'faults');
      const collection = suite.dav.collection('faults');
      // Everything goes through the proxy, initremote's PROPFIND and MKCOL included.
      await initDavRemote(repo, suite.dav, 'faulty', [], through(proxy, collection));
      const onDisk = (): Promise<string[]> => listFiles(join(suite.dav.root, basename(collection)));
      await faultyRoundTrip({
        repo,
        remote: 'faulty',
        proxy,
        listStored: async () => (await onDisk()).map((p) => basename(p)).sort(),
        afterCopy: async () => expect((await onDisk()).filter((p) => p.includes('.annexd-tmp-'))).toEqual([]),
      });
    });
  });
});

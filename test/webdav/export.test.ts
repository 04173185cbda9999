/** Export trees through annexd-webdav on each server (the shared scenario, plus what the server holds on disk). */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { exportRoundTrip } from '../support/export-scenario.js';
import { DAV_KINDS, initDavRemote, useDavSuite } from '../support/webdav.js';
import { listFiles } from './files.js';

describe.each(DAV_KINDS)('exporttree=yes on %s', (kind) => {
  const suite = useDavSuite(kind);

  it('exports a tree, follows renames and removals, and gets files back from the export', async () => {
    const repo = await AnnexRepo.create(suite.sandbox, 'exporter');
    const url = await initDavRemote(repo, suite.dav, 'tree', ['exporttree=yes']);
    const onDisk = join(suite.dav.root, basename(url));
    await exportRoundTrip({
      repo,
      remote: 'tree',
      listExported: () => listFiles(onDisk),
      afterFirstExport: async (content) => {
        expect((await readFile(join(onDisk, 'raw/sub 1/scan ü.bin'))).equals(content['raw/sub 1/scan ü.bin'] as Buffer)).toBe(true);
      },
      // The removed directory is gone as a collection too.
      afterReshape: async () => expect(existsSync(join(onDisk, 'derived'))).toBe(false),
    });
  });
});

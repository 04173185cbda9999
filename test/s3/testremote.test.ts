/** git-annex's own conformance suite against annexd-s3 on a real S3-compatible server. */
import { beforeAll, describe, it } from 'vitest';
import { AnnexRepo, expectTestremotePasses } from '../support/annex.js';
import { initS3Remote, useS3Suite } from '../support/s3.js';

const suite = useS3Suite();
let repo: AnnexRepo;

beforeAll(async () => {
  repo = await AnnexRepo.create(suite.sandbox);
});

describe('git annex testremote', () => {
  it('passes all 125 --fast checks (plain and encryption=shared variants)', async () => {
    await initS3Remote(repo, suite.s3, 'conform');
    // No AWS_* variables here: the remote must use what initremote stored.
    await expectTestremotePasses(repo, 'conform', ['--fast'], 125);
  });

  it('passes with a prefix and multipart uploads of every test key', async () => {
    // partsize at its minimum and a threshold below testremote's 1 MiB keys would not
    // be allowed (S3 needs 5 MiB parts), so use --size to make keys cross the threshold.
    await initS3Remote(repo, suite.s3, 'conformmp', ['prefix=annex/objects/', 'partsize=5MiB', 'multipartthreshold=5MiB']);
    await expectTestremotePasses(repo, 'conformmp', ['--fast', '--size=6MiB'], 125);
  });
});

import { createSiblingS3, DEPOSIT_FOLDER, S3_MODES, type S3Mode } from '../../orchestration/create-sibling-s3.js';
import { parseCommandLine, UsageError, type Command } from '../command.js';
import { checkRemoteNames, oneOf, printRecords } from './create-sibling-common.js';

export const createSiblingS3Command: Command = {
  name: 'create-sibling-s3',
  summary: 'publish a dataset to an S3 bucket: a storage sibling for the content and a git sibling for the history, in the same bucket',
  help: `Usage: annexd create-sibling-s3 NAME --bucket BUCKET [--endpoint URL] [--prefix PREFIX]
                                [--mode annex|export|gitonly] [--public-url URL]
                                [--existing skip|error] [--credential NAME] [-d DATASET] [--json]

Publishes a dataset to one S3 bucket (AWS or any S3-compatible server) as
DataLad's create-sibling-* commands do elsewhere, with two siblings:

  NAME-storage  git-annex special remote type=external externaltype=annexd-s3
                encryption=none autoenable=true bucket=BUCKET (endpoint=, prefix=,
                publicurl=, credential= as given; exporttree=yes in export mode):
                the annexed content. A missing bucket is created.
  NAME          git remote datalad-annex::?type=external&externaltype=annexd-s3&…
                with annex-ignore=true and datalad-publish-depends=NAME-storage: the
                git history, deposited in the same bucket under PREFIX${DEPOSIT_FOLDER},
                so that "git clone <that URL>" gets the dataset and clones enable
                NAME-storage by themselves

Then "annexd push --to NAME" (or datalad push) publishes content, then history.

Modes:
  annex    (default) content stored by key (hash folders below PREFIX)
  export   the files under their names below PREFIX (git annex export), plus the history
  gitonly  the history only, no storage sibling

Options:
  --bucket BUCKET     the bucket (required; created when missing)
  --endpoint URL      an S3-compatible server, e.g. http://127.0.0.1:9000 (default: AWS)
  --prefix PREFIX     put everything below this prefix, e.g. datasets/study1/
  --public-url URL    the bucket's public URL, recorded so anonymous clones download over HTTP
  --existing MODE     when NAME or NAME-storage exists: error (default), or skip (nothing
                      is created)
  --credential NAME   the annexd credential with key_id and the secret (default: the
                      annexd-s3 chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an annexd
                      credential whose realm is the endpoint, ~/.aws)
  -d, --dataset PATH  the dataset (default: the current directory)
  --json              one JSON result record per line

Nothing is configured when the bucket cannot be reached or the credentials are refused.
Exit code 0 only if every result is ok or notneeded.
`,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      bucket: { type: 'string' },
      endpoint: { type: 'string' },
      prefix: { type: 'string' },
      mode: { type: 'string' },
      'public-url': { type: 'string' },
      existing: { type: 'string' },
      credential: { type: 'string' },
      dataset: { type: 'string', short: 'd' },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'create-sibling-s3 needs the sibling NAME, e.g. annexd create-sibling-s3 s3 --bucket my-data' : `create-sibling-s3 takes one NAME (got "${positionals.join('", "')}")`);
    }
    const name = positionals[0]!;
    checkRemoteNames([['name', name]]);
    if (!values.bucket) throw new UsageError('create-sibling-s3 needs --bucket BUCKET');
    const records = createSiblingS3({
      dataset: values.dataset ?? process.cwd(),
      name,
      bucket: values.bucket,
      endpoint: values.endpoint,
      prefix: values.prefix,
      mode: oneOf<S3Mode>('mode', values.mode, S3_MODES),
      publicUrl: values['public-url'],
      existing: oneOf<'skip' | 'error'>('existing', values.existing, ['skip', 'error']),
      credential: values.credential,
    });
    return printRecords(records, values.json);
  },
};

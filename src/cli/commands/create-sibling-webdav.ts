import {
  createSiblingWebdav,
  DEPOSIT_COLLECTION,
  WEBDAV_EXISTING,
  WEBDAV_MODES,
  type WebdavExisting,
  type WebdavMode,
} from '../../orchestration/create-sibling-webdav.js';
import { parseCommandLine, UsageError, type Command } from '../command.js';
import { checkRemoteNames, oneOf, printRecords } from './create-sibling-common.js';

export const createSiblingWebdavCommand: Command = {
  name: 'create-sibling-webdav',
  summary: 'publish a dataset to a WebDAV collection: storage sibling and git sibling, as datalad-next create-sibling-webdav does',
  help: `Usage: annexd create-sibling-webdav URL [-s NAME] [--storage-name NAME]
                                    [--mode annex|filetree|annex-only|filetree-only|git-only]
                                    [--credential NAME] [--existing skip|error|reconfigure]
                                    [-d DATASET] [--json]

Publishes a dataset to a WebDAV collection (https://host/path; no query or
fragment; http:// works with a warning) with two siblings, as datalad-next's
create-sibling-webdav does:

  NAME-storage  git-annex special remote type=external externaltype=annexd-webdav
                url=URL encryption=none autoenable=true (exporttree=yes in the filetree
                modes): the annexed content; clones enable it by themselves
  NAME          git remote datalad-annex::?type=external&externaltype=annexd-webdav&
                encryption=none&url=URL with annex-ignore=true and
                datalad-publish-depends=NAME-storage: the git history, so that
                "git clone <that URL>" gets the dataset

Then "annexd push --to NAME" (or datalad push) publishes content, then history.

Modes:
  annex          (default) content stored by key, and the history, both in URL
  filetree       the files under their names in URL (git annex export); the history
                 in URL/${DEPOSIT_COLLECTION} (datalad-next deposits it as an export in
                 URL/.datalad/dotgit, which git-remote-datalad-annex does not push to)
  annex-only     the storage sibling only
  filetree-only  the storage sibling only, in filetree mode
  git-only       the git sibling only (the history in URL)

Options:
  -s, --name NAME       the git sibling (default: the URL's host name)
  --storage-name NAME   the storage sibling (default NAME-storage)
  --credential NAME     the annexd credential with user and the password, given to both
                        siblings (default: WEBDAV_USERNAME/WEBDAV_PASSWORD, an annexd
                        credential whose realm is the URL, DataLad's)
  --existing MODE       when a sibling of that name exists: error (default); skip
                        (nothing is created); reconfigure (the storage sibling takes the
                        URL and credential, the git sibling its URL and dependency)
  -d, --dataset PATH    the dataset (default: the current directory)
  --json                one JSON result record per line

Nothing is configured when the server cannot be reached or refuses the credentials.
Exit code 0 only if every result is ok or notneeded.
`,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      name: { type: 'string', short: 's' },
      'storage-name': { type: 'string' },
      mode: { type: 'string' },
      existing: { type: 'string' },
      credential: { type: 'string' },
      dataset: { type: 'string', short: 'd' },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'create-sibling-webdav needs the URL, e.g. annexd create-sibling-webdav https://dav.example.org/study1' : `create-sibling-webdav takes one URL (got "${positionals.join('", "')}")`);
    }
    checkRemoteNames([['name', values.name], ['storage-name', values['storage-name']]]);
    const records = createSiblingWebdav({
      dataset: values.dataset ?? process.cwd(),
      url: positionals[0]!,
      name: values.name,
      storageName: values['storage-name'],
      mode: oneOf<WebdavMode>('mode', values.mode, WEBDAV_MODES),
      existing: oneOf<WebdavExisting>('existing', values.existing, WEBDAV_EXISTING),
      credential: values.credential,
      warn: (message) => void process.stderr.write(`annexd: warning: ${message}\n`),
    });
    return printRecords(records, values.json);
  },
};

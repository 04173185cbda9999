import {
  createSiblingOsf,
  OSF_MODES,
  TRUST_LEVELS,
  type OsfMode,
  type TrustLevel,
} from '../../orchestration/create-sibling-osf.js';
import { NODE_CATEGORIES, type NodeCategory } from '../../remotes/osf/nodes.js';
import { parseCommandLine, UsageError, type Command } from '../command.js';
import { checkRemoteNames, oneOf, printRecords } from './create-sibling-common.js';

export const createSiblingOsfCommand: Command = {
  name: 'create-sibling-osf',
  summary: 'publish a dataset to an OSF project: the project, its storage sibling and its git sibling, as datalad create-sibling-osf does',
  help: `Usage: annexd create-sibling-osf [--title TITLE] [-s NAME] [--storage-name NAME]
                                 [--mode annex|export|exportonly|gitonly] [--existing skip|error]
                                 [--trust-level trust|semitrust|untrust] [--tag TAG]... [--public]
                                 [--category CATEGORY] [--description TEXT] [--api URL]
                                 [--credential NAME] [-d DATASET] [--json]

Creates an OSF project for the dataset and two siblings, exactly as
datalad-osf's create-sibling-osf writes them (either tool pushes and clones
what the other set up):

  NAME-storage  git-annex special remote type=external externaltype=osf
                autoenable=true node=ID (exporttree=yes in export modes), served by
                annexd's git-annex-remote-osf: the annexed content
  NAME          git remote osf://ID with annex-ignore=true and
                datalad-publish-depends=NAME-storage, served by git-remote-osf: the
                git history, so that "git clone osf://ID" gets the dataset

Then "annexd push --to NAME" (or datalad push) publishes content, then history.

Modes:
  annex       (default) content stored by key, not readable on the OSF page; clonable
  export      the files under their names (git annex export), plus the history; clonable
  exportonly  the files under their names only; not clonable
  gitonly     the history only, no content

Options:
  --title TITLE         the project's title (default: the dataset's directory name)
  -s, --name NAME       the git sibling (default osf)
  --storage-name NAME   the storage sibling (default NAME-storage)
  --existing MODE       when a sibling of that name exists: error (default), or skip
                        (nothing is created)
  --trust-level LEVEL   git annex trust|semitrust|untrust for the storage sibling
  --tag TAG             a tag for the project (repeatable); "DataLad dataset" and the
                        dataset id are always added
  --public              make the project public (default private)
  --category CATEGORY   ${NODE_CATEGORIES.join(', ')} (default data)
  --description TEXT    the project's description (default: datalad-osf's, with how
                        to clone it)
  --api URL             the OSF API (default https://api.osf.io/v2/): a self-hosted OSF,
                        or annexd dev-server osf
  --credential NAME     the annexd or DataLad credential with the OSF token (default:
                        OSF_TOKEN, OSF_USERNAME+OSF_PASSWORD, an annexd credential whose
                        realm is the API host, DataLad's https://osf.io credential)
  -d, --dataset PATH    the dataset (default: the current directory)
  --json                one JSON result record per line

If the storage sibling cannot be set up, the new project is deleted again.
Exit code 0 only if every result is ok or notneeded.
`,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      title: { type: 'string' },
      name: { type: 'string', short: 's' },
      'storage-name': { type: 'string' },
      mode: { type: 'string' },
      existing: { type: 'string' },
      'trust-level': { type: 'string' },
      tag: { type: 'string', multiple: true },
      public: { type: 'boolean', default: false },
      category: { type: 'string' },
      description: { type: 'string' },
      api: { type: 'string' },
      credential: { type: 'string' },
      dataset: { type: 'string', short: 'd' },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length) throw new UsageError(`create-sibling-osf takes no arguments (got "${positionals[0]}"): the dataset is -d PATH`);
    checkRemoteNames([['name', values.name], ['storage-name', values['storage-name']]]);
    if (values.api !== undefined && !/^https?:\/\//.test(values.api)) throw new UsageError(`--api must be an http(s) URL, e.g. https://api.osf.io/v2/, not "${values.api}"`);
    const records = createSiblingOsf({
      dataset: values.dataset ?? process.cwd(),
      title: values.title,
      name: values.name,
      storageName: values['storage-name'],
      mode: oneOf<OsfMode>('mode', values.mode, OSF_MODES),
      existing: oneOf<'skip' | 'error'>('existing', values.existing, ['skip', 'error']),
      trustLevel: oneOf<TrustLevel>('trust-level', values['trust-level'], TRUST_LEVELS),
      tags: values.tag,
      public: values.public,
      category: oneOf<NodeCategory>('category', values.category, NODE_CATEGORIES),
      description: values.description,
      api: values.api,
      credential: values.credential,
    });
    return printRecords(records, values.json);
  },
};

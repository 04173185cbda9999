import { datasetRoot } from '../../orchestration/push/datasets.js';
import {
  addSibling,
  configureSibling,
  listSiblings,
  removeSibling,
  siblingRecord,
  type SiblingRecord,
  type SiblingSettings,
} from '../../orchestration/siblings.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';

const HELP = `Usage: annexd siblings [list] [--json] [-d DATASET]
       annexd siblings add --name NAME --url URL [--pushurl URL] [--publish-depends NAME]...
                           [--annex-wanted EXPR] [--annex-required EXPR] [--annex-group G]
                           [--annex-groupwanted EXPR] [--description TEXT] [--publish-by-default REFSPEC]...
       annexd siblings configure --name NAME [the same options; --url changes it]
       annexd siblings remove --name NAME [--force]

Lists and changes a dataset's siblings (git remotes and git-annex special
remotes) writing exactly the configuration "datalad siblings" writes:
remote.NAME.url, .fetch, .pushurl, .push, every remote.NAME.datalad-publish-depends
value (replaced as a whole, one value per dependency), and git-annex's
wanted/required/group/groupwanted/describe. DataLad's push honours what this
writes, and the other way round.

Every publication dependency must be a known sibling, and one that would make
a dependency cycle is refused, naming the cycle; nothing is written then.
A --publish-depends value may name several siblings separated by spaces.

Options:
  -s, --name NAME        the sibling
  --url URL              where it is (add: required)
  --pushurl URL          where pushes go, when not --url
  --publish-depends NAME sibling(s) to push to first (repeatable; replaces all)
  --no-publish-depends   remove every publication dependency (configure)
  --annex-wanted EXPR    git annex wanted NAME EXPR (what push --data auto sends)
  --annex-required EXPR, --annex-group G, --annex-groupwanted EXPR, --description TEXT
  --publish-by-default REFSPEC  remote.NAME.push (repeatable; replaces all)
  --force                remove even when other siblings depend on it
  --json                 one JSON record per sibling (DataLad's fields)
  -d, --dataset DIR      the dataset (default: the one containing the current directory)

List lines read as DataLad's: ".: NAME(+) [URL (git)]": + has a git-annex UUID,
- is annex-ignored, ? is not known to git-annex yet; special remotes show their type.
`;

const ACTIONS = ['list', 'add', 'configure', 'remove'] as const;

/** DataLad's siblings line: `.: name(+) [url (git)]`. */
function renderSibling(r: SiblingRecord): string {
  const mark = r['annex-uuid'] ? '+' : r['annex-ignore'] ? '-' : '?';
  const kind = r['annex-externaltype'] ?? r['annex-type'] ?? 'git';
  const spec = r.url !== undefined ? `${r.url} (${kind})` : kind;
  const deps = r['datalad-publish-depends']?.length ? ` depends on: ${r['datalad-publish-depends'].join(', ')}` : '';
  return `.: ${r.name}(${mark}) [${spec}]${deps}`;
}

export const siblingsCommand: Command = {
  name: 'siblings',
  summary: 'list, add, configure and remove siblings with publication dependencies, as datalad siblings',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      name: { type: 'string', short: 's' },
      url: { type: 'string' },
      pushurl: { type: 'string' },
      'publish-depends': { type: 'string', multiple: true },
      'no-publish-depends': { type: 'boolean', default: false },
      'publish-by-default': { type: 'string', multiple: true },
      'annex-wanted': { type: 'string' },
      'annex-required': { type: 'string' },
      'annex-group': { type: 'string' },
      'annex-groupwanted': { type: 'string' },
      description: { type: 'string', short: 'D' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      dataset: { type: 'string', short: 'd' },
    });
    const action = (positionals[0] ?? 'list') as (typeof ACTIONS)[number];
    if (!ACTIONS.includes(action)) throw new UsageError(`unknown siblings action "${positionals[0]}" (actions: ${ACTIONS.join(', ')})`);
    if (positionals.length > 1) throw new UsageError(`siblings ${action} takes options only, not "${positionals[1]}" (give the name with --name)`);
    if (action !== 'list' && !values.name) throw new UsageError(`siblings ${action} needs --name NAME`);
    if (action === 'add' && values.url === undefined) throw new UsageError('siblings add needs --url URL');
    const ds = await datasetRoot(values.dataset ?? process.cwd());
    const show = (r: SiblingRecord): void => out(values.json ? JSON.stringify(r) : r.action === 'remove-sibling' ? `remove-sibling(${r.status}): ${r.name}${r.message ? ` [${r.message}]` : ''}` : renderSibling(r));
    if (action === 'list') {
      for (const s of await listSiblings(ds)) show(siblingRecord(ds, s));
      return 0;
    }
    const name = values.name as string;
    if (action === 'remove') {
      show(await removeSibling(ds, name, { force: values.force }));
      return 0;
    }
    if (values['no-publish-depends'] && values['publish-depends']) throw new UsageError('--publish-depends and --no-publish-depends exclude each other');
    const settings: SiblingSettings = {};
    if (values.pushurl !== undefined) settings.pushurl = values.pushurl;
    if (values['publish-depends']) settings.publishDepends = values['publish-depends'];
    if (values['no-publish-depends']) settings.publishDepends = [];
    if (values['publish-by-default']) settings.publishByDefault = values['publish-by-default'];
    if (values['annex-wanted'] !== undefined) settings.annexWanted = values['annex-wanted'];
    if (values['annex-required'] !== undefined) settings.annexRequired = values['annex-required'];
    if (values['annex-group'] !== undefined) settings.annexGroup = values['annex-group'];
    if (values['annex-groupwanted'] !== undefined) settings.annexGroupwanted = values['annex-groupwanted'];
    if (values.description !== undefined) settings.description = values.description;
    if (action === 'add') {
      show(await addSibling(ds, { ...settings, name, url: values.url as string }));
    } else {
      show(await configureSibling(ds, { ...settings, name, ...(values.url !== undefined ? { url: values.url } : {}) }));
    }
    return 0;
  },
};

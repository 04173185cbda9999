import { runHelper } from './main.js';
import { parseDataladAnnexUrl } from './url.js';

const HELP = `git-remote-datalad-annex: clone, fetch and push a repository deposited on any
git-annex special remote, in datalad-next's format (annexd).

git runs this program for URLs that start with datalad-annex::
  git clone 'datalad-annex::?type=external&externaltype=annexd-s3&encryption=none&bucket=B&endpoint=URL'
  git clone 'datalad-annex::?type=directory&directory=/srv/deposit&encryption=none'
  git clone 'datalad-annex::file:///srv/deposit?type=directory&directory={path}&encryption=none'
  git clone 'datalad-annex::https://example.org/ds'        (read-only, plain HTTP, export layout)

The query holds git annex initremote parameters; {scheme} {netloc} {path} {fragment}
{username} {password} {hostname} {port} {noquery} take parts of the URL before it.
dladotgit=uncompressed stores the archive uncompressed; dlacredential= is accepted
(annexd's remotes take credentials from their own chain).
See the annexd README, "Cloning and pushing whole datasets".
`;

await runHelper('git-remote-datalad-annex', HELP, parseDataladAnnexUrl);

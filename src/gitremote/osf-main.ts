import { runHelper } from './main.js';
import { run } from './git.js';
import { parseOsfUrl } from './url.js';

const HELP = `git-remote-osf: clone, fetch and push a dataset deposited on an OSF project (annexd).

  git clone osf://ab12c                        (the project https://osf.io/ab12c/)
  git clone 'osf://ab12c?api=https://osf.example.org/v2/'   (a self-hosted OSF)

The API defaults to git config annexd.osf.api, else $ANNEXD_OSF_API, else https://api.osf.io/v2/.
Credentials: OSF_TOKEN, or an annexd credential (annexd credentials set NAME type=osf).
The deposit is datalad-osf's: XDLRA--refs and XDLRA--repo-export at the project's storage root.
`;

await runHelper('git-remote-osf', HELP, async (url) => {
  const cfg = await run(process.cwd(), 'git', ['config', '--get', 'annexd.osf.api'], { env: process.env });
  const api = (cfg.code === 0 ? cfg.stdout.trim() : '') || process.env.ANNEXD_OSF_API || undefined;
  return parseOsfUrl(url, api);
});

import { runRemote } from '../core/run.js';
import { webdavDefinition } from './index.js';

await runRemote(webdavDefinition);

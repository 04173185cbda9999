import { runRemote } from '../core/run.js';
import { dataladArchivesDefinition } from './index.js';

await runRemote(dataladArchivesDefinition);

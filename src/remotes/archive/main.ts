import { runRemote } from '../core/run.js';
import { archiveDefinition } from './index.js';

await runRemote(archiveDefinition);

import { runRemote } from '../core/run.js';
import { osfDefinition } from './index.js';

await runRemote(osfDefinition);

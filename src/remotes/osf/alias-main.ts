import { runRemote } from '../core/run.js';
import { osfAliasDefinition } from './index.js';

await runRemote(osfAliasDefinition);

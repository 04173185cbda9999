import { runRemote } from '../core/run.js';
import { httpDefinition } from './index.js';

await runRemote(httpDefinition);

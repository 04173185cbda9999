import { runRemote } from '../core/run.js';
import { s3Definition } from './index.js';

await runRemote(s3Definition);

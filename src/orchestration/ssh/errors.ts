import { OrchestrationError } from '../errors.js';

/**
 * A failure to reach, trust or log in to an SSH host, or a command there
 * that failed: one line for the user, naming the host and what to do.
 */
export class SshError extends OrchestrationError {}

/** A failure of an orchestration step the user can act on: one line, no stack. */
export class OrchestrationError extends Error {
  override readonly name = 'OrchestrationError';
}

/** Publication dependencies that lead back to where they started; `cycle` is the path, first name repeated at the end. */
export class DependencyCycleError extends OrchestrationError {
  constructor(readonly cycle: string[]) {
    super(`publication dependencies form a cycle: ${cycle.join(' -> ')} (remove one with "annexd siblings configure --name ${cycle[0]} --publish-depends ..." or git config --unset-all remote.${cycle[0]}.datalad-publish-depends)`);
  }
}

/**
 * Publication dependencies as a graph: remote → the remotes it depends on
 * (remote.NAME.datalad-publish-depends). DataLad follows these recursively
 * without a guard and loops forever on a cycle (datalad#5408); here every walk
 * detects cycles and reports the path.
 */
import { DependencyCycleError, OrchestrationError } from './errors.js';

/** remote name → its direct dependencies, in configuration order. */
export type DependencyGraph = ReadonlyMap<string, readonly string[]>;

/** Builds the graph from remotes and their (already whitespace-split) dependencies. */
export function dependencyGraph(remotes: Iterable<{ name: string; publishDepends: readonly string[] }>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const r of remotes) graph.set(r.name, [...new Set(r.publishDepends)]);
  return graph;
}

/**
 * The first cycle reachable from `start` (every node when omitted), as a
 * path whose first name is repeated at its end (`a -> b -> a`); undefined
 * when there is none. Depth-first with a path stack: each node is finished
 * once, so this is linear in the graph's size.
 */
export function findCycle(graph: DependencyGraph, start?: string): string[] | undefined {
  const done = new Set<string>();
  const onPath = new Map<string, number>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    const at = onPath.get(node);
    if (at !== undefined) return [...path.slice(at), node];
    if (done.has(node)) return undefined;
    onPath.set(node, path.length);
    path.push(node);
    for (const dep of graph.get(node) ?? []) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(node);
    done.add(node);
    return undefined;
  };
  for (const node of start === undefined ? graph.keys() : [start]) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

/**
 * The cycle that giving `name` the dependencies `deps` would make, or
 * undefined: what `siblings add|configure --publish-depends` must refuse.
 */
export function cycleIfDepends(graph: DependencyGraph, name: string, deps: readonly string[]): string[] | undefined {
  const next = new Map(graph);
  next.set(name, [...deps]);
  return findCycle(next, name);
}

/**
 * Every remote `target` needs, transitively, in an order where each comes
 * after all of its dependencies, `target` last. Throws DependencyCycleError
 * on a cycle, and names a dependency that is not a known remote.
 */
export function dependencyOrder(graph: DependencyGraph, target: string): string[] {
  const cycle = findCycle(graph, target);
  if (cycle) throw new DependencyCycleError(cycle);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (node: string, from: string | undefined): void => {
    if (seen.has(node)) return;
    if (!graph.has(node)) {
      throw new OrchestrationError(
        from === undefined
          ? `unknown remote "${node}"`
          : `"${from}" depends on "${node}" (remote.${from}.datalad-publish-depends), which is not a known remote: add it, or fix the dependency with "annexd siblings configure --name ${from} --publish-depends ..."`,
      );
    }
    seen.add(node);
    for (const dep of graph.get(node) ?? []) visit(dep, node);
    order.push(node);
  };
  visit(target, undefined);
  return order;
}

/** Every remote that depends on `node`, directly or not (whose git push a failure of `node` must stop). */
export function dependents(graph: DependencyGraph, node: string): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [name, deps] of graph) {
      if (out.has(name)) continue;
      if (deps.includes(node) || deps.some((d) => out.has(d))) {
        out.add(name);
        grew = true;
      }
    }
  }
  return out;
}

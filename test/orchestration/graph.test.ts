import { describe, expect, it } from 'vitest';
import { DependencyCycleError } from '../../src/orchestration/errors.js';
import { cycleIfDepends, dependencyGraph, dependencyOrder, dependents, findCycle } from '../../src/orchestration/graph.js';

const g = (edges: Record<string, string[]>) => dependencyGraph(Object.entries(edges).map(([name, publishDepends]) => ({ name, publishDepends })));

describe('publication dependency graph', () => {
  it('orders a chain a -> b -> c dependencies first', () => {
    expect(dependencyOrder(g({ a: ['b'], b: ['c'], c: [] }), 'a')).toEqual(['c', 'b', 'a']);
  });

  it('orders a diamond with each remote once', () => {
    expect(dependencyOrder(g({ top: ['s1', 's2'], s1: ['base'], s2: ['base'], base: [] }), 'top')).toEqual(['base', 's1', 's2', 'top']);
  });

  it('finds a cycle and names its path', () => {
    const graph = g({ a: ['b'], b: ['c'], c: ['a'], d: [] });
    expect(findCycle(graph, 'a')).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(graph, 'd')).toBeUndefined();
    expect(() => dependencyOrder(graph, 'a')).toThrow(DependencyCycleError);
    expect(() => dependencyOrder(graph, 'a')).toThrow('a -> b -> c -> a');
  });

  it('finds a cycle behind the start, and a self-loop', () => {
    expect(findCycle(g({ top: ['x'], x: ['y'], y: ['x'] }), 'top')).toEqual(['x', 'y', 'x']);
    expect(findCycle(g({ s: ['s'] }))).toEqual(['s', 's']);
  });

  it('tells which new dependency would close a cycle', () => {
    const graph = g({ a: ['b'], b: [], c: [] });
    expect(cycleIfDepends(graph, 'b', ['a'])).toEqual(['b', 'a', 'b']);
    expect(cycleIfDepends(graph, 'b', ['c'])).toBeUndefined();
  });

  it('names an unknown dependency and who asked for it', () => {
    expect(() => dependencyOrder(g({ a: ['ghost'] }), 'a')).toThrow(/"a" depends on "ghost".*not a known remote/);
  });

  it('lists everything a failure must stop', () => {
    expect([...dependents(g({ a: ['b'], b: ['c'], c: [], d: ['c'], e: [] }), 'c')].sort()).toEqual(['a', 'b', 'd']);
  });
});

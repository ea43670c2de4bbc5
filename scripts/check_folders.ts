/**
 * Data flows one way between src/'s folders: fails when a folder imports, through any chain of
 * files, a folder that imports it back (`model` -> `decode` -> `model`), which the file-level
 * cycle check (madge --circular) cannot see. Each top-level folder of src is a node, and so is
 * each file at src's top level (backend.ts, describe.ts, index.ts, browser.ts).
 *
 *   npm run check:folders          # prints the folder graph's order, or each cycle with the imports that make it
 */
import * as path from 'node:path';
import madge from 'madge';

const SRC = path.join(__dirname, '..', 'src');

/** The folder (or top-level file) of a path relative to src. */
function unitOf(file: string): string {
  const [first, ...rest] = file.split('/');
  return rest.length === 0 ? first : `${first}/`;
}

/** Tarjan's strongly connected components of a graph given by adjacency sets. */
function components(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const result: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      result.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return result;
}

async function main(): Promise<void> {
  const files = (await madge(SRC, { fileExtensions: ['ts'] })).obj();
  const graph = new Map<string, Set<string>>();
  const examples = new Map<string, string>();
  for (const [file, imports] of Object.entries(files)) {
    const from = unitOf(file);
    if (!graph.has(from)) graph.set(from, new Set());
    for (const imported of imports) {
      const to = unitOf(imported);
      if (to === from) continue;
      graph.get(from)!.add(to);
      if (!examples.has(`${from} ${to}`)) examples.set(`${from} ${to}`, `${file} imports ${imported}`);
    }
  }
  const cycles = components(graph).filter((c) => c.length > 1);
  if (cycles.length === 0) {
    // Tarjan's components come out in reverse topological order: the lowest folders first.
    const order = components(graph).map((c) => c[0]);
    console.log(`src folders import one way (${graph.size} folders): ${order.join(' < ')}`);
    return;
  }
  for (const cycle of cycles) {
    // One shortest way round the component, each step with an import that makes it.
    const members = new Set(cycle);
    const start = cycle[0];
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0 && !previous.has(start)) {
      const from = queue.shift()!;
      for (const to of graph.get(from)!) {
        if (!members.has(to) || previous.has(to)) continue;
        previous.set(to, from);
        queue.push(to);
      }
    }
    const way = [start];
    for (let at = previous.get(start)!; at !== start; at = previous.get(at)!) way.unshift(at);
    way.unshift(start);
    console.error(`import cycle between folders: ${way.join(' -> ')}`);
    for (let i = 0; i + 1 < way.length; i++) console.error(`  ${examples.get(`${way[i]} ${way[i + 1]}`)}`);
  }
  process.exitCode = 1;
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

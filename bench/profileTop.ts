/**
 * The top entries of V8 CPU profiles (`node --cpu-prof`, as `bench:proxy --profile <dir>`
 * writes them): self time per function, as a share of the busy (non-idle) time, summed over
 * every profile given, and the same summed per source file. Used for issue 25's before/after
 * tables in docs/benchmarks.md.
 *
 * Usage: npm run bench:profile-top -- <file.cpuprofile | dir>… [--top <n>] [--json]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Samples where the process waited, not worked: left out of the busy time every share is of. */
const idle = new Set(['(idle)', '(program)']);

/** Where a sample was, named as a reader of the table wants it: function, file and line. */
function frameName(node: ProfileNode): { fn: string; file: string } {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url === '' ? '(native)' : url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
  const name = functionName === '' ? '(anonymous)' : functionName;
  return { fn: url === '' ? `${name} (native)` : `${name} ${file}:${lineNumber + 1}`, file };
}

interface Times {
  /** Self time per function. */
  byFunction: Map<string, number>;
  /** Self time per source file. */
  byFile: Map<string, number>;
  /** Time with the function anywhere on the stack (counted once per sample, recursion or not). */
  inclusive: Map<string, number>;
}

const add = (times: Map<string, number>, key: string, us: number): void => void times.set(key, (times.get(key) ?? 0) + us);

/** Adds one profile's times, µs (each sample weighed by its time delta). */
function addTimes(profile: CpuProfile, times: Times): void {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  profile.samples.forEach((id, index) => {
    const node = nodes.get(id);
    const delta = profile.timeDeltas[index] ?? 0;
    if (node === undefined || idle.has(node.callFrame.functionName)) return;
    const { fn, file } = frameName(node);
    add(times.byFunction, fn, delta);
    add(times.byFile, file, delta);
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const frame = nodes.get(at);
      if (frame !== undefined) onStack.add(frameName(frame).fn);
    }
    for (const name of onStack) add(times.inclusive, name, delta);
  });
}

function profilesIn(paths: readonly string[]): string[] {
  return paths.flatMap((path) =>
    statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((name) => name.endsWith('.cpuprofile'))
          .map((name) => join(path, name))
      : [path],
  );
}

function top(times: Map<string, number>, busy: number, count: number): { name: string; share: number }[] {
  return [...times]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => ({ name, share: us / busy }));
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, json: { type: 'boolean', default: false } },
  });
  const files = profilesIn(positionals);
  if (files.length === 0) throw new Error('no .cpuprofile given: pass the files or the folder `bench:proxy --profile` wrote');
  const times: Times = { byFunction: new Map(), byFile: new Map(), inclusive: new Map() };
  for (const file of files) addTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, times);
  const busy = [...times.byFunction.values()].reduce((sum, us) => sum + us, 0);
  const count = Number(values.top);
  const result = {
    profiles: files.length,
    busySeconds: busy / 1e6,
    functions: top(times.byFunction, busy, count),
    files: top(times.byFile, busy, count),
    inclusive: top(times.inclusive, busy, count),
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const percent = (share: number): string => `${(share * 100).toFixed(1).padStart(5)} %`;
  process.stdout.write(
    `${files.length} profile(s), ${result.busySeconds.toFixed(1)} s busy (idle and (program) left out)\n\nself time by function:\n`,
  );
  for (const { name, share } of result.functions) process.stdout.write(`${percent(share)}  ${name}\n`);
  process.stdout.write('\nself time by file:\n');
  for (const { name, share } of result.files) process.stdout.write(`${percent(share)}  ${name}\n`);
  process.stdout.write('\ntime on the stack (self and callees) by function:\n');
  for (const { name, share } of result.inclusive) process.stdout.write(`${percent(share)}  ${name}\n`);
}

main();

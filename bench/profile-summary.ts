/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and
 * by package or file, so RESULTS.md can say where the time goes.
 *
 *   node dist/bench/profile-summary.js <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine, readCommandLine, usageError } from '../examples/reference-server/command-line.js';
import { codeArea } from './code-area.js';
import { fixed, table } from './figures.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const usage = 'Usage: node dist/bench/profile-summary.js <file.cpuprofile> [--top 25]';
const commandLine = readCommandLine(usage, () =>
  parseCommandLine({
    allowPositionals: true,
    options: { top: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  }),
);
const file = commandLine.positionals[0];
if (file === undefined) usageError(usage, 'which .cpuprofile? (node --cpu-prof writes one)');
const top = commandLine.number('top', 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const area = codeArea;

const byFunction = new Map<string, number>();
const byArea = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  if (node === undefined) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || '(anonymous)'} ${area(url)}:${lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  byArea.set(area(url), (byArea.get(area(url)) ?? 0) + us);
}
// Inclusive time: each sample's time counts once for every distinct function on its stack.
const inclusive = new Map<string, number>();
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
const keyOf = (node: ProfileNode) =>
  `${node.callFrame.functionName || '(anonymous)'} ${area(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
    const node = byId.get(at);
    if (node === undefined) break;
    const key = keyOf(node);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}

const rows = (map: Map<string, number>) =>
  [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, us]) => [key, `${fixed(us / 1000, 0)} ms`, `${fixed((us / total) * 100)} %`]);
console.log(`${file}: ${fixed(total / 1000, 0)} ms sampled`);
console.log(table(['self time by area', 'ms', 'share'], rows(byArea)));
console.log();
console.log(table(['self time by function', 'ms', 'share'], rows(byFunction)));
console.log();
console.log(table(['inclusive time by function', 'ms', 'share'], rows(inclusive)));

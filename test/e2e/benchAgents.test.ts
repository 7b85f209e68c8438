import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('bench:agents', () => {
  it('runs its short mode end to end: the fleet straight to the simulated upstream and through ratewarden run', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'bench/agents.ts', '--short', '--seeds', '1', '--scenarios', 'one-key', '--json'],
      { cwd: root, timeout: 50_000 },
    );
    const lines = stdout.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('| one-key | 1 |')).map((line) => line.split(' | ')[2])).toEqual([
      'no proxy',
      'ratewarden',
    ]);
    const [row] = JSON.parse(lines.at(-1) ?? '[]') as { runs: Record<string, { upstreamRequests: number; turns: number }> }[];
    // Both runs reached the upstream and started turns; what they achieved is the benchmark's to report, not the test's.
    expect(row?.runs['no proxy']?.upstreamRequests).toBeGreaterThan(0);
    expect(row?.runs.ratewarden?.upstreamRequests).toBeGreaterThan(0);
    expect(row?.runs.ratewarden?.turns).toBeGreaterThan(0);
  });
});

// Issue 9 item 10: one Ctrl-C with the output piped (`ratewarden run … | tee run.log`) is a
// graceful stop; the reader that goes first must not take the proxy, or a request, with it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimUpstream, type SimUpstream } from '../../src/sim/upstream.js';
import { openDatabase } from '../../src/store/sqlite/open.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { binary, cliEnv, requireBuild } from './operatorCli.js';

const dirs = new ScratchDirs();
const children: ChildProcess[] = [];
const sims: SimUpstream[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  await Promise.all(sims.splice(0).map((sim) => sim.close()));
  dirs.removeAll();
});

const streamedEvents = 8;

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** The worker's address, from its heartbeat row: the output may go where the test cannot read it. */
async function workerUrl(dbPath: string): Promise<{ url: string; pid: number }> {
  const deadline = Date.now() + 20_000;
  let db: Database | null = null;
  try {
    for (;;) {
      if (db === null && existsSync(dbPath)) {
        try {
          db = openDatabase(dbPath, { readonly: true });
        } catch {
          db = null;
        }
      }
      const row = db?.prepare("SELECT pid, listen FROM processes WHERE role = 'worker'").get() as
        { pid: number; listen: string } | undefined;
      if (row !== undefined) return { url: row.listen, pid: row.pid };
      if (Date.now() > deadline) throw new Error('no worker wrote its heartbeat within 20 s');
      await sleep(50);
    }
  } finally {
    db?.close();
  }
}

/** A streamed Messages request that has begun: its first bytes have arrived. */
async function beginStream(url: string): Promise<{ rest: Promise<string> }> {
  const response = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-test' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const first = await reader.read();
  let text = decoder.decode(first.value, { stream: true });
  const rest = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return { rest };
}

type Output = 'pipe-reader-dies-first' | 'read-to-the-end';

async function ctrlCDuringAStream(supervised: boolean, output: Output): Promise<void> {
  requireBuild();
  const home = dirs.make();
  const dbPath = join(home, 'rw.db');
  const sim = await startSimUpstream({ streamChunks: streamedEvents, streamDelayMs: 250 });
  sims.push(sim);
  // The reader of the pipe: `cat`, which a Ctrl-C ends as it ends `tee`, `grep` or a pager.
  const reader = output === 'pipe-reader-dies-first' ? spawn('cat', [], { stdio: ['pipe', 'ignore', 'ignore'] }) : null;
  if (reader !== null) children.push(reader);
  const args = [
    binary,
    'run',
    ...(supervised ? [] : ['--no-supervise']),
    '--db',
    dbPath,
    '--upstream',
    sim.url,
    '--provider',
    'anthropic',
    '--listen',
    '127.0.0.1:0',
    '--stop-timeout',
    '30s',
  ];
  const stdio =
    reader !== null && reader.stdin !== null ? (['ignore', reader.stdin, reader.stdin] as const) : (['ignore', 'pipe', 'pipe'] as const);
  const proxy = spawn(process.execPath, args, { stdio: [...stdio], env: cliEnv(home) });
  children.push(proxy);
  // Both ends of the pipe now belong to the two processes alone.
  reader?.stdin?.destroy();
  let seen = '';
  proxy.stdout?.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
  });
  proxy.stderr?.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
  });

  const worker = await workerUrl(dbPath);
  const stream = await beginStream(worker.url);
  if (reader !== null) {
    // A Ctrl-C reaches the whole foreground group; the case that broke is the reader ending first.
    reader.kill('SIGINT');
    expect((await exitOf(reader)).signal).toBe('SIGINT');
  }
  proxy.kill('SIGINT');
  const body = await stream.rest;
  expect(body.split('event: content_block_delta').length - 1).toBe(streamedEvents);
  expect(body).toContain('event: message_stop');
  expect(await exitOf(proxy), seen).toEqual({ code: 0, signal: null });
  // The worker has stopped too, and was not cut off.
  expect(() => process.kill(worker.pid, 0)).toThrow();
  if (reader === null) {
    expect(seen).toMatch(supervised ? /SIGTERM received; finishing in-flight requests/ : /SIGINT received; finishing in-flight requests/);
    expect(seen).not.toContain('cut off');
  }
}

describe('Ctrl-C during a streamed request', () => {
  it('under the supervisor, with the output piped to a reader that dies first: the stream finishes, exit 0', async () => {
    await ctrlCDuringAStream(true, 'pipe-reader-dies-first');
  });

  it('with --no-supervise, with the output piped to a reader that dies first: the stream finishes, exit 0', async () => {
    await ctrlCDuringAStream(false, 'pipe-reader-dies-first');
  });

  it('under the supervisor, output read to the end: the stream finishes, exit 0', async () => {
    await ctrlCDuringAStream(true, 'read-to-the-end');
  });

  it('with --no-supervise, output read to the end: the stream finishes, exit 0', async () => {
    await ctrlCDuringAStream(false, 'read-to-the-end');
  });
});

import Anthropic from '@anthropic-ai/sdk';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentConversation, claudeCodeShape } from '../src/sim/agentConversation.js';
import type { AttemptRecord, CallOutcome, CallRecord, FleetRecords } from '../src/sim/agentMeasures.js';
import { SeededRandom } from '../src/sim/seededRandom.js';

/*
 * bench:agents' clients: coding agents shaped like Claude Code on the official @anthropic-ai/sdk
 * at its default retries (maxRetries 2, Retry-After honoured, its own backoff otherwise). Each is
 * a loop of streamed turns; a call that still fails after the SDK's retries is a client-visible
 * failure, and the agent tries the same turn again after a pause (as a user or Claude Code
 * would), so a turn lasts from its first attempt to its success. A fetch wrapper only watches
 * each attempt (status, ratewarden's reason, Retry-After); nothing of the SDK is re-implemented.
 */

export interface AgentPlan {
  key: string;
  model: string;
  modelClass: string;
  /** Wall-clock ms after the run's start when the agent starts. */
  startAfterMs: number;
  /** Stop after this many successful turns (Infinity: until the run ends). */
  turns: number;
  /** Wall-clock ms after the run's start after which the agent starts no new turn; absent: never. */
  stopAfterMs?: number;
  /** Agents with the same session send the same `X-Claude-Code-Session-Id` (a flood from one session); absent: its own. */
  session?: string;
  /** Turn times are also reported per role (`light`, `flood`); absent: `agent`. */
  role?: string;
  maxTokens: number;
}

export interface FleetTiming {
  timeScale: number;
  /** Real-time think time between turns (and after a failed call): 0–2 s. */
  thinkTimeMs: readonly [number, number];
}

function outcomeOf(error: unknown): CallOutcome {
  if (error instanceof Anthropic.RateLimitError) return 'rate-limited';
  if (error instanceof Anthropic.APIConnectionError) return 'connection';
  if (error instanceof Anthropic.InternalServerError) return 'server-error';
  return 'other';
}

function retryAfterOf(response: Response): number | null {
  const ms = Number.parseFloat(response.headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms)) return ms;
  const seconds = Number.parseFloat(response.headers.get('retry-after') ?? '');
  return Number.isFinite(seconds) ? seconds * 1000 : null;
}

/** Runs the fleet against `baseURL` until `stop` aborts or every agent did its turns. */
export async function runFleet(
  baseURL: string,
  plans: readonly AgentPlan[],
  seed: number,
  timing: FleetTiming,
  stop: AbortSignal,
): Promise<FleetRecords> {
  setMaxListeners(8 * plans.length + 10, stop);
  const records: FleetRecords = { calls: [], turns: [] };
  const root = new SeededRandom(seed).fork('agents');
  const pause = (ms: number): Promise<boolean> => sleep(ms, true, { signal: stop }).catch(() => false);
  const think = (random: SeededRandom): number => random.between(timing.thinkTimeMs[0], timing.thinkTimeMs[1]) / timing.timeScale;

  async function agent(index: number, plan: AgentPlan): Promise<void> {
    const random = root.fork(`agent ${index}`);
    const ownSession = `session-${seed}-${index}-${Math.floor(random.next() * 1e9).toString(36)}`;
    const sessionId = plan.session === undefined ? ownSession : `session-${seed}-${plan.session}`;
    const conversation = new AgentConversation(sessionId, claudeCodeShape(plan.model, plan.maxTokens), random.fork('conversation'));
    let attempts: AttemptRecord[] = [];
    const watchingFetch: typeof fetch = async (input, init) => {
      const sentAt = Date.now();
      try {
        const response = await fetch(input, init);
        attempts.push({
          sentAt,
          answeredAt: Date.now(),
          status: response.status,
          reason: response.headers.get('x-ratewarden-reason'),
          retryAfterMs: retryAfterOf(response),
        });
        return response;
      } catch (error) {
        attempts.push({ sentAt, answeredAt: Date.now(), status: null, reason: null, retryAfterMs: null });
        throw error;
      }
    };
    const sdk = new Anthropic({ apiKey: plan.key, baseURL, fetch: watchingFetch });
    const runStartedAt = Date.now();
    const mayStartTurn = (): boolean => plan.stopAfterMs === undefined || Date.now() - runStartedAt < plan.stopAfterMs;
    if (!(await pause(plan.startAfterMs))) return;
    for (let done = 0; done < plan.turns && !stop.aborted && mayStartTurn();) {
      const turn = conversation.nextTurn();
      const turnStartedAt = Date.now();
      let finished = false;
      while (!finished && !stop.aborted) {
        attempts = [];
        const startedAt = Date.now();
        const call: CallRecord = {
          agent: index,
          key: plan.key,
          modelClass: plan.modelClass,
          startedAt,
          endedAt: startedAt,
          outcome: 'stopped',
          attempts,
          usage: null,
        };
        try {
          const message = await sdk.messages
            .stream(turn.params, {
              headers: { 'X-Claude-Code-Session-Id': sessionId, 'x-sim-answer-tokens': String(turn.answerTokens) },
              signal: stop,
            })
            .finalMessage();
          call.outcome = 'ok';
          const { usage } = message;
          call.usage = {
            input: usage.input_tokens,
            cacheCreation: usage.cache_creation_input_tokens ?? 0,
            cacheRead: usage.cache_read_input_tokens ?? 0,
            output: usage.output_tokens,
          };
          conversation.answered(message.content.map((block) => (block.type === 'text' ? block.text : '')).join(''));
          finished = true;
        } catch (error) {
          call.outcome = stop.aborted ? 'stopped' : outcomeOf(error);
        }
        call.endedAt = Date.now();
        records.calls.push(call);
        if (!finished && !(await pause(think(random)))) break;
      }
      records.turns.push({ agent: index, role: plan.role ?? 'agent', startedAt: turnStartedAt, endedAt: Date.now(), finished });
      if (finished) done += 1;
      if (!(await pause(think(random)))) break;
    }
  }

  await Promise.all(plans.map((plan, index) => agent(index, plan)));
  return records;
}

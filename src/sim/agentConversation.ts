import type { SeededRandom } from './seededRandom.js';

/**
 * The requests of one coding agent shaped like Claude Code: a large system prompt marked for
 * the cache, a conversation that grows by a tool result and an answer per turn, the last message
 * marked for the cache (so every turn after the first is mostly cache reads), a large
 * `max_tokens`, and a new conversation once the context passes its cap (a new task, or a
 * compaction). Pure: its randomness is the seeded generator it is given.
 */
export interface AgentShape {
  model: string;
  maxTokens: number;
  systemTokens: number;
  /** The first user message of a conversation. */
  openingTokens: readonly [number, number];
  /** Each later user message (a tool result, a file). */
  userTokens: readonly [number, number];
  /** How long the model's answer is before max_tokens. */
  answerTokens: readonly [number, number];
  /** A conversation past this many tokens starts afresh. */
  contextCapTokens: number;
}

export const claudeCodeShape = (model: string, maxTokens = 32_000): AgentShape => ({
  model,
  maxTokens,
  systemTokens: 4_000,
  openingTokens: [800, 1_500],
  userTokens: [300, 3_000],
  answerTokens: [200, 2_000],
  contextCapTokens: 40_000,
});

interface TextBlock {
  type: 'text';
  text: string;
  cache_control?: { type: 'ephemeral' };
}

export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: TextBlock[];
}

export interface TurnRequest {
  params: {
    model: string;
    max_tokens: number;
    system: TextBlock[];
    messages: ConversationMessage[];
  };
  /** The answer's natural length, for the simulated upstream (`x-sim-answer-tokens`). */
  answerTokens: number;
}

/** Text the simulated tokenizer counts as `tokens` (four characters each), unique to its label. */
export function filler(label: string, tokens: number): string {
  const head = `${label} `;
  const length = Math.max(tokens * 4, head.length);
  return head + 'lorem ipsum dolor sit amet '.repeat(Math.ceil(length / 27)).slice(0, length - head.length);
}

function draw(random: SeededRandom, range: readonly [number, number]): number {
  return random.integer(range[0], range[1]);
}

export class AgentConversation {
  private readonly system: TextBlock[];
  private messages: ConversationMessage[] = [];
  private tokens = 0;
  private conversations = 0;
  private turns = 0;

  constructor(
    private readonly label: string,
    private readonly shape: AgentShape,
    private readonly random: SeededRandom,
  ) {
    // Every agent of a fleet runs the same tool, so they share one system prompt (and its cache entry).
    this.system = [{ type: 'text', text: filler('system prompt', shape.systemTokens), cache_control: { type: 'ephemeral' } }];
  }

  /** The next turn's request: a new user message (a new conversation when the last grew too long). */
  nextTurn(): TurnRequest {
    if (this.messages.length === 0 || this.tokens > this.shape.contextCapTokens) this.startConversation();
    else this.addUser(draw(this.random, this.shape.userTokens));
    this.turns += 1;
    return {
      params: { model: this.shape.model, max_tokens: this.shape.maxTokens, system: this.system, messages: [...this.messages] },
      answerTokens: draw(this.random, this.shape.answerTokens),
    };
  }

  /** The answer joins the conversation once it arrived in full. */
  answered(text: string): void {
    this.messages.push({ role: 'assistant', content: [{ type: 'text', text }] });
    this.tokens += Math.ceil(text.length / 4);
  }

  /** Tokens of the conversation so far, the system prompt included. */
  contextTokens(): number {
    return this.tokens;
  }

  private startConversation(): void {
    this.conversations += 1;
    this.messages = [];
    this.tokens = this.shape.systemTokens;
    this.addUser(draw(this.random, this.shape.openingTokens));
  }

  private addUser(tokens: number): void {
    // Only the newest message carries the breakpoint; the cache finds the last turn's prefix by itself.
    this.messages = this.messages.map((message) => ({ ...message, content: message.content.map(({ type, text }) => ({ type, text })) }));
    this.messages.push({
      role: 'user',
      content: [
        {
          type: 'text',
          text: filler(`${this.label} conversation ${this.conversations} turn ${this.turns}`, tokens),
          cache_control: { type: 'ephemeral' },
        },
      ],
    });
    this.tokens += tokens;
  }
}

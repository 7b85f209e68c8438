import { createHash } from 'node:crypto';

/**
 * Anthropic's prompt cache as its documentation describes it: a prefix of the prompt (tools,
 * system, messages, in that order) up to a block marked `cache_control` is written on first use
 * (`cache_creation_input_tokens`) and read by later requests with the same prefix
 * (`cache_read_input_tokens`) while it lives: 5 minutes by default, refreshed by every hit. A hit
 * is looked for at each breakpoint and at the block boundaries up to 20 blocks before it. Caches
 * are kept apart per workspace (the organization's, unless a key says otherwise). Prefixes
 * shorter than the model's minimum (1024 tokens for the Sonnet and Opus classes) are not cached.
 */
export interface PromptBlock {
  text: string;
  cacheControl: boolean;
}

export interface CacheUsage {
  inputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

export interface PromptCacheOptions {
  ttlMs: number;
  minCacheableTokens: number;
  /** How many block boundaries before a breakpoint are checked for a hit; Anthropic: about 20. */
  lookbackBlocks?: number;
}

/** The simulated tokenizer: four characters a token, the rule ratewarden's own estimate uses. */
export function tokensOfText(text: string): number {
  return Math.ceil(text.length / 4);
}

export class PromptCache {
  private readonly entries = new Map<string, number>();
  private readonly lookback: number;

  constructor(private readonly options: PromptCacheOptions) {
    this.lookback = options.lookbackBlocks ?? 20;
  }

  /**
   * The usage split of one request; it reads and writes the cache unless `dryRun` (what a request
   * would be charged, before it is known to be admitted).
   */
  use(workspace: string, blocks: readonly PromptBlock[], now: number, { dryRun = false } = {}): CacheUsage {
    const ends: number[] = [];
    const hashes: string[] = [];
    let total = 0;
    let hash = createHash('sha1').update(workspace);
    for (const block of blocks) {
      total += tokensOfText(block.text);
      hash = hash.copy().update('\u0000').update(block.text);
      ends.push(total);
      hashes.push(hash.copy().digest('hex'));
    }
    const breakpoints = blocks.flatMap((block, index) => (block.cacheControl ? [index] : [])).slice(-4);
    if (breakpoints.length === 0) return { inputTokens: total, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };

    let readEnd = -1;
    for (const breakpoint of breakpoints) {
      for (let index = breakpoint; index >= Math.max(0, breakpoint - this.lookback + 1) && index > readEnd; index--) {
        const expiresAt = this.entries.get(hashes[index] ?? '');
        if (expiresAt !== undefined && expiresAt > now) {
          readEnd = index;
          break;
        }
      }
    }
    const read = readEnd >= 0 ? (ends[readEnd] ?? 0) : 0;
    if (readEnd >= 0 && !dryRun) this.entries.set(hashes[readEnd] ?? '', now + this.options.ttlMs);

    let written = read;
    for (const breakpoint of breakpoints) {
      const end = ends[breakpoint] ?? 0;
      if (breakpoint <= readEnd || end < this.options.minCacheableTokens) continue;
      if (!dryRun) this.entries.set(hashes[breakpoint] ?? '', now + this.options.ttlMs);
      written = Math.max(written, end);
    }
    this.prune(now);
    return { inputTokens: total - written, cacheCreationInputTokens: written - read, cacheReadInputTokens: read };
  }

  private prune(now: number): void {
    if (this.entries.size < 10_000) return;
    for (const [key, expiresAt] of this.entries) if (expiresAt <= now) this.entries.delete(key);
  }
}

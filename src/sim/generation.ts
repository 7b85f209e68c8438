/** What the simulated model "generates" for one request, independent of the wire format. */
export interface Generation {
  id: string;
  model: string;
  createdAtMs: number;
  inputTokens: number;
  outputTokens: number;
  /** The text split into the content deltas a stream sends, each with the tokens it costs. */
  pieces: TextPiece[];
  /** True when generation stopped because it reached the request's `max_tokens`. */
  hitMaxTokens: boolean;
}

export interface TextPiece {
  text: string;
  tokens: number;
}

/** One server-sent event; `outputTokens` is what generating it costs, charged as it is sent. */
export interface SseStep {
  event: string | undefined;
  data: string;
  outputTokens: number;
}

const WORDS = ['the', 'quick', 'simulated', 'model', 'answers', 'politely', 'and', 'briefly'];

function words(from: number, count: number): string {
  return Array.from({ length: count }, (_, offset) => WORDS[(from + offset) % WORDS.length]).join(' ');
}

export interface GenerationRequest {
  id: string;
  model: string;
  createdAtMs: number;
  inputTokens: number;
  /** How long the answer would be if nothing cut it short. */
  naturalTokens: number;
  maxTokens: number | undefined;
  pieces: number;
}

/** One word per token, spread as evenly as possible over at most `pieces` deltas. */
export function planGeneration(request: GenerationRequest): Generation {
  const { naturalTokens, maxTokens } = request;
  const outputTokens = maxTokens === undefined ? naturalTokens : Math.min(naturalTokens, maxTokens);
  const pieceCount = Math.min(Math.max(1, request.pieces), outputTokens);
  const pieces: TextPiece[] = [];
  let produced = 0;
  for (let index = 0; index < pieceCount; index++) {
    const tokens = Math.floor(outputTokens / pieceCount) + (index < outputTokens % pieceCount ? 1 : 0);
    pieces.push({ text: (index === 0 ? '' : ' ') + words(produced, tokens), tokens });
    produced += tokens;
  }
  return {
    id: request.id,
    model: request.model,
    createdAtMs: request.createdAtMs,
    inputTokens: request.inputTokens,
    outputTokens,
    pieces,
    hitMaxTokens: outputTokens < naturalTokens,
  };
}

export function fullText(generation: Generation): string {
  return generation.pieces.map((piece) => piece.text).join('');
}

/**
 * Reads a few top-level members of a JSON object body without building the rest of it: a
 * request body can be megabytes of messages, and admission needs only `model` and `max_tokens`.
 *
 * Above a few KiB the body is scanned rather than parsed. The whole body is still checked against the JSON grammar, so the answer is exactly what
 * `JSON.parse(body.toString('utf8'))` would give for those members: undefined when the body is
 * not JSON or not an object, the last of duplicate members. It works on bytes: a body that is not
 * valid UTF-8 decodes with replacement characters, which change nothing outside strings (every
 * byte there must be ASCII) and nothing that matters inside them.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const IN_OBJECT = 1;
const IN_ARRAY = 2;

/** Marks that a string is not valid JSON. */
const INVALID = -1;

function isWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function skipWhitespace(body: Buffer, at: number): number {
  while (isWhitespace(body[at])) at++;
  return at;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= ZERO && byte <= NINE;
}

function isHex(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= ZERO && byte <= NINE) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));
}

/** `"`, `\`, `/`, b, f, n, r, t: the escapes JSON allows besides \u. */
function isSimpleEscape(byte: number | undefined): boolean {
  return (
    byte === QUOTE ||
    byte === BACKSLASH ||
    byte === 0x2f ||
    byte === 0x62 ||
    byte === 0x66 ||
    byte === 0x6e ||
    byte === 0x72 ||
    byte === 0x74
  );
}

/** From the opening quote: the index after the closing one, or INVALID. */
function skipString(body: Buffer, at: number): number {
  const end = body.length;
  let index = at + 1;
  while (index < end) {
    const byte = body[index] as number;
    if (byte === QUOTE) return index + 1;
    if (byte === BACKSLASH) {
      const escaped = body[index + 1];
      if (isSimpleEscape(escaped)) index += 2;
      else if (escaped === 0x75 && isHex(body[index + 2]) && isHex(body[index + 3]) && isHex(body[index + 4]) && isHex(body[index + 5]))
        index += 6;
      else return INVALID;
    } else if (byte < 0x20) {
      return INVALID;
    } else {
      index += 1;
    }
  }
  return INVALID;
}

function skipDigits(body: Buffer, at: number): number {
  while (isDigit(body[at])) at++;
  return at;
}

/** -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?: the index after it, or INVALID. */
function skipNumber(body: Buffer, at: number): number {
  let index = body[at] === MINUS ? at + 1 : at;
  if (body[index] === ZERO) index += 1;
  else if (isDigit(body[index])) index = skipDigits(body, index);
  else return INVALID;
  if (body[index] === DOT) {
    if (!isDigit(body[index + 1])) return INVALID;
    index = skipDigits(body, index + 1);
  }
  if (body[index] === 0x65 || body[index] === 0x45) {
    index += 1;
    if (body[index] === PLUS || body[index] === MINUS) index += 1;
    if (!isDigit(body[index])) return INVALID;
    index = skipDigits(body, index);
  }
  return index;
}

const LITERALS: readonly Buffer[] = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];

function skipLiteral(body: Buffer, at: number): number {
  for (const literal of LITERALS) {
    const end = at + literal.length;
    if (end <= body.length && body[at] === literal[0] && body.compare(literal, 0, literal.length, at, end) === 0) return end;
  }
  return INVALID;
}

/** The wanted member names, as the bytes an unescaped name is compared with. */
export interface WantedFields {
  names: readonly string[];
  bytes: readonly Buffer[];
  longest: number;
}

export function wantedFields(names: readonly string[]): WantedFields {
  return { names, bytes: names.map((name) => Buffer.from(name)), longest: Math.max(0, ...names.map((name) => name.length)) };
}

/** Which wanted member the name between `start` and `end` (quotes included) is; -1 for none. */
function wantedIndex(body: Buffer, start: number, end: number, wanted: WantedFields): number {
  const length = end - start - 2;
  // An escape takes up to six bytes per character.
  if (length > wanted.longest * 6) return -1;
  for (let at = start + 1; at < end - 1; at++) {
    if (body[at] === BACKSLASH) return wanted.names.indexOf(JSON.parse(body.toString('utf8', start, end)) as string);
  }
  for (let index = 0; index < wanted.bytes.length; index++) {
    const name = wanted.bytes[index] as Buffer;
    if (name.length === length && body.compare(name, 0, length, start + 1, end - 1) === 0) return index;
  }
  return -1;
}

/*
 * Below a few KiB JSON.parse, native, is the faster of the two (2 µs against 3 for a 350-byte
 * body); above, the scan is (25 µs against 40 at 10 KB, 2 ms against 5 at 1 MB) and builds
 * nothing. Both give the same answer.
 */
const scanAboveBytes = 4_096;

/**
 * The members of the top-level object named in `wanted`, as JSON.parse reads them; undefined
 * when the body is not a JSON object (or not JSON at all).
 */
export function readTopLevelFields(body: Buffer, wanted: WantedFields): Record<string, unknown> | undefined {
  return body.length > scanAboveBytes ? scanTopLevelFields(body, wanted) : parseTopLevelFields(body, wanted);
}

function parseTopLevelFields(body: Buffer, wanted: WantedFields): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const fields: Record<string, unknown> = {};
  for (const name of wanted.names) if (Object.hasOwn(parsed, name)) fields[name] = (parsed as Record<string, unknown>)[name];
  return fields;
}

/** readTopLevelFields by a scan of the bytes, whatever the body's size. */
export function scanTopLevelFields(body: Buffer, wanted: WantedFields): Record<string, unknown> | undefined {
  let index = skipWhitespace(body, 0);
  if (body[index] !== OPEN_OBJECT) return undefined;
  // Per wanted member, where its (last) value starts and ends.
  const found: number[] = [];
  const stack: number[] = [];
  let member = -1;
  let valueStart = 0;

  /** At a member's opening quote: notes which wanted member it is (at the top level); the index of its value, or INVALID. */
  function readName(at: number): number {
    if (body[at] !== QUOTE) return INVALID;
    const after = skipString(body, at);
    if (after === INVALID) return INVALID;
    if (stack.length === 1) member = wantedIndex(body, at, after, wanted);
    const colon = skipWhitespace(body, after);
    return body[colon] === COLON ? skipWhitespace(body, colon + 1) : INVALID;
  }

  for (;;) {
    // A value starts at `index`.
    if (stack.length === 1) valueStart = index;
    const byte = body[index];
    if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      const inside = skipWhitespace(body, index + 1);
      if (body[inside] === (byte === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        index = inside + 1;
      } else {
        stack.push(byte === OPEN_OBJECT ? IN_OBJECT : IN_ARRAY);
        index = byte === OPEN_OBJECT ? readName(inside) : inside;
        if (index === INVALID) return undefined;
        continue;
      }
    } else {
      index = skipScalar(body, index);
    }
    if (index === INVALID) return undefined;

    // A value ended at `index`: close what it ends, up to the next value.
    for (;;) {
      if (stack.length === 0) return skipWhitespace(body, index) === body.length ? fieldsOf(body, found, wanted) : undefined;
      if (stack.length === 1 && member !== -1) {
        found[member * 2] = valueStart;
        found[member * 2 + 1] = index;
      }
      index = skipWhitespace(body, index);
      const container = stack[stack.length - 1];
      const next = body[index];
      if (next === COMMA) {
        index = skipWhitespace(body, index + 1);
        if (container === IN_OBJECT) index = readName(index);
        if (index === INVALID) return undefined;
        break;
      }
      if (next !== (container === IN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) return undefined;
      stack.pop();
      index += 1;
    }
  }
}

/** Past the string, number or literal that starts at `index`; INVALID when it is none. */
function skipScalar(body: Buffer, index: number): number {
  const byte = body[index];
  if (byte === QUOTE) return skipString(body, index);
  if (byte === MINUS || isDigit(byte)) return skipNumber(body, index);
  return skipLiteral(body, index);
}

function fieldsOf(body: Buffer, found: readonly number[], wanted: WantedFields): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (let index = 0; index < wanted.names.length; index++) {
    const start = found[index * 2];
    if (start !== undefined) fields[wanted.names[index] as string] = valueAt(body, start, found[index * 2 + 1] as number);
  }
  return fields;
}

/** A value already checked against the grammar: numbers and plain strings need no JSON.parse. */
function valueAt(body: Buffer, start: number, end: number): unknown {
  const first = body[start];
  if (first === MINUS || isDigit(first)) return Number(body.toString('latin1', start, end));
  if (first === QUOTE && !body.subarray(start + 1, end - 1).includes(BACKSLASH)) return body.toString('utf8', start + 1, end - 1);
  return JSON.parse(body.toString('utf8', start, end)) as unknown;
}

import { describe, expect, it } from 'vitest';
import { localErrorBody, type LocalErrorKind } from '../../../src/proxy/providers/errorBodies.js';

const KINDS: LocalErrorKind[] = ['rate_limit', 'overloaded', 'bad_gateway', 'timeout', 'too_large', 'unavailable', 'not_found'];

describe('localErrorBody', () => {
  it('answers a rate limit in the shape each provider uses', () => {
    expect(JSON.parse(localErrorBody('anthropic', 'rate_limit', 'slow down'))).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'slow down' },
    });
    expect(JSON.parse(localErrorBody('openai', 'rate_limit', 'slow down'))).toEqual({
      error: { message: 'slow down', type: 'rate_limit_exceeded', param: null, code: 'rate_limit_exceeded' },
    });
    expect(JSON.parse(localErrorBody('generic', 'rate_limit', 'slow down'))).toEqual({
      error: { type: 'rate_limit', message: 'slow down' },
    });
  });

  it('maps every kind to the provider error types', () => {
    const anthropicTypes = KINDS.map((kind) => JSON.parse(localErrorBody('anthropic', kind, 'm')).error.type);
    expect(anthropicTypes).toEqual([
      'rate_limit_error',
      'overloaded_error',
      'api_error',
      'timeout_error',
      'request_too_large',
      'api_error',
      'not_found_error',
    ]);
    const openAiTypes = KINDS.map((kind) => JSON.parse(localErrorBody('openai', kind, 'm')).error.type);
    expect(openAiTypes).toEqual([
      'rate_limit_exceeded',
      'server_error',
      'server_error',
      'server_error',
      'invalid_request_error',
      'server_error',
      'invalid_request_error',
    ]);
  });

  it('escapes the message safely', () => {
    const message = 'quote " backslash \\ newline \n';
    expect(JSON.parse(localErrorBody('anthropic', 'bad_gateway', message)).error.message).toBe(message);
  });
});

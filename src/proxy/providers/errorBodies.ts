import type { ProviderName } from './types.js';

export type LocalErrorKind =
  'rate_limit' | 'quota' | 'overloaded' | 'bad_gateway' | 'timeout' | 'too_large' | 'unavailable' | 'not_found' | 'bad_request';

/** The `error.type` values of Anthropic's error responses; SDKs pick the exception class from the status. */
const ANTHROPIC_ERROR_TYPE: Record<LocalErrorKind, string> = {
  rate_limit: 'rate_limit_error',
  // As Anthropic answers a reached spend limit itself (a 429 rate_limit_error); the message names it.
  quota: 'rate_limit_error',
  overloaded: 'overloaded_error',
  bad_gateway: 'api_error',
  timeout: 'timeout_error',
  too_large: 'request_too_large',
  unavailable: 'api_error',
  not_found: 'not_found_error',
  bad_request: 'invalid_request_error',
};

const OPENAI_ERROR: Record<LocalErrorKind, { type: string; code: string }> = {
  rate_limit: { type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' },
  quota: { type: 'insufficient_quota', code: 'insufficient_quota' },
  overloaded: { type: 'server_error', code: 'server_overloaded' },
  bad_gateway: { type: 'server_error', code: 'bad_gateway' },
  timeout: { type: 'server_error', code: 'timeout' },
  too_large: { type: 'invalid_request_error', code: 'request_too_large' },
  unavailable: { type: 'server_error', code: 'service_unavailable' },
  not_found: { type: 'invalid_request_error', code: 'not_found' },
  bad_request: { type: 'invalid_request_error', code: 'invalid_request' },
};

export function localErrorBody(provider: ProviderName, kind: LocalErrorKind, message: string): string {
  switch (provider) {
    case 'anthropic':
      return JSON.stringify({ type: 'error', error: { type: ANTHROPIC_ERROR_TYPE[kind], message } });
    case 'openai': {
      const { type, code } = OPENAI_ERROR[kind];
      return JSON.stringify({ error: { message, type, param: null, code } });
    }
    case 'generic':
      return JSON.stringify({ error: { type: kind, message } });
  }
}

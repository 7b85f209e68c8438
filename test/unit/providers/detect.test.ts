import { describe, expect, it } from 'vitest';
import { chooseProvider, providerOfHost, type RequestShape } from '../../../src/proxy/providers/detect.js';

const localhost = new URL('http://127.0.0.1:8080');
const shape = (path: string, headers: RequestShape['headers'] = {}): RequestShape => ({ path, headers });

describe('providerOfHost', () => {
  it('recognises the Anthropic and OpenAI API hosts', () => {
    expect(providerOfHost(new URL('https://api.anthropic.com'))).toBe('anthropic');
    expect(providerOfHost(new URL('https://api.openai.com/v1'))).toBe('openai');
    expect(providerOfHost(new URL('https://API.OpenAI.com./v1'))).toBe('openai');
  });

  it('treats any other host as generic, including look-alike domains', () => {
    expect(providerOfHost(localhost)).toBe('generic');
    expect(providerOfHost(new URL('https://notanthropic.com'))).toBe('generic');
    expect(providerOfHost(new URL('https://anthropic.com.example.org'))).toBe('generic');
  });
});

describe('chooseProvider in auto', () => {
  it('tells each API from its path, on any host', () => {
    expect(chooseProvider(shape('/v1/messages'), localhost, 'auto')).toEqual({ provider: 'anthropic', endpoint: 'generation' });
    expect(chooseProvider(shape('/v1/messages/count_tokens'), localhost, 'auto')).toEqual({ provider: 'anthropic', endpoint: 'no-tokens' });
    expect(chooseProvider(shape('/v1/chat/completions'), localhost, 'auto')).toEqual({ provider: 'openai', endpoint: 'generation' });
    expect(chooseProvider(shape('/v1/completions'), localhost, 'auto')).toEqual({ provider: 'openai', endpoint: 'generation' });
    expect(chooseProvider(shape('/v1/responses'), localhost, 'auto')).toEqual({ provider: 'openai', endpoint: 'generation' });
    expect(chooseProvider(shape('/v1/embeddings'), localhost, 'auto')).toEqual({ provider: 'openai', endpoint: 'embedding' });
  });

  it('goes by the path before the host: an OpenAI-shaped request to Anthropic is read as OpenAI', () => {
    expect(chooseProvider(shape('/v1/chat/completions'), new URL('https://api.anthropic.com'), 'auto').provider).toBe('openai');
    expect(chooseProvider(shape('/v1/messages'), new URL('https://api.openai.com'), 'auto').provider).toBe('anthropic');
  });

  it('recognises a gateway’s prefix, a base URL without /v1, and a trailing slash', () => {
    expect(chooseProvider(shape('/openai/deployments/gpt4o/chat/completions'), localhost, 'auto').provider).toBe('openai');
    expect(chooseProvider(shape('/chat/completions'), localhost, 'auto').provider).toBe('openai');
    expect(chooseProvider(shape('/anthropic/v1/messages/'), localhost, 'auto').provider).toBe('anthropic');
  });

  it('does not take the OpenAI Assistants thread messages for Anthropic’s Messages API', () => {
    expect(chooseProvider(shape('/v1/threads/thread_1/messages', { authorization: 'Bearer sk-x' }), localhost, 'auto').provider).toBe(
      'generic',
    );
    expect(chooseProvider(shape('/v1/threads/thread_1/messages'), new URL('https://api.openai.com'), 'auto').provider).toBe('openai');
  });

  it('tells the shared model list apart by its headers', () => {
    expect(chooseProvider(shape('/v1/models', { 'anthropic-version': '2023-06-01', 'x-api-key': 'k' }), localhost, 'auto')).toEqual({
      provider: 'anthropic',
      endpoint: 'no-tokens',
    });
    expect(chooseProvider(shape('/v1/models', { 'x-api-key': 'k' }), localhost, 'auto').provider).toBe('anthropic');
    expect(chooseProvider(shape('/v1/models/gpt-4o', { authorization: 'Bearer sk-x' }), localhost, 'auto').provider).toBe('openai');
    expect(chooseProvider(shape('/v1/models', {}), new URL('https://api.openai.com'), 'auto').provider).toBe('openai');
    expect(chooseProvider(shape('/v1/models', {}), localhost, 'auto').provider).toBe('generic');
  });

  it('on a path no API claims, goes by anthropic-version, then the host; a bearer token alone says nothing', () => {
    expect(chooseProvider(shape('/v1/files', { 'anthropic-version': '2023-06-01' }), localhost, 'auto').provider).toBe('anthropic');
    expect(chooseProvider(shape('/search', { authorization: 'Bearer t' }), localhost, 'auto')).toEqual({
      provider: 'generic',
      endpoint: 'generation',
    });
    expect(chooseProvider(shape('/v1/files'), new URL('https://api.anthropic.com'), 'auto').provider).toBe('anthropic');
  });
});

describe('chooseProvider with a configured provider', () => {
  it('obeys it whatever the path, headers or host, and still tells what the request spends', () => {
    expect(chooseProvider(shape('/v1/chat/completions'), new URL('https://api.openai.com'), 'anthropic')).toEqual({
      provider: 'anthropic',
      endpoint: 'generation',
    });
    expect(
      chooseProvider(shape('/v1/messages', { 'anthropic-version': '2023-06-01' }), new URL('https://api.anthropic.com'), 'generic')
        .provider,
    ).toBe('generic');
    expect(chooseProvider(shape('/v1/embeddings'), localhost, 'openai')).toEqual({ provider: 'openai', endpoint: 'embedding' });
  });
});

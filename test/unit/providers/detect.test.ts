import { describe, expect, it } from 'vitest';
import { detectProvider } from '../../../src/proxy/providers/detect.js';

describe('detectProvider', () => {
  it('recognises the Anthropic and OpenAI API hosts', () => {
    expect(detectProvider(new URL('https://api.anthropic.com'), 'auto')).toBe('anthropic');
    expect(detectProvider(new URL('https://api.openai.com/v1'), 'auto')).toBe('openai');
    expect(detectProvider(new URL('https://API.OpenAI.com./v1'), 'auto')).toBe('openai');
  });

  it('treats any other host as generic, including look-alike domains', () => {
    expect(detectProvider(new URL('http://127.0.0.1:8080'), 'auto')).toBe('generic');
    expect(detectProvider(new URL('https://notanthropic.com'), 'auto')).toBe('generic');
    expect(detectProvider(new URL('https://anthropic.com.example.org'), 'auto')).toBe('generic');
  });

  it('obeys an explicit configuration whatever the host', () => {
    expect(detectProvider(new URL('http://127.0.0.1:8080'), 'anthropic')).toBe('anthropic');
    expect(detectProvider(new URL('https://api.anthropic.com'), 'generic')).toBe('generic');
  });
});

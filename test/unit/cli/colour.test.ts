import { describe, expect, it } from 'vitest';
import { colourWanted } from '../../../src/cli/colour.js';

describe('colourWanted', () => {
  it('colours a terminal and nothing else by default', () => {
    expect(colourWanted({}, true)).toBe(true);
    expect(colourWanted({}, false)).toBe(false);
    expect(colourWanted({ TERM: 'dumb' }, true)).toBe(false);
  });

  it('turns colours off for NO_COLOR, even when FORCE_COLOR asks for them', () => {
    expect(colourWanted({ NO_COLOR: '1' }, true)).toBe(false);
    expect(colourWanted({ NO_COLOR: '1', FORCE_COLOR: '1' }, false)).toBe(false);
    // An empty NO_COLOR does not count (no-color.org).
    expect(colourWanted({ NO_COLOR: '' }, true)).toBe(true);
  });

  it('turns colours on for FORCE_COLOR, off for FORCE_COLOR=0', () => {
    expect(colourWanted({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(colourWanted({ FORCE_COLOR: '' }, false)).toBe(true);
    expect(colourWanted({ FORCE_COLOR: '0' }, true)).toBe(false);
  });
});

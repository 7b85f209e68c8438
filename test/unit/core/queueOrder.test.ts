import { describe, expect, it } from 'vitest';
import { FairOrder, nextInLine, type QueuedRequest } from '../../../src/core/queueOrder.js';

interface Entry extends QueuedRequest {
  name: string;
}

/** Serves everyone in `entries` in the order FairOrder picks; new arrivals join after each turn as `arrive` says. */
function serveAll(order: FairOrder<Entry>, waiting: Entry[], arrive: (served: Entry, turn: number) => Entry[] = () => []): string[] {
  const served: string[] = [];
  for (let turn = 0; waiting.length > 0; turn++) {
    const head = order.head(waiting) as Entry;
    waiting.splice(waiting.indexOf(head), 1);
    order.served(head, waiting);
    served.push(head.name);
    waiting.push(...arrive(head, turn));
  }
  return served;
}

function entries(order: FairOrder<Entry>, session: string, count: number, priority: 'interactive' | 'batch' = 'interactive'): Entry[] {
  return Array.from({ length: count }, (_, i) => ({ session, priority, seq: order.nextSeq(), name: `${session}${i + 1}` }));
}

describe('the fair queue order (round-robin by session, interactive before batch)', () => {
  it('nobody waits: nothing to serve', () => {
    expect(nextInLine([], { lastServed: new Map(), interactiveSinceBatch: 0 })).toBe(-1);
  });

  it('a burst from one session delays each other session by at most one of its requests', () => {
    const order = new FairOrder<Entry>();
    const waiting = [...entries(order, 'flood', 5), ...entries(order, 'b', 2), ...entries(order, 'c', 1)];
    expect(serveAll(order, waiting)).toEqual(['flood1', 'b1', 'c1', 'flood2', 'b2', 'flood3', 'flood4', 'flood5']);
  });

  it('a light session that sends one request at a time goes next after at most one flood request', () => {
    const order = new FairOrder<Entry>();
    const waiting = [...entries(order, 'flood', 6), ...entries(order, 'light', 1)];
    let sent = 1;
    const served = serveAll(order, waiting, (head) =>
      head.session === 'light' && sent < 3
        ? [{ session: 'light', priority: 'interactive', seq: order.nextSeq(), name: `light${++sent}` }]
        : [],
    );
    expect(served).toEqual(['flood1', 'light1', 'flood2', 'light2', 'flood3', 'light3', 'flood4', 'flood5', 'flood6']);
  });

  it('within a session, arrival order', () => {
    const order = new FairOrder<Entry>();
    expect(serveAll(order, entries(order, 'a', 3))).toEqual(['a1', 'a2', 'a3']);
  });

  it('batch yields to interactive, but gets one turn after every four interactive ones', () => {
    const order = new FairOrder<Entry>();
    const waiting = [...entries(order, 'batch', 3, 'batch'), ...entries(order, 'i', 9)];
    expect(serveAll(order, waiting)).toEqual(['i1', 'i2', 'i3', 'i4', 'batch1', 'i5', 'i6', 'i7', 'i8', 'batch2', 'i9', 'batch3']);
  });

  it('the chosen head stays chosen until served or gone: a large request is not overtaken by a newcomer', () => {
    const order = new FairOrder<Entry>();
    const [large] = entries(order, 'big', 1) as [Entry];
    const waiting = [large];
    expect(order.head(waiting)).toBe(large);
    // It does not fit yet; meanwhile a session never served arrives.
    waiting.push(...entries(order, 'newcomer', 1));
    expect(order.head(waiting)).toBe(large);
    expect(order.left(large)).toBe(true);
    waiting.splice(0, 1);
    expect(order.head(waiting)?.name).toBe('newcomer1');
  });
});

/**
 * `compute`, remembering up to `limit` answers: for values asked again and again on the request
 * path (a fleet's few keys and models). When full it starts over, so that a caller cycling
 * through inputs cannot grow it; `compute` must be pure.
 */
export function remembered<V>(limit: number, compute: (input: string) => V): (input: string) => V {
  const known = new Map<string, V>();
  return (input) => {
    if (known.has(input)) return known.get(input) as V;
    if (known.size >= limit) known.clear();
    const value = compute(input);
    known.set(input, value);
    return value;
  };
}

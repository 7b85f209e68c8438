/** Milliseconds since the epoch; injected so that tests and replays control time. */
export type Clock = () => number;

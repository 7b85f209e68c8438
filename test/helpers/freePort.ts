export { freeLoopbackPort } from '../../src/kernel/loopbackPort.js';

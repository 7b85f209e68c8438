// A stand-in for the proxy worker, for supervisor tests: it honours the worker contract (accept
// on the listening socket the supervisor hands over and on the connections it passes on, an IPC
// `ready` message with the URL, GET /_ratewarden/health, stop on SIGTERM or when the channel
// closes) or breaks it on purpose.
//
//   node standInWorker.mjs STARTS_FILE BEHAVIOUR [BEHAVIOUR ...]
//
// Start number n (counted in STARTS_FILE) takes the n-th behaviour, the last one repeating:
//   exit:N             exit with status N at once, before being ready (a crash at start-up)
//   ready-exit:N:MS    be ready, then exit with status N after MS milliseconds
//   serve              be ready and healthy until stopped
//   failing-closed     be ready, and answer health 503 (alive, but its store cannot be written)
//   never-ready        stay alive, never report ready
//   hang:MS            be ready, then after MS milliseconds block forever (health stops answering)
//   ignore-sigterm     be ready and healthy, and ignore SIGTERM
//   slow-ready:MS      wait MS milliseconds after the socket arrives, then serve
//   stop:MS            be ready, then after MS milliseconds stop itself with SIGSTOP (a hung process)
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [startsFile, ...plan] = process.argv.slice(2);
appendFileSync(startsFile, `${process.pid}\n`);
const startNumber = readFileSync(startsFile, 'utf8').trim().split('\n').length;
const behaviour = plan[Math.min(startNumber, plan.length) - 1];
const [name, first, second] = behaviour.split(':');

console.log(`stand-in start ${startNumber}: ${behaviour}`);
console.error(`stand-in stderr ${startNumber}`);

if (name === 'exit') process.exit(Number(first));

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close();
  process.exit(0);
};
process.on('SIGTERM', name === 'ignore-sigterm' ? () => console.log('stand-in ignores SIGTERM') : stop);
process.on('disconnect', stop);

const server = createServer((request, response) => {
  const health = name === 'failing-closed' ? 503 : 200;
  response.writeHead(request.url === '/_ratewarden/health' ? health : 404, {
    'content-type': 'application/json',
    'x-stand-in-pid': String(process.pid),
  });
  response.end(health === 200 ? '{"ok":true}' : '{"status":"unavailable"}');
});

// As the real worker does: what comes before it serves waits, and is served once it listens.
let serving = false;
const early = [];
function adopt(socket) {
  if (!serving) {
    early.push(socket);
    return;
  }
  server.emit('connection', socket);
  socket.resume();
}

const handedSocket = new Promise((resolve) => {
  process.on('message', (message, handle) => {
    if (message.type === 'listen') {
      // Node accepts on the handed socket at once: those connections are ours too.
      handle.on('connection', adopt);
      resolve({ url: message.url, handle });
    }
    if (message.type === 'connection') {
      // As the real worker does: say it is ours before reading a byte.
      if (typeof message.id === 'number') process.send({ type: 'connection-taken', id: message.id });
      adopt(handle);
    }
  });
  process.send({ type: 'socket-wanted' });
});

if (name === 'never-ready') {
  setInterval(() => undefined, 60_000);
} else {
  const { url, handle } = await handedSocket;
  if (name === 'slow-ready') await new Promise((resolve) => setTimeout(resolve, Number(first)));
  server.listen(handle, () => {
    serving = true;
    for (const socket of early.splice(0)) adopt(socket);
    process.send({ type: 'ready', url, pid: process.pid });
    if (name === 'ready-exit') setTimeout(() => process.exit(Number(first)), Number(second));
    if (name === 'stop') setTimeout(() => process.kill(process.pid, 'SIGSTOP'), Number(first));
    if (name === 'hang') {
      setTimeout(() => {
        for (;;);
      }, Number(first));
    }
  });
}

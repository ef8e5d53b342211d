// A stand-in for the open worker's thread (src/open-worker-thread.ts) that fails once: the
// first thread it runs in says it is ready, then throws on its first batch of opens (an
// uncaught error, as a bug would); every later thread runs the real one. "Once" is a marker
// file named by POSTBUS_TEST_CRASH_MARKER, which the test sets and removes.
import { existsSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

const marker = process.env.POSTBUS_TEST_CRASH_MARKER;
if (marker && !existsSync(marker)) {
  writeFileSync(marker, '');
  parentPort.postMessage({ t: 'ready' });
  parentPort.on('message', (m) => {
    if (m.t === 'opens') throw new Error('open worker test crash');
  });
} else {
  await import('../dist/open-worker-thread.js');
}

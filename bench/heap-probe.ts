/**
 * Loaded into a server under test by bench/memory.ts (`node --expose-gc -r bench/dist/bench/heap-probe.js`):
 * a second listener on HEAP_PROBE_PORT answers with the heap after a full garbage collection.
 */
import { createServer } from 'node:http';

const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('heap-probe needs node --expose-gc');

createServer((_req, res) => {
  collect();
  collect();
  const { heapUsed, rss, external } = process.memoryUsage();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ heapUsed, rss, external }));
})
  .listen(Number(process.env.HEAP_PROBE_PORT), '127.0.0.1')
  .unref();

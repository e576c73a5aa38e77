// A fetch-style app (Hono): anything with fetch(request) -> Response.
//   chaussette examples/hono.mjs
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.json({ app: 'hono' }));
app.get('/stream', (c) => c.body(new ReadableStream({
  start(controller) {
    controller.enqueue(new TextEncoder().encode('chunk 1\n'));
    controller.enqueue(new TextEncoder().encode('chunk 2\n'));
    controller.close();
  },
})));

export default app;

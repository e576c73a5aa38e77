// A Fastify instance, not listening: chaussette awaits ready() and routes to it.
//   chaussette examples/fastify.mjs
import Fastify from 'fastify';

const app = Fastify();
app.get('/', async () => ({ app: 'fastify' }));
app.post('/echo', async (request) => ({ app: 'fastify', echo: request.body }));

export default app;

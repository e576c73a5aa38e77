// bench/spread.mjs's baseline: a bare node:http server answering its pid, on
// the listening socket inherited at fd 3, as each of N processes sharing it.
import { createServer } from 'node:http';
import pid from './pid-app.mjs';

const server = createServer({ keepAliveTimeout: 65_000 }, pid);
server.listen({ fd: 3 }, 4096);
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
});

// Your own entry point, with chaussette as a library: `node examples/programmatic.mjs`.
// serve() does what the command does: it takes the sockets systemd (LISTEN_FDS),
// Circus or Supervisor handed over, or binds localhost:8080 (or PORT); it tells
// systemd READY=1 once they accept, feeds the watchdog, and drains on SIGTERM.
import { serve } from 'chaussette';
import express from 'express';

const app = express();
app.get('/', (req, res) => res.json({ app: 'programmatic', pid: process.pid }));

// Resources of your own live beside the server and close after it.
const cache = new Map([['started', new Date().toISOString()]]);
app.get('/started', (req, res) => res.json({ started: cache.get('started') }));

const serving = await serve(app, process.env.PORT ? { host: '127.0.0.1', port: Number(process.env.PORT) } : {});
console.log(`serving on ${serving.listeners.map((listener) => listener.address).join(', ')}`);

// After SIGTERM (or serving.stop()): every request in flight has been answered.
const { elapsedMs } = await serving.stopped;
cache.clear();
console.log(`stopped after a ${elapsedMs} ms drain; cache cleared`);

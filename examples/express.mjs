// An Express app, exported as is.
//   chaussette examples/express.mjs
import express from 'express';

const app = express();
app.get('/', (_req, res) => res.json({ app: 'express' }));
app.get('/hello/:name', (req, res) => res.json({ app: 'express', hello: req.params.name }));

export default app;

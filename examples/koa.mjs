// A Koa app, exported as is: chaussette serves app.callback().
//   chaussette examples/koa.mjs
import Koa from 'koa';

const app = new Koa();
app.use(async (ctx) => {
  ctx.body = { app: 'koa', path: ctx.path };
});

export default app;

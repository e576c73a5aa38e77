// A factory (CommonJS this time): called with the arguments after the app
// spec, it returns the app to serve. Factories may be async.
//   chaussette examples/factory.cjs:createApp Bonjour
exports.createApp = async function createApp(args) {
  const greeting = args[0] ?? 'Hello';
  return (req, res) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(`${greeting} from a factory\n`);
  };
};

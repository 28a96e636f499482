#!/usr/bin/env node
// Launcher committed with its executable bit, so npm links the command at install time, before a build.
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    process.stderr.write(
      'sip-pubsub: not built yet; run "npm run build" (or "npm start") in the repository first\n',
    );
    process.exit(1);
  }
  throw err;
});

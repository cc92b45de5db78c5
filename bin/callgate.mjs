#!/usr/bin/env node
// The `callgate` command; needs Node >= 22.18 (type stripping). `npm run callgate --` brings its own Node.
await import('../src/cli/main.ts');

// A CommonJS TypeScript file: `import = require()` of the ES module type-checks under
// `module: nodenext` (TypeScript 5.8 and later, as Node's require of ESM runs); under
// `module: node16` TypeScript refuses it (TS1471), which the README says.
import supervisor = require('ws-supervisor');
import client = require('ws-supervisor/client');

const made: supervisor.Supervisor = supervisor.createSupervisor({ authenticate: () => 'user' });
const connect: typeof client.createClient = client.createClient;
console.log(made.stats().counters, typeof connect);

// A CommonJS TypeScript file that imports the ES module with `import { … } from`: under
// `module: nodenext` it compiles to require() (TypeScript 5.8 and later), but not with
// `verbatimModuleSyntax` (on in the tsconfig `tsc --init` writes), which allows only
// `import x = require()` in a CommonJS file (TS1286 here), as the README says.
import { createSupervisor } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';

const made = createSupervisor({ authenticate: () => 'user' });
console.log(made.stats().counters, typeof createClient);

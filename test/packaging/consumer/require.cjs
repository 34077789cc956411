// CommonJS: require() of the ES module (Node ^20.19.0 || >=22.12.0, the engines range).
const { createSupervisor, ErrorCodes } = require('ws-supervisor');
console.log(
  JSON.stringify({ createSupervisor: typeof createSupervisor, codes: Object.keys(ErrorCodes).length }),
);

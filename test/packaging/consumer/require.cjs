// CommonJS: require() of the ES module (Node ^20.19.0 || >=22.12.0, the engines range),
// every subpath of the "exports" map.
const manifest = require('ws-supervisor/package.json');
const subpaths = {};
for (const subpath of Object.keys(manifest.exports)) {
  subpaths[subpath] = Object.keys(require(`ws-supervisor${subpath.slice(1)}`)).sort();
}
const { createSupervisor, ErrorCodes } = require('ws-supervisor');
console.log(
  JSON.stringify({
    createSupervisor: typeof createSupervisor,
    codes: Object.keys(ErrorCodes).length,
    subpaths,
  }),
);

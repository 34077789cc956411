/**
 * Where a stack frame's code lives, named the same way by every summary in
 * bench/ (the CPU profile summary and the allocation sampler): a package
 * under node_modules, a file of ours under dist/, node internals, or V8.
 */
export function codeArea(url: string): string {
  if (url === '') return '(vm / gc / native)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 13).split('/')[0] ?? url;
  if (url.startsWith('node:')) return 'node internals';
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 6) : url;
}

/** The same, folded into the few groups a reader compares: ours, each library, node. */
export function codeGroup(url: string): string {
  const area = codeArea(url);
  if (/^(src|machines|examples|bench)\//.test(area)) return 'ws-supervisor';
  if (/^(socket\.io|engine\.io|base64id)/.test(area)) return 'socket.io';
  return area;
}

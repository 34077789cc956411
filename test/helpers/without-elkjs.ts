/**
 * src/optional-peer.js as it behaves where the optional peer elkjs is not installed: for a
 * `vi.mock` of that module (its factory imports this, since vi.mock is hoisted above imports).
 * Only elkjs's import fails, the way Node fails it; every other peer loads as usual.
 */
type OptionalPeerModule = typeof import('../../src/optional-peer.js');

export async function optionalPeerWithoutElkjs(
  importOriginal: <T>() => Promise<T>,
): Promise<OptionalPeerModule> {
  const original = await importOriginal<OptionalPeerModule>();
  const notFound = () =>
    Promise.reject(Object.assign(new Error("Cannot find package 'elkjs'"), { code: 'ERR_MODULE_NOT_FOUND' }));
  return {
    ...original,
    importOptionalPeer: <T>(peer: string, specifier: string, feature: string) =>
      peer === 'elkjs'
        ? original.importOptionalPeer<T>(peer, specifier, feature, notFound)
        : original.importOptionalPeer<T>(peer, specifier, feature),
  };
}

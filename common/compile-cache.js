/**
 * Node's on-disk compile cache for every module a program of ours loads. The npm scripts preload
 * this module (`node --import ./common/compile-cache.js …`), so it runs before the program's own
 * modules are read. It is the project's one JavaScript module on purpose: Node caches our
 * TypeScript after stripping its types, so a start whose modules are all cached never loads the
 * stripper (about 0.13 CPU-s), but a TypeScript preload, read before the cache is on, loaded it
 * in every process (each of the ~90 test files `npm test` starts, until 2026-12-06). A program
 * that runs TypeScript as it is (a test file, the bench, the load test) reads some hundreds of
 * modules, libp2p's and ours, and compiling them is about a third of its start's CPU, the same
 * work at every start. (The peer and the rendezvous run as bundles, build/bundle.ts, and do not
 * need it: one file has little to resolve or strip.)
 *
 * The cache is kept in the project's own `node_modules/.cache`, not in the shared temp folder
 * Node uses by default: compiled code that other users of the machine could write would be code
 * they could put into a peer. Node checks each entry against its source and compiles afresh
 * what changed, and where the folder cannot be written the program runs as before, uncached.
 * The processes a program starts (a test's peers and rendezvous, the load test's workers) find
 * the cache through the environment, as Node documents (NODE_COMPILE_CACHE).
 */
import { constants, enableCompileCache } from 'node:module'
import { fileURLToPath } from 'node:url'

const CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/parley-compile', import.meta.url))

const { status, directory } = enableCompileCache(CACHE_DIR)
if ((status === constants.compileCacheStatus.ENABLED || status === constants.compileCacheStatus.ALREADY_ENABLED) && directory !== undefined) {
  process.env.NODE_COMPILE_CACHE ??= directory
}

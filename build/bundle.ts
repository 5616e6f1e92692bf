/**
 * The two programs, each as one file: esbuild bundles peer/main.ts and rendezvous/main.ts with
 * every module they import, ours and node_modules' (as patch-package left them), into
 * dist/peer.mjs and dist/rendezvous.mjs. Nothing is minified or renamed: it is the same code.
 *
 * Why: run from its sources, a start resolves, reads and links some 580 modules, and loads
 * Node's TypeScript stripper for ours; on the README's machine that was 0.74 CPU-s and 0.63 s
 * before a peer could take its first command (0.92 CPU-s for the rendezvous), and one file is
 * 0.28 CPU-s and 0.27 s (0.29 for the rendezvous). Every peer a person or a test starts pays it.
 *
 * `npm run peer`, `npm start` and `npm run rendezvous` build first when a source changed since
 * the last build (`--if-stale`, package.json's pre-scripts), and so does whatever starts the
 * programs from harness/processes.ts (tests, benchmark, demo, load test), so nothing runs a
 * bundle older than its sources. A build writes each file under a temporary name and renames it,
 * so processes that build at the same moment never see half a file.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const DIST = `${ROOT}dist/`
/** What a build read, and when it started: an input changed after that start makes it stale. */
const MANIFEST = 'dist/inputs.json'

/** The programs: the bundle each entry point becomes. */
export const BUNDLES = {
  peer: { entry: 'peer/main.ts', out: 'dist/peer.mjs' },
  rendezvous: { entry: 'rendezvous/main.ts', out: 'dist/rendezvous.mjs' }
} as const

interface Manifest { startedAt: number, inputs: string[] }

/** A few of the dependencies are CommonJS and `require` Node's modules (mDNS's dgram, say);
 * in an ES module `require` has to be made. */
const REQUIRE_SHIM = "import { createRequire as parleyCreateRequire } from 'node:module'; const require = parleyCreateRequire(import.meta.url);"

/** Bundle both programs into dist/; resolves once both files and the manifest are in place. */
export async function buildBundles (): Promise<void> {
  const startedAt = Date.now()
  // Loaded only to build: every test file that starts a program checks the bundles first, and
  // esbuild's API costs ~30 ms of CPU to load where the check itself is a few ms of stats.
  const { build } = await import('esbuild')
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(BUNDLES).map(([name, { entry }]) => [name, entry])),
    outdir: DIST,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    banner: { js: REQUIRE_SHIM },
    metafile: true,
    write: false,
    logLevel: 'warning'
  })
  mkdirSync(DIST, { recursive: true })
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents)
  // This file is an input too: a change to how the bundles are made makes them stale.
  const inputs = [...Object.keys(result.metafile.inputs), 'build/bundle.ts']
  writeAtomically(`${ROOT}${MANIFEST}`, JSON.stringify({ startedAt, inputs } satisfies Manifest))
}

/** How far a file's change time may lag the clock the build's start was read from. */
const FILE_CLOCK_SLACK_MS = 25

/** True when a bundle is missing or any file the last build read changed after it started
 * (a source edited, a dependency installed or patched), or is gone. A stat per input: a few ms.
 * By the inode's change time, not the modification time: npm unpacks a package with the
 * modification times its tarball holds (often 1985), so an upgraded dependency's files would look
 * older than the bundle; any write, unpacking or rename sets the change time to now. `root` is
 * the project's folder (another only in a test). */
export function bundlesAreStale (root = ROOT): boolean {
  // A file's times come from the kernel's coarse clock, which lags the one Date.now reads by up
  // to a tick (4 ms at HZ=250, 10 at HZ=100): a file changed just after the build started could
  // carry a time just before it (the unit test saw it, once in a full run). So a change within
  // the slack before the start counts as after it: the next start builds once more, no more.
  let manifest: Manifest
  try {
    manifest = JSON.parse(readFileSync(`${root}${MANIFEST}`, 'utf8')) as Manifest
    for (const { out } of Object.values(BUNDLES)) statSync(`${root}${out}`)
  } catch {
    return true
  }
  return manifest.inputs.some(input => {
    try {
      return statSync(`${root}${input}`).ctimeMs > manifest.startedAt - FILE_CLOCK_SLACK_MS
    } catch {
      return true
    }
  })
}

/** Build when stale; what npm's pre-scripts and the harness call. */
export async function ensureBundles (): Promise<void> {
  if (bundlesAreStale()) await buildBundles()
}

function writeAtomically (path: string, contents: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, contents)
  renameSync(temporary, path)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale')) await ensureBundles()
  else await buildBundles()
}

/**
 * build/bundle.ts: when the programs' bundles count as stale (so `npm run peer` and the harness
 * rebuild them), on a made-up project folder; and the real build's record of what it read.
 */
import assert from 'node:assert/strict'
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { BUNDLES, bundlesAreStale, ensureBundles } from '../../../build/bundle.ts'
import { tempDir } from '../../../harness/temp.ts'

let root: string
const startedAt = Date.now() - 60_000

before(async () => {
  root = `${await tempDir('parley-bundle-')}/`
  await mkdir(join(root, 'dist'))
  await mkdir(join(root, 'peer'))
  for (const { out } of Object.values(BUNDLES)) await writeFile(join(root, out), '// bundle')
  await writeFile(join(root, 'peer/main.ts'), '// source')
  await writeFile(join(root, 'dist/inputs.json'), JSON.stringify({ startedAt, inputs: ['peer/main.ts'] }))
  const before = new Date(startedAt - 1_000)
  await utimes(join(root, 'peer/main.ts'), before, before)
})

after(async () => { await rm(root, { recursive: true, force: true }) })

test('bundles built after their inputs last changed are current', () => {
  assert.equal(bundlesAreStale(root), false)
})

test('an input changed after the build started makes them stale', async () => {
  const later = new Date(startedAt + 1_000)
  await utimes(join(root, 'peer/main.ts'), later, later)
  assert.equal(bundlesAreStale(root), true)
  const earlier = new Date(startedAt - 1_000)
  await utimes(join(root, 'peer/main.ts'), earlier, earlier)
  assert.equal(bundlesAreStale(root), false)
})

test('an input that is gone, a bundle that is gone or no record of the build makes them stale', async () => {
  await rm(join(root, 'peer/main.ts'))
  assert.equal(bundlesAreStale(root), true)
  await writeFile(join(root, 'peer/main.ts'), '// source')
  const earlier = new Date(startedAt - 1_000)
  await utimes(join(root, 'peer/main.ts'), earlier, earlier)

  await rm(join(root, BUNDLES.rendezvous.out))
  assert.equal(bundlesAreStale(root), true)
  await writeFile(join(root, BUNDLES.rendezvous.out), '// bundle')

  await writeFile(join(root, 'dist/inputs.json'), '{ not json')
  assert.equal(bundlesAreStale(root), true)
  await rm(join(root, 'dist/inputs.json'))
  assert.equal(bundlesAreStale(root), true)
})

test('the real build records our sources, the dependencies it bundled and itself as its inputs', async () => {
  await ensureBundles()
  assert.equal(bundlesAreStale(), false)
  const { inputs } = JSON.parse(await readFile(new URL('../../../dist/inputs.json', import.meta.url), 'utf8')) as { inputs: string[] }
  for (const input of ['peer/main.ts', 'rendezvous/main.ts', 'common/node.ts', 'build/bundle.ts']) assert.ok(inputs.includes(input), input)
  assert.ok(inputs.some(input => input.startsWith('node_modules/libp2p/')), 'libp2p is bundled, not loaded from node_modules at run time')
})

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

/** Record a build that started now: every input as it is counts as read by it (changed more
 * than bundle.ts's 25 ms of clock slack before). */
async function built (): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, 40))
  await writeFile(join(root, 'dist/inputs.json'), JSON.stringify({ startedAt: Date.now(), inputs: ['peer/main.ts'] }))
  await new Promise(resolve => setTimeout(resolve, 5))
}

before(async () => {
  root = `${await tempDir('parley-bundle-')}/`
  await mkdir(join(root, 'dist'))
  await mkdir(join(root, 'peer'))
  for (const { out } of Object.values(BUNDLES)) await writeFile(join(root, out), '// bundle')
  await writeFile(join(root, 'peer/main.ts'), '// source')
})

after(async () => { await rm(root, { recursive: true, force: true }) })

test('bundles built after their inputs last changed are current', async () => {
  await built()
  assert.equal(bundlesAreStale(root), false)
})

test('an input changed after the build started makes them stale, whatever modification time it carries', async () => {
  await built()
  await writeFile(join(root, 'peer/main.ts'), '// edited')
  assert.equal(bundlesAreStale(root), true)
  await built()
  assert.equal(bundlesAreStale(root), false)
  // npm unpacks a package with its tarball's times: an upgraded dependency looks decades old.
  const packed = new Date('1985-10-26T08:15:00Z')
  await writeFile(join(root, 'peer/main.ts'), '// upgraded')
  await utimes(join(root, 'peer/main.ts'), packed, packed)
  assert.equal(bundlesAreStale(root), true)
})

test('an input that is gone, a bundle that is gone or no record of the build makes them stale', async () => {
  await rm(join(root, 'peer/main.ts'))
  assert.equal(bundlesAreStale(root), true)
  await writeFile(join(root, 'peer/main.ts'), '// source')
  await built()
  assert.equal(bundlesAreStale(root), false)

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
